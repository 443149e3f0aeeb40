#!/usr/bin/env bash
# End-to-end tests of the console in headless Chromium (playwright-core driving /usr/bin/chromium).
#
#   scripts/browser/run.sh
#
# Starts its own stack on private ports and stops it on exit:
#   - PostgreSQL: the test cluster (port 5433, started here unless running), fresh databases
#     browser_genesis / browser_permesi; Redis: the test instance (6380), database 7, flushed
#   - genesis :18000, permesi :18001 (debug binaries; PERMESI_SESSION_COOKIE_SECURE=false)
#   - the console built for those ports into apps/web/dist-browser-test/, served with SPA
#     fallback on :18080 by scripts/browser/serve.mjs (no trunk serve)
#   - a test relying party on :18090 (OIDC scenario; skipped while OIDC answers 404)
# Screenshots and logs land in test-artifacts/browser/ (git-ignored).
# Knobs: BROWSER_HEADED=1 (show the browser, needs a display), CHROMIUM=/path/to/chromium,
# BROWSER_PERMESI_BIN / BROWSER_GENESIS_BIN (test other builds of the services, e.g. a branch's),
# BROWSER_SKIP=REGEX (skip the scenarios whose names match, e.g. 'passkey|TOTP|admin').
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

cd "$ROOT"
ensure_dirs
G_PORT=18000
P_PORT=18001
W_PORT=18080
RP_PORT=18090
ART="$ROOT/test-artifacts/browser"
WORK="$DEV_DIR/browser"
DIST="$ROOT/apps/web/dist-browser-test"
rm -rf "$ART" "$WORK"
mkdir -p "$ART" "$WORK/mail" "$WORK/keys/genesis" "$WORK/keys/permesi"
chmod 700 "$WORK/keys" "$WORK/keys/genesis" "$WORK/keys/permesi"

export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
[[ -x "$CHROMIUM" ]] || die "$CHROMIUM not found (scripts/deps.sh installs Debian's chromium)"
have node || die "node not found (Node 20+)"

