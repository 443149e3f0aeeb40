#!/usr/bin/env bash
# The edge, end to end: HAProxy with config/haproxy/haproxy.cfg in front of genesis and permesi
# (the debug binaries), on free loopback ports, with a throwaway self-signed certificate.
# Checks that:
#   - HAProxy's health checks pass (/ready answers 200 to them: L7OK);
#   - rate-limit buckets are per client through the proxy: genesis believes X-Forwarded-For
#     from HAProxy only (GENESIS_TRUSTED_PROXIES=127.0.0.1/32); client A (source 127.0.0.2)
#     runs out of its burst while client B (127.0.0.3) is still served;
#   - what a client sends in X-Forwarded-For (6.6.6.6) or X-Request-Id (300 characters)
#     changes nothing: the request counts against its own bucket, and the request id the
#     services see and echo is HAProxy's;
#   - no log line (HAProxy's, genesis's, permesi's) holds a query string: tokens in
#     /verify-email?token=..., reset links and id_token_hint never reach them.
#
#   scripts/test-edge.sh
#
# permesi needs PostgreSQL: with PERMESI_TEST_DATABASE_URL (a superuser URL; scripts/test.sh
# exports it) a database edge_permesi is made for it and dropped afterwards; without it permesi
# is left out (with a warning). GENESIS_TEST_REDIS_URL / PERMESI_TEST_REDIS_URL, when set, are
# used (database 6): the services then connect with their own ACL users. Binaries:
# EDGE_GENESIS_BIN / EDGE_PERMESI_BIN, else $CARGO_TARGET_DIR/debug/{genesis,permesi}, built
# when missing. EDGE_HAPROXY_CFG tries another HAProxy file. Every wait is bounded; everything
# started is stopped on exit.
# Prints `edge: N passed, M failed`; exits non-zero on any failure.
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cd "$ROOT"
work="$(mktemp -d "${TMPDIR:-/tmp}/permesi-edge.XXXXXX")"
pids=()
edge_db=''
keep="${EDGE_KEEP:-}" # EDGE_KEEP=1: leave the temp folder (logs) in place

stop_all() {
  local pid i
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for ((i = 0; i < 50; i++)); do
    local alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 0.1
  done
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  pids=()
}
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_all
  if [[ -n "$edge_db" ]]; then
    psql "$db_su_url" -X -q -c "DROP DATABASE IF EXISTS $edge_db WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  if [[ "$rc" -ne 0 || -n "$keep" ]]; then
    warn "edge: logs kept in $work"
  else
    rm -rf "$work"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- tools and binaries ---------------------------------------------------------------------
if ! have haproxy; then
  have apt-get || die "haproxy not found (install it)"
  log "installing haproxy"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends haproxy >/dev/null 2>&1 ||
    {
      as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
      as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends haproxy >/dev/null
    }
fi
have openssl || die "openssl not found"
have curl || die "curl not found"

G_BIN="${EDGE_GENESIS_BIN:-$(bin_path genesis)}"
P_BIN="${EDGE_PERMESI_BIN:-$(bin_path permesi)}"
if [[ ! -x "$G_BIN" || ! -x "$P_BIN" ]]; then build_services; fi
[[ -x "$G_BIN" ]] || die "no genesis binary at $G_BIN"

# The test URLs, then no GENESIS_*/PERMESI_* variable at all: the services refuse unknown ones.
db_su_url="${PERMESI_TEST_DATABASE_URL:-}"
g_redis="${GENESIS_TEST_REDIS_URL:-}"
p_redis="${PERMESI_TEST_REDIS_URL:-}"
while IFS= read -r var; do
  unset "$var"
done < <(compgen -e | grep -E '^(GENESIS|PERMESI)_' || true)

with_permesi=1
if [[ -z "$db_su_url" ]]; then
  warn "PERMESI_TEST_DATABASE_URL is not set: permesi is left out (scripts/test.sh sets it)"
  with_permesi=0
fi

# ---- ports, certificate ---------------------------------------------------------------------
G_PORT="$(free_port)"
P_PORT="$(free_port)"
HTTP_PORT="$(free_port)"
TLS_PORT="$(free_port)"
STATS_PORT="$(free_port)"
CLOSED_PORT="$(free_port)" # nothing listens: the console backend stays down, harmlessly
DOMAIN=permesi.localhost
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj "/CN=$DOMAIN" -keyout "$work/key.pem" -out "$work/crt.pem" \
  -addext "subjectAltName=DNS:$DOMAIN,DNS:*.$DOMAIN" >/dev/null 2>&1 || die "openssl failed"
