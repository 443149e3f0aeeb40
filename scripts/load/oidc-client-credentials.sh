#!/usr/bin/env bash
# Throughput of permesi's token endpoint on loopback (release build, real PostgreSQL and Redis,
# local key backend, wrk on the same 2 cores). Stops by itself; leaves the shared test
# PostgreSQL and Redis running.
#
#   scripts/load/oidc-client-credentials.sh [client_credentials|code] [SECONDS] [CONNECTIONS]
#
# client_credentials: one confidential client (client_secret_basic, EdDSA `at+jwt` access token)
#   asking again and again: the full path minus anything user-bound.
# code: a full authorization code exchange per request (atomic single-use consume, PKCE S256,
#   access token recorded for revocation, ID token, refresh token family row, audit entry).
#   The codes are made beforehand in SQL (a browser login per code would be measured instead).
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
cd "$ROOT"

mode="${1:-client_credentials}"
seconds="${2:-10}"
connections="${3:-32}"
threads=2
port=18101
work="$(mktemp -d)"
cleanup() {
  kill "${permesi_pid:-}" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

have wrk || as_root apt-get install -y -qq wrk
log "building the release binary"
cargo build --release -q -p permesi
bin="$(target_dir)/release"

ensure_dirs
pg_instance test; pg_start
redis_instance test; redis_ping || redis_start
admin="$(pg_url postgres postgres)"
pg_run psql "$admin" -qc "DROP DATABASE IF EXISTS bench_oidc" -qc "CREATE DATABASE bench_oidc" >/dev/null
db="$(pg_url postgres bench_oidc)"

env PERMESI_LISTEN="127.0.0.1:$port" PERMESI_DATABASE_URL="$db" PERMESI_REDIS_URL="$(redis_service_url permesi)" \
  PERMESI_KEYS_DIR="$work/pk" PERMESI_EMAIL_MAIL_DIR="$work/mail" PERMESI_LOG_FORMAT=json \
  PERMESI_DATABASE_MAX_CONNECTIONS=32 PERMESI_OIDC_ISSUER="http://127.0.0.1:$port" \
  PERMESI_ADMISSION_PASERK_URL=http://127.0.0.1:1/paserk.json \
  RUST_LOG=error "$bin/permesi" 2>"$work/permesi.log" &
permesi_pid=$!
wait_for_url "http://127.0.0.1:$port/health" 30 || die "permesi did not start: $(cat "$work/permesi.log")"

# One org/project/environment, a confidential client with every grant, one user.
client_id="benchclient00000000000000000001"
secret="bench-secret-0123456789abcdefghijklmnopqrstuvw"
mac="$(python3 - "$work/pk/secrets/permesi-client-secret-key" "$client_id" "$secret" <<'PY'
import hmac, hashlib, sys
key = open(sys.argv[1], 'rb').read()
msg = b"permesi/client-secret/v1\0" + sys.argv[2].encode() + b"\0" + sys.argv[3].encode()
print(hmac.new(key, msg, hashlib.sha256).hexdigest())
PY
)"
verifier="dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
challenge="E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
count=$(( 4000 * seconds ))
pg_run psql "$db" -q -v ON_ERROR_STOP=1 >/dev/null <<SQL
INSERT INTO orgs VALUES ('00000000-0000-0000-0000-00000000000a', 'bench', 'Bench', now(), now(), NULL);
INSERT INTO projects VALUES ('00000000-0000-0000-0000-00000000000b', '00000000-0000-0000-0000-00000000000a', 'p', 'P', now(), now(), NULL);
INSERT INTO environments VALUES ('00000000-0000-0000-0000-00000000000c', '00000000-0000-0000-0000-00000000000b', 'prod', 'Prod', 'production', now(), now(), NULL);
INSERT INTO applications (id, environment_id, slug, name, client_id, client_type, client_secret_mac,
  secret_rotated_at, redirect_uris, allowed_scopes, grant_types, created_at, updated_at)
VALUES ('00000000-0000-0000-0000-00000000000d', '00000000-0000-0000-0000-00000000000c', 'app', 'App',
  '$client_id', 'confidential', '\\x$mac', now(), ARRAY['http://127.0.0.1:9/cb'],
  ARRAY['openid', 'offline_access', 'api:read'],
  ARRAY['authorization_code', 'refresh_token', 'client_credentials'], now(), now());
INSERT INTO users (id, email_index, email_ciphertext, opaque_record)
VALUES ('00000000-0000-0000-0000-00000000000e', sha256('bench'), 'none', '\\x00');
INSERT INTO oauth_codes (id, code_hash, application_id, user_id, session_id, redirect_uri, scopes,
  nonce, code_challenge, auth_time, amr, created_at, expires_at)
SELECT gen_random_uuid(), sha256(convert_to('code-' || i, 'UTF8')),
  '00000000-0000-0000-0000-00000000000d', '00000000-0000-0000-0000-00000000000e',
  gen_random_uuid(), 'http://127.0.0.1:9/cb', ARRAY['openid', 'offline_access'], 'n',
  '$challenge', now(), ARRAY['pwd'], now(), now() + interval '1 hour'
FROM generate_series(1, $count) i;
SQL
seq 1 "$count" | sed "s|.*|grant_type=authorization_code\&code=code-&\&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb\&code_verifier=$verifier|" >"$work/bodies.txt"

basic="$(printf '%s:%s' "$client_id" "$secret" | base64 -w0)"
check="$(curl -s -o /dev/null -w '%{http_code}' -u "$client_id:$secret" \
  -d grant_type=client_credentials -d scope=api:read "http://127.0.0.1:$port/oauth/token")"
[[ "$check" == 200 ]] || die "token endpoint answered $check: $(tail -5 "$work/permesi.log")"

cpu() { awk '{print $14 + $15}' "/proc/$permesi_pid/stat"; }
before=$(cpu)
log "wrk: $threads threads, $connections connections, ${seconds}s, $mode"
MODE="$mode" BASIC="$basic" BODIES="$work/bodies.txt" THREADS=$threads \
  wrk -t"$threads" -c"$connections" -d"${seconds}s" --latency \
  -s "$ROOT/scripts/load/oidc-token.lua" "http://127.0.0.1:$port" | tee "$work/wrk.txt"
after=$(cpu)
requests=$(sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' "$work/wrk.txt")
awk -v c="$((after - before))" -v t="$(getconf CLK_TCK)" -v n="$requests" \
  'BEGIN { printf "permesi CPU: %.1f us per request\n", c / t * 1e6 / n }'
grep -q "Non-2xx" "$work/wrk.txt" && warn "some requests failed (codes exhausted or errors)"
true