started_pg=0
started_redis=0
pids=()
cleanup() {
  local rc=$? pid
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  if ((started_redis)); then redis_instance test && redis_stop || true; fi
  if ((started_pg)); then pg_instance test && pg_stop || true; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Inherited settings must not reach the services (they refuse unknown variables).
while IFS= read -r var; do
  unset "$var"
done < <(compgen -e | grep -E '^(GENESIS|PERMESI)_' || true)

for port in $G_PORT $P_PORT $W_PORT $RP_PORT; do
  if [[ "$(http_code "http://127.0.0.1:$port/")" != 000 ]]; then
    die "port $port is in use: stop whatever listens there (an earlier browser test run?)"
  fi
done

# ---- build ----------------------------------------------------------------------------------
log "building genesis and permesi (debug) and the console for the test ports"
if [[ -z "${BROWSER_PERMESI_BIN:-}" || -z "${BROWSER_GENESIS_BIN:-}" ]]; then
  cargo build -q -p genesis -p permesi || die "cargo build failed"
fi
bash "$ROOT/scripts/web.sh" install
(cd "$ROOT/apps/web" &&
  PERMESI_API_BASE_URL="http://localhost:$P_PORT" PERMESI_TOKEN_BASE_URL="http://localhost:$G_PORT" \
    trunk build --release --dist "$DIST" >"$ART/trunk.log" 2>&1) ||
  {
    tail -n 40 "$ART/trunk.log" >&2
    die "console build failed (log: $ART/trunk.log)"
  }
if [[ ! -f "$ROOT/scripts/browser/node_modules/playwright-core/package.json" ||
      ! -f "$ROOT/scripts/browser/node_modules/openid-client/package.json" ]]; then
  log "npm ci in scripts/browser"
  (cd "$ROOT/scripts/browser" && npm ci --no-audit --no-fund >/dev/null)
fi

# ---- PostgreSQL and Redis -------------------------------------------------------------------
pg_instance test
if ! pg_is_running; then
  pg_start
  started_pg=1
fi
psql_su() { psql "$(pg_url postgres postgres)" -X -q -v ON_ERROR_STOP=1 "$@"; }
for svc in genesis permesi; do
  psql_su -c "DROP DATABASE IF EXISTS browser_$svc WITH (FORCE)" >/dev/null
  psql_su -c "CREATE DATABASE browser_$svc OWNER $svc ENCODING 'UTF8' TEMPLATE template0" >/dev/null
done
redis_instance test
if ! redis_ping; then
  redis_start
  started_redis=1
fi
redis_cli -n 7 flushdb >/dev/null || die "could not flush Redis database 7 on :$REDIS_PORT"

# ---- services -------------------------------------------------------------------------------
G_ENV=(
  GENESIS_LISTEN="127.0.0.1:$G_PORT"
  GENESIS_DATABASE_URL="$(pg_url genesis browser_genesis)"
  GENESIS_REDIS_URL="$(redis_service_url genesis)/7"
  GENESIS_KEYS_DIR="$WORK/keys/genesis"
  GENESIS_CORS_ORIGINS="http://localhost:$W_PORT"
)
P_ENV=(
  PERMESI_LISTEN="127.0.0.1:$P_PORT"
  PERMESI_DATABASE_URL="$(pg_url permesi browser_permesi)"
  PERMESI_REDIS_URL="$(redis_service_url permesi)/7"
  PERMESI_KEYS_DIR="$WORK/keys/permesi"
  PERMESI_ADMISSION_PASERK_URL="http://127.0.0.1:$G_PORT/paserk.json"
  PERMESI_EMAIL_MAIL_DIR="$WORK/mail"
  PERMESI_EMAIL_BASE_URL="http://localhost:$W_PORT"
  PERMESI_SESSION_COOKIE_SECURE=false
  PERMESI_CORS_ORIGINS="http://localhost:$W_PORT"
)
G_BIN="${BROWSER_GENESIS_BIN:-$(bin_path genesis)}"
P_BIN="${BROWSER_PERMESI_BIN:-$(bin_path permesi)}"
# Settings of features this build has (the services refuse unknown settings): passkeys, and the
# OpenID Provider's issuer and console pages, pointed at the test ports.
SPEC="$(env "${P_ENV[@]}" "$P_BIN" openapi 2>/dev/null || true)"
if grep -q '/v1/me/passkeys' <<<"$SPEC"; then
  P_ENV+=(PERMESI_PASSKEYS_ORIGINS="http://localhost:$W_PORT")
fi
if grep -q '/oauth/authorize' <<<"$SPEC"; then
  P_ENV+=(
    PERMESI_OIDC_ISSUER="http://localhost:$P_PORT"
    PERMESI_OIDC_LOGIN_URL="http://localhost:$W_PORT/login"
    PERMESI_OIDC_CONSENT_URL="http://localhost:$W_PORT/consent"
  )
fi
env "${G_ENV[@]}" "$G_BIN" migrate >"$ART/genesis-migrate.log" 2>&1 || die "genesis migrate failed ($ART/genesis-migrate.log)"
env "${P_ENV[@]}" "$P_BIN" migrate >"$ART/permesi-migrate.log" 2>&1 || die "permesi migrate failed ($ART/permesi-migrate.log)"
env "${G_ENV[@]}" "$G_BIN" serve >"$ART/genesis.log" 2>&1 &
pids+=($!)
wait_for_url "http://127.0.0.1:$G_PORT/ready" 60 genesis || die "genesis did not start ($ART/genesis.log)"
env "${P_ENV[@]}" "$P_BIN" serve >"$ART/permesi.log" 2>&1 &
pids+=($!)
wait_for_url "http://127.0.0.1:$P_PORT/ready" 60 permesi || die "permesi did not start ($ART/permesi.log)"
node "$ROOT/scripts/browser/serve.mjs" "$DIST" "$W_PORT" >"$ART/web.log" 2>&1 &
pids+=($!)
wait_for_url "http://127.0.0.1:$W_PORT/" 30 console || die "static server did not start ($ART/web.log)"
ok "stack up: genesis :$G_PORT, permesi :$P_PORT, console :$W_PORT"

# ---- tests ----------------------------------------------------------------------------------
export CONSOLE_URL="http://localhost:$W_PORT" API_URL="http://localhost:$P_PORT"
export RP_PORT MAIL_DIR="$WORK/mail" ARTIFACTS="$ART"
# The step-up scenarios age a session's last authentication: in permesi's database (psql), and
# they drop the session's cache entry (the CLI as the admin ACL user, password in the
# environment). Not PERMESI_-prefixed: the operator-token command inherits the environment, and
# the services refuse settings they do not know.
BROWSER_DB_URL="$(pg_url postgres browser_permesi)"
BROWSER_REDIS_CLI="$(redis_cli_bin)"
BROWSER_REDIS_PORT="$REDIS_PORT"
BROWSER_REDIS_PASSWORD="$REDIS_ADMIN_PASSWORD"
export BROWSER_DB_URL BROWSER_REDIS_CLI BROWSER_REDIS_PORT BROWSER_REDIS_PASSWORD
# One-time operator tokens for the admin scenario, minted against the test database.
OPERATOR_TOKEN_CMD="$(printf '%q ' env "${P_ENV[@]}" "$P_BIN" operator-token)"
export OPERATOR_TOKEN_CMD
node "$ROOT/scripts/browser/e2e.mjs"