(umask 077 && cat "$work/crt.pem" "$work/key.pem" >"$work/edge.pem")

# ---- services -------------------------------------------------------------------------------
redis_db() { [[ -n "$1" ]] && printf '%s/6' "${1%/}"; }
G_ENV=(
  GENESIS_LISTEN="127.0.0.1:$G_PORT"
  GENESIS_KEYS_DIR="$work/keys/genesis"
  GENESIS_TRUSTED_PROXIES=127.0.0.1/32
  # A burst of 3 and a refill far slower than the test: the counts below are exact.
  GENESIS_RATE_LIMIT_PER_IP=0.01
  GENESIS_RATE_LIMIT_PER_IP_BURST=3
  GENESIS_LOG_FORMAT=json
)
if [[ -n "$g_redis" ]]; then G_ENV+=(GENESIS_REDIS_URL="$(redis_db "$g_redis")"); fi
mkdir -p "$work/keys/genesis" "$work/keys/permesi" "$work/mail"
chmod 700 "$work/keys" "$work/keys/genesis" "$work/keys/permesi"

start_bg() { # start_bg LOG ENV... -- CMD...: runs in the background, pid recorded
  local logf="$1"
  shift
  local -a envs=()
  while [[ "$1" != -- ]]; do
    envs+=("$1")
    shift
  done
  shift
  env "${envs[@]}" "$@" >"$logf" 2>&1 </dev/null &
  pids+=($!)
}

# wait_ready NAME URL SECONDS: until URL answers 200, failing at once if the process exits.
wait_ready() {
  local name="$1" url="$2" deadline=$((SECONDS + $3)) pid="${pids[-1]}"
  until [[ "$(http_code "$url")" == 200 ]]; do
    if ! kill -0 "$pid" 2>/dev/null || ((SECONDS >= deadline)); then
      tail -n 30 "$work/$name.log" >&2
      die "$name did not become ready ($url)"
    fi
    sleep 0.2
  done
}

start_bg "$work/genesis.log" "${G_ENV[@]}" -- "$G_BIN" serve
wait_ready genesis "http://127.0.0.1:$G_PORT/ready" 60

if ((with_permesi)); then
  edge_db="edge_permesi_$$"
  psql "$db_su_url" -X -q -v ON_ERROR_STOP=1 \
    -c "CREATE DATABASE $edge_db ENCODING 'UTF8' TEMPLATE template0" >/dev/null ||
    die "could not create database $edge_db"
  # The same server and credentials, another database.
  p_db_url="$(sed -E "s#^([^?]*/)[^/?]*(\\?|\$)#\\1$edge_db\\2#" <<<"$db_su_url")"
  P_ENV=(
    PERMESI_LISTEN="127.0.0.1:$P_PORT"
    PERMESI_DATABASE_URL="$p_db_url"
    PERMESI_KEYS_DIR="$work/keys/permesi"
    PERMESI_ADMISSION_PASERK_URL="http://127.0.0.1:$G_PORT/paserk.json"
    PERMESI_EMAIL_MAIL_DIR="$work/mail"
    PERMESI_TRUSTED_PROXIES=127.0.0.1/32
    PERMESI_LOG_FORMAT=json
  )
  if [[ -n "$p_redis" ]]; then P_ENV+=(PERMESI_REDIS_URL="$(redis_db "$p_redis")"); fi
  start_bg "$work/permesi.log" "${P_ENV[@]}" -- "$P_BIN" serve
  wait_ready permesi "http://127.0.0.1:$P_PORT/ready" 90
fi

# ---- HAProxy --------------------------------------------------------------------------------
CFG="${EDGE_HAPROXY_CFG:-$ROOT/config/haproxy/haproxy.cfg}" # override: to try a variant
# The project's file unchanged, plus a stats listener to read the health-check results.
cat >"$work/stats.cfg" <<EOF
listen edge_test_stats
    bind 127.0.0.1:$STATS_PORT
    mode http
    no log
    stats enable
    stats uri /stats
