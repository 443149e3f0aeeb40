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
# ES256 and RS256 ID tokens, when PERMESI_VAULT_ES256_KEY / PERMESI_VAULT_RS256_KEY name these
# keys (vault write -f transit/keys/permesi-oidc-es256 type=ecdsa-p256;
#  vault write -f transit/keys/permesi-oidc-rs256 type=rsa-2048). Drop them if unused.
path "transit/sign/permesi-oidc-es256" {
  capabilities = ["update"]
}
path "transit/keys/permesi-oidc-es256" {
  capabilities = ["read"]
}
path "transit/sign/permesi-oidc-rs256" {
  capabilities = ["update"]
}
path "transit/keys/permesi-oidc-rs256" {
  capabilities = ["read"]
}
path "secret/data/permesi/permesi/*" {
  capabilities = ["create", "read", "update"]
}
# permesi checks operator tokens by a self-lookup made with the presented token, so it needs no
# token-lookup privilege of its own.
