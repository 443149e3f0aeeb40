#!/usr/bin/env bash
# The dev stack's first start, as on a fresh clone: `just up` (scripts/stack.sh up) from this
# checkout must bring up genesis, permesi and the console, or fail naming the one that is not.
#
#   scripts/test-first-start.sh
#
# Checks: `just up` exits 0; the console answers 200 on :8080 with its index.html (title, and
# the wasm module Trunk built, served as application/wasm); genesis and permesi answer /ready
# with "ready"; a service that dies makes the next `just up` fail naming it; `just down` leaves
# nothing listening. `just down` always runs at the end (trap).
#
# Fresh-clone state it recreates: no apps/web/style/output.css (the first console build writes
# it; `trunk serve` used to die without it). The dev stack's ports (8000, 8001, 8080, Redis
# 6379) and its PostgreSQL cluster must be free: a developer's running stack is never touched
# (skipped with a warning, or an error under CI). Waits are bounded: `up` by
# FIRST_START_TIMEOUT seconds (default 900), the whole `up` by `timeout`. The console is served
# from its release build (DEV_WEB_RELEASE=1; FIRST_START_WEB_RELEASE=0 for the debug one).
# Prints `first-start: N passed, M failed`; exits non-zero on any failure.
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cd "$ROOT"
ensure_dirs
export TMUX_SESSION="permesi-first-start"
export UP_TIMEOUT="${FIRST_START_TIMEOUT:-900}"
# The console's release build, which `just test` has just made: `trunk serve` (the command a
# first start runs, with the same Trunk.toml) then needs no second, debug, build of the app.
# FIRST_START_WEB_RELEASE=0 serves the debug build, as `just up` does by default.
if [[ "${FIRST_START_WEB_RELEASE:-1}" == 1 ]]; then export DEV_WEB_RELEASE=1; fi

# `just RECIPE` as a developer types it (the script behind it when just is missing).
if have just; then
  stack=(just --justfile "$ROOT/justfile" --working-directory "$ROOT")
else
  stack=(bash "$ROOT/scripts/stack.sh")
fi
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# ---- is the dev stack's place free? ---------------------------------------------------------
busy=()
for p in "$GENESIS_PORT" "$PERMESI_PORT" "$WEB_PORT" 6379; do
  if port_open "$p"; then busy+=("127.0.0.1:$p"); fi
done
pg_instance dev
if pg_is_running; then busy+=("the dev PostgreSQL cluster"); fi
if have tmux && tmux has-session -t "=permesi" 2>/dev/null; then busy+=("tmux session 'permesi'"); fi
if ((${#busy[@]})); then
  if [[ -n "${CI:-}" ]]; then
    die "first-start: in use: ${busy[*]}"
  fi
  warn "first-start skipped: the dev stack's place is in use (${busy[*]}); just down, then run it again"
  exit 0
fi

passed=0 failed=0
pass() {
  passed=$((passed + 1))
  printf '  ok    %s\n' "$1"
}
fail() {
  failed=$((failed + 1))
  printf '  FAIL  %s\n' "$1"
}

downed=0
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if ((!downed)); then
    timeout -k 10 180 bash "$ROOT/scripts/stack.sh" down >/dev/null 2>&1 || warn "first-start: just down failed"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- just up --------------------------------------------------------------------------------
rm -f "$ROOT/apps/web/style/output.css"
log "first-start: just up (at most ${UP_TIMEOUT}s)"
t0=$SECONDS
if timeout -k 30 "$((UP_TIMEOUT + 300))" "${stack[@]}" up; then
  pass "just up ($((SECONDS - t0))s)"
else
  fail "just up failed (exit $?); logs: .dev/logs/"
  for s in genesis permesi web; do
    echo "----- .dev/logs/$s.log -----" >&2
    tail -n 30 "$LOG_DIR/$s.log" >&2 2>/dev/null || true
  done
  echo "first-start: $passed passed, $failed failed"
  exit 1
fi

# ---- the console and both services ----------------------------------------------------------
body="$(mktemp)"
code="$(curl -s -m 10 -o "$body" -w '%{http_code}' "http://127.0.0.1:$WEB_PORT/" || true)"
if [[ "$code" == 200 ]] && grep -q '<title>permesi console</title>' "$body"; then
  pass "console: GET / answers 200 with its index.html"
else
  fail "console: GET / answered $code$(grep -q '<title>permesi console' "$body" || echo ', not the console page')"
fi
wasm="$(grep -oE '/[A-Za-z0-9_.-]+_bg\.wasm' "$body" | head -n 1 || true)"
rm -f "$body"
if [[ -n "$wasm" ]]; then
  ctype="$(curl -s -m 30 -o /dev/null -w '%{http_code} %{content_type}' "http://127.0.0.1:$WEB_PORT$wasm" || true)"
  if [[ "$ctype" == "200 application/wasm"* ]]; then
    pass "console: the app's module $wasm is served (application/wasm)"
  else
    fail "console: $wasm answered '$ctype'"
  fi
else
  fail "console: index.html names no *_bg.wasm module (Trunk did not inject the app)"
fi
for s in genesis permesi; do
  port="$GENESIS_PORT"
  [[ "$s" == permesi ]] && port="$PERMESI_PORT"
  ready="$(curl -s -m 5 -w ' %{http_code}' "http://127.0.0.1:$port/ready" || true)"
  if [[ "$ready" == *'"status":"ready"'*' 200' ]]; then
    pass "$s: /ready answers 200 ready"
  else
    fail "$s: /ready answered: ${ready:0:300}"
  fi
done

# ---- a dead service fails `up` --------------------------------------------------------------
victim=''
for f in "$RUN_DIR/web.pane-pid" "$RUN_DIR/web.pid"; do
  [[ -s "$f" ]] && victim="$(cat "$f")" && break
done
if [[ -n "$victim" ]] && kill -0 "$victim" 2>/dev/null; then
  kill -TERM "$victim" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    kill -0 "$victim" 2>/dev/null || break
    sleep 0.1
  done
  out="$(UP_TIMEOUT=60 timeout -k 10 300 bash "$ROOT/scripts/stack.sh" up 2>&1)" && rc=0 || rc=$?
  if ((rc != 0)) && grep -qE 'web (exited|.*not running)|not up: .*web' <<<"$out"; then
    pass "just up fails, naming web, once the console died"
  else
    fail "just up with the console dead: exit $rc; $(tail -n 3 <<<"$out" | tr '\n' ' ')"
  fi
else
  fail "no live pid recorded for the console (.dev/run/web.pane-pid or web.pid)"
fi

# ---- just down ------------------------------------------------------------------------------
downed=1
if timeout -k 10 180 "${stack[@]}" down >/dev/null 2>&1; then
  pass "just down"
else
  fail "just down failed"
fi
left=()
for p in "$GENESIS_PORT" "$PERMESI_PORT" "$WEB_PORT" 6379; do
  if port_open "$p"; then left+=("$p"); fi
done
if ((${#left[@]} == 0)); then pass "nothing listens after just down"; else fail "still listening after just down: ${left[*]}"; fi

echo
echo "first-start: $passed passed, $failed failed"
((failed == 0))
