#!/usr/bin/env bash
# Login throughput and latency of permesi on loopback, with a real genesis minting an admission
# token for every login (difficulty 1) and real PostgreSQL and Redis. Also reports permesi's
# own CPU time per login. Stops by itself.
#
#   scripts/load/permesi-login.sh [CONCURRENCY] [SECONDS] [USERS]
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
cd "$ROOT"

concurrency="${1:-32}"
seconds="${2:-10}"
users="${3:-64}"
work="$(mktemp -d)"
cleanup() {
  kill "${permesi_pid:-}" "${genesis_pid:-}" 2>/dev/null || true
  redis_instance test; redis_stop || true
  pg_instance test; pg_stop || true
  rm -rf "$work"
}
trap cleanup EXIT

log "building release binaries"
cargo build --release -q -p genesis -p permesi
cargo build --release -q -p client --example login_load
bin="$(target_dir)/release"

pg_instance test; pg_start
redis_instance test; redis_start
admin="$(pg_url postgres postgres)"
pg_run psql "$admin" -qc "DROP DATABASE IF EXISTS bench_login" -qc "CREATE DATABASE bench_login" >/dev/null
db="$(pg_url postgres bench_login)"

env GENESIS_LISTEN=127.0.0.1:18000 GENESIS_KEYS_DIR="$work/gk" GENESIS_LOG_FORMAT=json \
  GENESIS_POW_ACTIONS="signup:1,login:1" GENESIS_REDIS_URL="$(redis_service_url genesis)" \
  GENESIS_RATE_LIMIT_PER_IP=1000000 GENESIS_RATE_LIMIT_PER_IP_BURST=1000000 \
  GENESIS_RATE_LIMIT_GLOBAL=1000000 GENESIS_RATE_LIMIT_GLOBAL_BURST=1000000 \
  RUST_LOG=warn "$bin/genesis" 2>"$work/genesis.log" &
genesis_pid=$!
wait_for_url http://127.0.0.1:18000/ready 30 || die "genesis did not start"
env PERMESI_LISTEN=127.0.0.1:18001 PERMESI_DATABASE_URL="$db" PERMESI_REDIS_URL="$(redis_service_url permesi)" \
  PERMESI_KEYS_DIR="$work/pk" PERMESI_EMAIL_MAIL_DIR="$work/mail" PERMESI_LOG_FORMAT=json \
  PERMESI_DATABASE_MAX_CONNECTIONS=32 \
  PERMESI_ADMISSION_PASERK_URL=http://127.0.0.1:18000/paserk.json \
  RUST_LOG=warn "$bin/permesi" 2>"$work/permesi.log" &
permesi_pid=$!
wait_for_url http://127.0.0.1:18001/ready 30 || die "permesi did not start: $(cat "$work/permesi.log")"

cpu() { awk '{print $14 + $15}' "/proc/$permesi_pid/stat"; }
before=$(cpu)
"$bin/examples/login_load" http://127.0.0.1:18000/ http://127.0.0.1:18001/ "$db" "$users" "$concurrency" "$seconds" | tee "$work/out.txt"
after=$(cpu)
logins=$(sed -n 's/^logins: \([0-9]*\) .*/\1/p' "$work/out.txt")
ticks=$(getconf CLK_TCK)
awk -v c="$((after - before))" -v t="$ticks" -v n="$logins" -v u="$users" \
  'BEGIN { printf "permesi CPU: %.3f ms per operation (%d logins + %d signups)\n", c / t * 1000 / (n + u), n, u }'
