#!/usr/bin/env bash
# Private PostgreSQL clusters for development and tests (unix sockets only).
#
#   scripts/pg.sh [--test] init|start|stop|status|destroy|url [ROLE [DB]]|psql [ARGS...]
#
# dev:  .dev/pg,      port 5432   test: .dev/test/pg, port 5433
# `start` initialises the cluster on first use and (re)applies db/sql/bootstrap.sql.
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

instance=dev
if [[ "${1:-}" == --test ]]; then
  instance="test"
  shift
fi
pg_instance "$instance"

cmd="${1:-status}"
shift || true
case "$cmd" in
  init)
    pg_init
    ok "cluster ($PG_NAME) initialised in $PG_DATA"
    ;;
  start) pg_start && ok "postgres ($PG_NAME): $(pg_url postgres postgres)" ;;
  stop) pg_stop ;;
  status) pg_status || true ;;
  destroy) pg_destroy ;;
  bootstrap) pg_bootstrap ;;
  url) pg_url "${1:-postgres}" "${2:-${1:-postgres}}" && echo ;;
  psql)
    pg_is_running || die "postgres ($PG_NAME) is not running (scripts/pg.sh start)"
    exec psql "$(pg_url postgres postgres)" "$@"
    ;;
  *) die "usage: scripts/pg.sh [--test] init|start|stop|status|destroy|bootstrap|url [ROLE [DB]]|psql [ARGS...]" ;;
esac
