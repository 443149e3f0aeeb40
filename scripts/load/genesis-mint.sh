#!/usr/bin/env bash
# Load test of genesis's mint over HTTP on loopback: pre-solved challenges (difficulty 1, so
# the client's work is not measured) POSTed once each to /v1/admission with wrk. Every request
# runs the full path: JSON decode, challenge decode, MAC, action, time, work, single-use check,
# PASETO mint. Stops by itself.
#
#   scripts/load/genesis-mint.sh [memory|redis] [SECONDS] [CONNECTIONS]
# Prints wrk's figures; record them in docs/benchmarks.md with this command line.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
cd "$ROOT"

replay="${1:-memory}"
seconds="${2:-10}"
connections="${3:-64}"
threads=2
port=18000
count=$(( 45000 * seconds ))
work="$(mktemp -d)"
trap 'kill "${genesis_pid:-}" 2>/dev/null || true; [[ "$replay" == redis ]] && { redis_instance test; redis_stop; } ; rm -rf "$work"' EXIT

have wrk || as_root apt-get install -y -qq wrk
log "building release binaries"
cargo build --release -q -p genesis
cargo build --release -q -p client --example presolve
bin="$(target_dir)/release"

env_vars=(
  GENESIS_LISTEN="127.0.0.1:$port"
  GENESIS_KEYS_DIR="$work/keys"
  GENESIS_LOG_FORMAT=json
  GENESIS_POW_ACTIONS="signup:1"
  GENESIS_POW_BOOST_THRESHOLD=0
  GENESIS_CHALLENGE_TTL_SECS=900
  GENESIS_RATE_LIMIT_PER_IP=10000000
  GENESIS_RATE_LIMIT_PER_IP_BURST=10000000
  GENESIS_RATE_LIMIT_GLOBAL=10000000
  GENESIS_RATE_LIMIT_GLOBAL_BURST=10000000
)
if [[ "$replay" == redis ]]; then
  redis_instance test
  redis_start
  env_vars+=(GENESIS_REDIS_URL="$(redis_service_url genesis)")
fi
env "${env_vars[@]}" RUST_LOG=warn "$bin/genesis" 2>"$work/genesis.log" &
genesis_pid=$!
wait_for_url "http://127.0.0.1:$port/ready" 30 || die "genesis did not start: $(cat "$work/genesis.log")"

log "pre-solving $count challenges"
"$bin/examples/presolve" "http://127.0.0.1:$port/" signup "$count" "$work/bodies.jsonl"

log "wrk: $threads threads, $connections connections, ${seconds}s, replay store: $replay"
BODIES="$work/bodies.jsonl" THREADS=$threads \
  wrk -t"$threads" -c"$connections" -d"${seconds}s" --latency \
  -s "$ROOT/scripts/load/admission.lua" "http://127.0.0.1:$port" | tee "$work/wrk.txt"
grep -q "non-2xx 0" "$work/wrk.txt" || warn "some requests were refused (bodies exhausted or errors)"