EOF
LB_ENV=(
  LB_DOMAIN="$DOMAIN"
  LB_HTTP_BIND="127.0.0.1:$HTTP_PORT"
  LB_HTTPS_BIND="127.0.0.1:$TLS_PORT"
  LB_TLS_CERT="$work/edge.pem"
  LB_GENESIS="127.0.0.1:$G_PORT"
  LB_PERMESI="127.0.0.1:$(if ((with_permesi)); then echo "$P_PORT"; else echo "$CLOSED_PORT"; fi)"
  LB_WEB="127.0.0.1:$CLOSED_PORT"
)
env "${LB_ENV[@]}" haproxy -c -q -f "$CFG" -f "$work/stats.cfg" ||
  die "haproxy rejects $CFG"
start_bg "$work/haproxy.log" "${LB_ENV[@]}" -- haproxy -db -f "$CFG" -f "$work/stats.cfg"
HAPROXY_LOG="$work/haproxy.log"
deadline=$((SECONDS + 20))
until (exec 3<>"/dev/tcp/127.0.0.1/$TLS_PORT") 2>/dev/null; do
  if ! kill -0 "${pids[-1]}" 2>/dev/null || ((SECONDS >= deadline)); then
    cat "$HAPROXY_LOG" >&2
    die "haproxy did not start"
  fi
  sleep 0.1
done

passed=0 failed=0
pass() {
  passed=$((passed + 1))
  printf '  ok    %s\n' "$1"
}
fail() {
  failed=$((failed + 1))
  printf '  FAIL  %s\n' "$1"
}
expect_eq() { # expect_eq LABEL WANT GOT
  if [[ "$2" == "$3" ]]; then pass "$1"; else fail "$1: wanted $2, got $3"; fi
}

