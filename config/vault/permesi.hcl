# permesi: encrypts personal data through Transit (chacha20-poly1305), signs OIDC tokens through
# Transit, keeps its seeds and MAC keys in KV v2 (OPAQUE seed, email blind-index key, audit chain
# key, client-secret key, passkey fake-credential key). Names are the defaults
# (keys_encryption_key, keys_signing_key, vault_kv_prefix).
path "transit/encrypt/permesi-data" {
  capabilities = ["update"]
}
path "transit/decrypt/permesi-data" {
  capabilities = ["update"]
}
path "transit/keys/permesi-data" {
  capabilities = ["read"]
}
path "transit/sign/permesi-oidc" {
  capabilities = ["update"]
}
path "transit/keys/permesi-oidc" {
  capabilities = ["read"]
}
path "secret/data/permesi/permesi/*" {
  capabilities = ["create", "read", "update"]
}
# permesi checks operator tokens by a self-lookup made with the presented token, so it needs no
# token-lookup privilege of its own.
