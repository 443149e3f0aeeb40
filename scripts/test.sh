#!/usr/bin/env bash
# The whole test suite, as CI runs it (`just test`, `./dev test`).
#
#   scripts/test.sh [EXTRA CARGO TEST ARGS...]
#
# Starts a throwaway PostgreSQL cluster (.dev/test/pg, port 5433, unix socket,
# fresh every run, db/sql/bootstrap.sql applied) and Redis/Valkey on
# 127.0.0.1:6380 with the ACL users of config/valkey/users.acl (fixed test passwords),
# always stops them on exit, and exports:
#   PERMESI_TEST_DATABASE_URL  superuser URL to the test cluster's `postgres` db
#   PERMESI_TEST_REDIS_URL     redis://permesi:permesi-test@127.0.0.1:6380  (permesi:* keys)
#   GENESIS_TEST_REDIS_URL     redis://genesis:genesis-test@127.0.0.1:6380  (genesis:* keys)
#   TEST_REDIS_ADMIN_URL       redis://admin:admin-test@127.0.0.1:6380      (everything)
# Then: cargo fmt --check, clippy -D warnings, the Valkey ACL checks (scripts/test-redis-acl.sh),
# cargo test, the edge checks through HAProxy (scripts/test-edge.sh), scripts/web.sh build, the
# console's end-to-end tests in headless Chromium (scripts/browser/run.sh; screenshots in
# test-artifacts/browser/; SKIP_BROWSER_TESTS=1 leaves them out), and the dev stack's first start
# (scripts/test-first-start.sh: `just up`, the console and both /ready, `just down`;
# SKIP_FIRST_START=1 leaves it out).
# Stops at the first failure with a non-zero exit.
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cd "$ROOT"
ensure_dirs
# One run at a time per checkout: the test cluster and ports are shared.
exec 9>"$DEV_DIR/test.lock"
if ! flock -n 9; then
  log "another test run in this checkout holds $DEV_DIR/test.lock: waiting for it"
  flock 9
fi
# Console tools are installed by `scripts/web.sh build` itself, after the Rust checks.
bash "$ROOT/scripts/deps.sh" --no-tmux --no-web

# Inherited GENESIS_*/PERMESI_* settings (a developer's shell, PERMESI_HAPROXY...)
# must not leak into tests that start the services.
while IFS= read -r var; do
  unset "$var"
done < <(compgen -e | grep -E '^(GENESIS|PERMESI)_' || true)

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  redis_instance test
  redis_stop || true
  pg_instance test
  pg_stop || true
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

pg_instance test
pg_destroy # fresh cluster every run: no databases left over from earlier runs
pg_start
redis_instance test
redis_stop
redis_start

PERMESI_TEST_DATABASE_URL="$(pg_url postgres postgres)"
# Each service's own ACL user, as in production; admin for test set-up and inspection.
PERMESI_TEST_REDIS_URL="$REDIS_PERMESI_URL"
GENESIS_TEST_REDIS_URL="$REDIS_GENESIS_URL"
TEST_REDIS_ADMIN_URL="$REDIS_ADMIN_URL"
export PERMESI_TEST_DATABASE_URL PERMESI_TEST_REDIS_URL GENESIS_TEST_REDIS_URL TEST_REDIS_ADMIN_URL
ok "PERMESI_TEST_DATABASE_URL=$PERMESI_TEST_DATABASE_URL"
ok "PERMESI_TEST_REDIS_URL=$PERMESI_TEST_REDIS_URL"
ok "GENESIS_TEST_REDIS_URL=$GENESIS_TEST_REDIS_URL"
ok "TEST_REDIS_ADMIN_URL=$TEST_REDIS_ADMIN_URL"

step() {
  local t=$SECONDS
  log "$*"
  "$@" || die "failed: $* (exit $?)"
  ok "$* ($((SECONDS - t))s)"
}

step cargo fmt --all -- --check
step cargo clippy --workspace --all-targets -- -D warnings
step bash "$ROOT/scripts/test-redis-acl.sh"
step cargo test --workspace "$@"
step bash "$ROOT/scripts/test-edge.sh"
if [[ -f "$ROOT/scripts/web.sh" ]]; then
  step bash "$ROOT/scripts/web.sh" build
  if [[ "${SKIP_BROWSER_TESTS:-}" == 1 ]]; then
    warn "SKIP_BROWSER_TESTS=1: browser tests skipped"
  elif [[ -f "$ROOT/scripts/browser/run.sh" ]]; then
    step bash "$ROOT/scripts/browser/run.sh"
  fi
else
  warn "scripts/web.sh not found: console build skipped"
fi
if [[ "${SKIP_FIRST_START:-}" == 1 ]]; then
  warn "SKIP_FIRST_START=1: first-start check skipped"
else
  step bash "$ROOT/scripts/test-first-start.sh"
fi
ok "all tests passed"
