# genesis: signs admission tokens through Transit; keeps its proof-of-work MAC key in KV v2.
# Mounts and names are the defaults (vault_transit_mount, vault_kv_mount, vault_kv_prefix,
# keys_signing_key); change them together with the settings.
path "transit/sign/genesis-admission" {
  capabilities = ["update"]
}
path "transit/keys/genesis-admission" {
  capabilities = ["read"]
}
path "secret/data/permesi/genesis/*" {
  capabilities = ["create", "read", "update"]
}
# Key rotation (`genesis keys rotate`) is an operator task: grant it to the operators' role,
# not to the service:
#   path "transit/keys/genesis-admission/rotate" { capabilities = ["update"] }
