# Holding this policy makes a Vault token a permesi operator token (operator_vault_policy):
# `vault token create -policy=permesi-operators -ttl=15m`, then POST /v1/admin/claim or
# /v1/admin/elevate with it. permesi looks the token up with the token itself, which the default
# policy allows; this policy grants nothing else in Vault.
path "auth/token/lookup-self" {
  capabilities = ["read"]
}
