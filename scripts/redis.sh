#!/usr/bin/env bash
# Local Redis/Valkey (valkey-server preferred when on PATH).
#
#   scripts/redis.sh [--test] start|stop|status|cli [ARGS...]|cli-as USER [ARGS...]|url USER
#
# dev: 127.0.0.1:6379, files in .dev/redis   test: 127.0.0.1:6380, .dev/test/redis (no persistence)
# ACL users (config/valkey/users.acl): admin (cli), genesis (genesis:* keys), permesi (permesi:*
# keys); the default user is off. Dev passwords: .dev/redis/passwords (made once, 0600).
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

instance=dev
if [[ "${1:-}" == --test ]]; then
  instance="test"
  shift
fi
redis_instance "$instance"

cmd="${1:-status}"
shift || true
case "$cmd" in
  start) redis_start ;;
  stop) redis_stop ;;
  status) redis_status || true ;;
  cli) redis_cli "$@" ;;
  cli-as)
    user="${1:-}"
    shift || true
    redis_cli_as "$user" "$@"
    ;;
  url)
    case "${1:-}" in
      admin) echo "$REDIS_ADMIN_URL" ;;
      genesis | permesi) redis_service_url "$1" && echo ;;
      *) die "usage: scripts/redis.sh [--test] url admin|genesis|permesi" ;;
    esac
    ;;
  *) die "usage: scripts/redis.sh [--test] start|stop|status|cli [ARGS...]|cli-as USER [ARGS...]|url USER" ;;
esac