# server_check BACKEND SERVER -> "<status> <check_status>" from the stats CSV
server_check() {
  curl -s -m 3 "http://127.0.0.1:$STATS_PORT/stats;csv" 2>/dev/null | awk -F, -v px="$1" -v sv="$2" '
    NR == 1 { sub(/^# /, ""); for (i = 1; i <= NF; i++) col[$i] = i; next }
    $1 == px && $2 == sv { print $col["status"], $col["check_status"] }'
}

# Wait (bounded) for HAProxy's health checks to pass; the first one runs within `inter` (5 s).
backends=(genesis/genesis1)
if ((with_permesi)); then backends+=(permesi/permesi1); fi
for b in "${backends[@]}"; do
  deadline=$((SECONDS + 45))
  state=''
  while ((SECONDS < deadline)); do
    state="$(server_check "${b%/*}" "${b#*/}")"
    [[ "$state" == "UP L7OK" ]] && break
    sleep 0.5
  done
  expect_eq "haproxy health check of $b" "UP L7OK" "${state:-no answer from haproxy}"
done

# ---- requests through the proxy -------------------------------------------------------------
# edge_req SOURCE HOST PATH [CURL ARGS...] -> status code; headers in $work/last.headers
edge_req() {
  local src="$1" host="$2" path="$3"
  shift 3
  curl -sk -o "$work/last.body" -D "$work/last.headers" -w '%{http_code}' -m 10 \
    --interface "$src" --resolve "$host:$TLS_PORT:127.0.0.1" "$@" \
    "https://$host:$TLS_PORT$path" 2>/dev/null || true
}
challenge() { # challenge SOURCE [CURL ARGS...]
  local src="$1"
  shift
  edge_req "$src" "genesis.$DOMAIN" /v1/pow/challenge -X POST \
    -H 'content-type: application/json' --data '{"action":"login"}' "$@"
}
last_header() {
  awk -v h="$(tr '[:upper:]' '[:lower:]' <<<"$1")" -F': ' \
    'tolower($1) == h { sub(/\r$/, "", $2); print $2 }' "$work/last.headers" | tail -n 1
}

A=127.0.0.2
B=127.0.0.3
long_id="$(printf 'x%.0s' {1..300})"
spoof=(-H 'X-Forwarded-For: 6.6.6.6' -H "X-Request-Id: $long_id" -H 'X-Real-IP: 6.6.6.6' -H 'Forwarded: for=6.6.6.6')

expect_eq "A: challenge 1 of its burst of 3" 200 "$(challenge "$A")"
expect_eq "A: challenge 2" 200 "$(challenge "$A")"
expect_eq "A: challenge 3" 200 "$(challenge "$A")"
expect_eq "A: challenge 4 is rate limited" 429 "$(challenge "$A")"
if [[ -n "$(last_header retry-after)" ]]; then pass "A: 429 carries Retry-After"; else fail "A: 429 without Retry-After"; fi
expect_eq "B: served while A is limited (buckets per client)" 200 "$(challenge "$B")"
expect_eq "A with X-Forwarded-For: 6.6.6.6 still limited (header ignored)" 429 "$(challenge "$A" "${spoof[@]}")"

expect_eq "B with X-Forwarded-For: 6.6.6.6 and a 300-char X-Request-Id: served" 200 "$(challenge "$B" "${spoof[@]}")"
rid="$(last_header x-request-id)"
if [[ -n "$rid" && "$rid" != "$long_id" && ${#rid} -lt 100 ]]; then
  pass "B: the request id echoed is HAProxy's ($rid), not the client's"
else
  fail "B: echoed X-Request-Id is '${rid:0:60}' (length ${#rid}): wanted HAProxy's"
fi
expect_eq "B: challenge 3 (the spoofed one counted as B's 2nd)" 200 "$(challenge "$B")"
expect_eq "B: challenge 4 is rate limited" 429 "$(challenge "$B")"

if ((with_permesi)); then
  code="$(edge_req "$A" "api.$DOMAIN" /health "${spoof[@]}")"
  expect_eq "permesi through the proxy: /health" 200 "$code"
  prid="$(last_header x-request-id)"
  if [[ -n "$prid" && "$prid" != "$long_id" && ${#prid} -lt 100 ]]; then
    pass "permesi: the request id echoed is HAProxy's ($prid)"
  else
    fail "permesi: echoed X-Request-Id is '${prid:0:60}' (length ${#prid})"
  fi
fi

# ---- logs -----------------------------------------------------------------------------------
SECRET="edge-secret-$RANDOM$RANDOM"
edge_req "$A" "genesis.$DOMAIN" "/verify-email?token=$SECRET-1" >/dev/null
edge_req "$B" "$DOMAIN" "/reset-password?token=$SECRET-2" >/dev/null
if ((with_permesi)); then
  edge_req "$A" "api.$DOMAIN" "/oauth/logout?id_token_hint=$SECRET-3&post_logout_redirect_uri=x" >/dev/null
  edge_req "$B" "api.$DOMAIN" "/v1/invitations/accept?token=$SECRET-4" >/dev/null
fi
# HAProxy writes a line when a request ends; wait (bounded) for the last one.
last_path=/reset-password
if ((with_permesi)); then last_path=/v1/invitations/accept; fi
deadline=$((SECONDS + 10))
until grep -q "\"$last_path\"" "$HAPROXY_LOG" 2>/dev/null || ((SECONDS >= deadline)); do sleep 0.2; done
if grep -q '"/verify-email"' "$HAPROXY_LOG" && grep -q "\"$last_path\"" "$HAPROXY_LOG"; then
  pass "haproxy logs the paths (/verify-email, $last_path)"
else
  fail "haproxy log lacks the request lines; log: $HAPROXY_LOG"
fi
for f in "$HAPROXY_LOG" "$work/genesis.log" "$work/permesi.log"; do
  [[ -f "$f" ]] || continue
  if grep -q "$SECRET" "$f"; then
    fail "$(basename "$f") holds a query-string token: $(grep -m1 "$SECRET" "$f" | cut -c1-200)"
  else
    pass "$(basename "$f") holds no query string token"
  fi
done
if grep -qE "^$A:[0-9]+ .*\"/v1/pow/challenge\"" "$HAPROXY_LOG" && grep -qE "^$B:[0-9]+ " "$HAPROXY_LOG"; then
  pass "haproxy logs each client's own address"
else
  fail "haproxy log lines do not start with the client addresses $A / $B"
fi
if [[ -n "${rid:-}" ]] && grep -qF "$rid" "$HAPROXY_LOG"; then
  pass "the echoed request id is the one in HAProxy's log"
else
  fail "request id ${rid:-?} not found in HAProxy's log"
fi

echo
((with_permesi)) || warn "permesi was left out (no PERMESI_TEST_DATABASE_URL)"
echo "edge: $passed passed, $failed failed"
((failed == 0))
