#!/usr/bin/env bash
# Run one dev service in the foreground with the dev settings.
#
#   scripts/run-service.sh genesis|permesi [SUBCOMMAND...]   (default: serve)
#   scripts/run-service.sh web                               (scripts/web.sh serve)
#
# The services refuse to start on unknown GENESIS_* / PERMESI_* variables, so
# every inherited variable with those prefixes is dropped and only the known
# settings are set. Local overrides: .dev/<service>.env (KEY=VALUE lines).
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

name="${1:-}"
shift || true

case "$name" in
  genesis | permesi) ;;
  web)
    [[ -f "$ROOT/scripts/web.sh" ]] || die "scripts/web.sh not found: the console is not available yet"
    exec bash "$ROOT/scripts/web.sh" serve "$@"
    ;;
  *) die "usage: scripts/run-service.sh genesis|permesi [serve|migrate|openapi]  |  web" ;;
esac

haproxy="${PERMESI_HAPROXY:-}" # read before the prefixed variables are cleared
while IFS= read -r var; do
  unset "$var"
done < <(compgen -e | grep -E '^(GENESIS|PERMESI)_' || true)

pg_instance dev
redis_instance dev
case "$name" in
  genesis) prefix=GENESIS port=$GENESIS_PORT ;;
  permesi) prefix=PERMESI port=$PERMESI_PORT ;;
esac
mkdir -p "$KEYS_DIR/$name"
chmod 700 "$KEYS_DIR" "$KEYS_DIR/$name"

# The settings contract (see the services' src/config.rs). Add new ones here.
export "${prefix}_LISTEN=127.0.0.1:$port"
export "${prefix}_DATABASE_URL=$(pg_url "$name" "$name")"
# Its own Valkey ACL user: genesis:* or permesi:* keys only (config/valkey/users.acl).
export "${prefix}_REDIS_URL=$(redis_service_url "$name")"
export "${prefix}_KEYS_DIR=$KEYS_DIR/$name"
# Behind the dev TLS front (scripts/haproxy.sh, on loopback) the client address comes from its
# X-Forwarded-For, as in production; without it the TCP peer is the client.
if [[ "$haproxy" == 1 ]]; then export "${prefix}_TRUSTED_PROXIES=127.0.0.1/32"; fi
if [[ "$name" == permesi ]]; then
  # Admission tokens are verified offline against genesis's published keyset.
  export PERMESI_ADMISSION_PASERK_URL="http://127.0.0.1:$GENESIS_PORT/paserk.json"
  # Development mail: one .eml file per message (just signup-verify-url prints the newest link).
  export PERMESI_EMAIL_MAIL_DIR="$DEV_DIR/mail"
  export PERMESI_EMAIL_BASE_URL="http://localhost:$WEB_PORT"
  # Plain-HTTP localhost only: browsers drop Secure cookies there. Behind HAProxy (https) the
  # production default, Secure, applies.
  if [[ "$haproxy" != 1 ]]; then export PERMESI_SESSION_COOKIE_SECURE=false; fi
fi

if [[ -f "$DEV_DIR/$name.env" ]]; then
  set -a
  # shellcheck disable=SC1090
  source "$DEV_DIR/$name.env"
  set +a
fi

bin="$(bin_path "$name")"
[[ -x "$bin" ]] || die "$bin not built (run: cargo build -p genesis -p permesi)"
if (($# == 0)); then set -- serve; fi
exec "$bin" "$@"
