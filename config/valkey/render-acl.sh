#!/bin/sh
# Render the ACL file: render-acl.sh TEMPLATE OUT
# Passwords come from the environment: VALKEY_PASSWORD_ADMIN, VALKEY_PASSWORD_GENESIS,
# VALKEY_PASSWORD_PERMESI (all required). OUT gets their SHA-256 only, mode 0600.
# POSIX sh: runs in the valkey image (compose) and in scripts/lib.sh.
set -eu
template="$1"
out="$2"

sha256() {
  if command -v sha256sum >/dev/null 2>&1; then
    printf '%s' "$1" | sha256sum | cut -d' ' -f1
  else
    printf '%s' "$1" | openssl dgst -sha256 -r | cut -d' ' -f1
  fi
}

for var in VALKEY_PASSWORD_ADMIN VALKEY_PASSWORD_GENESIS VALKEY_PASSWORD_PERMESI; do
  eval "value=\${$var:-}"
  if [ -z "$value" ]; then
    echo "render-acl.sh: $var is empty" >&2
    exit 1
  fi
done

tmp="$out.tmp.$$"
umask 077
sed -e '/^[[:space:]]*#/d' -e '/^[[:space:]]*$/d' \
  -e "s/@ADMIN_SHA256@/$(sha256 "$VALKEY_PASSWORD_ADMIN")/" \
  -e "s/@GENESIS_SHA256@/$(sha256 "$VALKEY_PASSWORD_GENESIS")/" \
  -e "s/@PERMESI_SHA256@/$(sha256 "$VALKEY_PASSWORD_PERMESI")/" \
  "$template" >"$tmp"
if grep -q '@[A-Z]*_SHA256@' "$tmp"; then
  rm -f "$tmp"
  echo "render-acl.sh: unknown placeholder left in $template" >&2
  exit 1
fi
mv -f "$tmp" "$out"
