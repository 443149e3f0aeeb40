#!/usr/bin/env bash
# Signup finish latency, new address vs verified address (finding M8):
#   scripts/load/signup-timing.sh [ROUNDS]        (default 200; loopback only, stops by itself)
# Starts the test stack's PostgreSQL and Valkey (ports 5433, 6380: not while `just test` runs),
# runs services/permesi/benches/signup_timing.rs (release), and stops them.
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
cd "$ROOT"
ensure_dirs
cleanup() { redis_instance test; redis_stop || true; pg_instance test; pg_stop || true; }
trap cleanup EXIT
pg_instance test
pg_destroy
pg_start
redis_instance test
redis_stop
redis_start
export PERMESI_TEST_DATABASE_URL="$(pg_url postgres postgres)"
export PERMESI_TEST_REDIS_URL="$REDIS_PERMESI_URL"
export SIGNUP_TIMING_ROUNDS="${1:-200}"
cargo bench -p permesi --bench signup_timing
