#!/bin/sh
# compose: render the ACL file with the passwords from the environment, then start Valkey the
# way the image's entrypoint does (as the valkey user). Extra arguments go to valkey-server.
#   command: ["sh", "/usr/local/etc/valkey/start.sh", "--save", "60", "1000"]
set -eu
dir="$(cd "$(dirname "$0")" && pwd)"
acl_dir=/run/valkey
mkdir -p "$acl_dir"
sh "$dir/render-acl.sh" "$dir/users.acl" "$acl_dir/users.acl"
if [ "$(id -u)" = 0 ] && id valkey >/dev/null 2>&1; then
  chown -R valkey:valkey "$acl_dir"
fi
if command -v docker-entrypoint.sh >/dev/null 2>&1; then
  exec docker-entrypoint.sh valkey-server --aclfile "$acl_dir/users.acl" "$@"
fi
exec valkey-server --aclfile "$acl_dir/users.acl" "$@"
