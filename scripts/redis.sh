#!/usr/bin/env bash
# Local Redis/Valkey (valkey-server preferred when on PATH).
#
#   scripts/redis.sh [--test] start|stop|status|cli [ARGS...]
#
# dev: 127.0.0.1:6379, files in .dev/redis   test: 127.0.0.1:6380, .dev/test/redis (no persistence)
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
  cli) exec "$(redis_cli_bin)" -h 127.0.0.1 -p "$REDIS_PORT" "$@" ;;
  *) die "usage: scripts/redis.sh [--test] start|stop|status|cli [ARGS...]" ;;
esac
