# shellcheck shell=bash disable=SC2034
# Shared helpers for the permesi dev scripts. Source it; do not execute it.
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# Everything local lives under $ROOT/.dev (git-ignored):
#   .dev/pg              dev PostgreSQL cluster (unix socket only, port 5432)
#   .dev/redis           dev Redis/Valkey (127.0.0.1:6379; ACL file, generated passwords)
#   .dev/test/pg         test cluster (port 5433), .dev/test/redis (127.0.0.1:6380)
#   .dev/keys/<service>  local key backend folders
#   .dev/logs/<name>.log service logs, .dev/run/ pid files and markers
#   .dev/certs           mkcert certificates for haproxy
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
DEV_DIR="$ROOT/.dev"
LOG_DIR="$DEV_DIR/logs"
RUN_DIR="$DEV_DIR/run"
KEYS_DIR="$DEV_DIR/keys"
CERTS_DIR="$DEV_DIR/certs"
TMUX_SESSION="${TMUX_SESSION:-permesi}"
BOOTSTRAP_SQL="$ROOT/db/sql/bootstrap.sql"
export ROOT

# Dev ports (fixed: the console and the docs assume them).
GENESIS_PORT=8000
PERMESI_PORT=8001
WEB_PORT=8080

# ---------------------------------------------------------------- logging ---
if [[ -t 2 && -z "${NO_COLOR:-}" ]]; then
  _c_info=$'\033[1;34m' _c_warn=$'\033[1;33m' _c_err=$'\033[1;31m' _c_ok=$'\033[1;32m' _c_off=$'\033[0m'
else
  _c_info='' _c_warn='' _c_err='' _c_ok='' _c_off=''
fi
log() { printf '%s==>%s %s\n' "$_c_info" "$_c_off" "$*" >&2; }
ok() { printf '%s ok%s %s\n' "$_c_ok" "$_c_off" "$*" >&2; }
warn() { printf '%swarn:%s %s\n' "$_c_warn" "$_c_off" "$*" >&2; }
die() {
  printf '%serror:%s %s\n' "$_c_err" "$_c_off" "$*" >&2
  exit 1
}

have() { command -v "$1" >/dev/null 2>&1; }
is_root() { [[ "$(id -u)" -eq 0 ]]; }

# Short stable hash of the repo path (names /tmp fallbacks per checkout).
root_hash() {
  if have sha256sum; then
    printf '%s' "$ROOT" | sha256sum | cut -c1-10
  else
    printf '%s' "$ROOT" | cksum | cut -d' ' -f1
  fi
}

# Percent-encode a string for use inside a URL query value.
urlencode() {
  local s="$1" out='' c i
  for ((i = 0; i < ${#s}; i++)); do
    c="${s:i:1}"
    case "$c" in
      [a-zA-Z0-9/._~-]) out+="$c" ;;
      *) out+="$(printf '%%%02X' "'$c")" ;;
    esac
  done
  printf '%s' "$out"
}

ensure_dirs() { mkdir -p "$DEV_DIR" "$LOG_DIR" "$RUN_DIR"; }

# Run a command with sudo when not root (non-interactive), or fail with a hint.
as_root() {
  if is_root; then
    "$@"
  elif have sudo && sudo -n true 2>/dev/null; then
    sudo -n "$@"
  else
    die "needs root: $* (run it with sudo, then re-run)"
  fi
}

# ----------------------------------------------------------------- cargo ---
# Directory holding the debug binaries (honours CARGO_TARGET_DIR and .cargo/config).
target_dir() {
  local dir=''
  if [[ -n "${CARGO_TARGET_DIR:-}" ]]; then
    dir="$CARGO_TARGET_DIR"
    [[ "$dir" == /* ]] || dir="$ROOT/$dir"
  elif have cargo; then
    dir="$(cd "$ROOT" && cargo metadata --no-deps --format-version 1 2>/dev/null |
      sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')" || true
  fi
  printf '%s' "${dir:-$ROOT/target}"
}
bin_path() { printf '%s/debug/%s' "$(target_dir)" "$1"; }

build_services() {
  log "cargo build -p genesis -p permesi"
  (cd "$ROOT" && cargo build -p genesis -p permesi)
}

# ------------------------------------------------------------ PostgreSQL ---
pg_bindir() {
  local d
  if [[ -n "${PG_BINDIR:-}" ]]; then
    printf '%s' "$PG_BINDIR"
    return 0
  fi
  # Highest installed server version first.
  for d in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -t/ -k5 -rn); do
    [[ -x "$d/initdb" ]] && {
      printf '%s' "$d"
      return 0
    }
  done
  if have pg_config && [[ -x "$(pg_config --bindir)/initdb" ]]; then
    pg_config --bindir
    return 0
  fi
  if have initdb; then
    dirname "$(command -v initdb)"
    return 0
  fi
  return 1
}

# Run a PostgreSQL server command as the cluster owner: the `postgres` system
# user when we are root (initdb refuses root), else the current user.
pg_run() {
  if is_root; then
    # cd /: the postgres user may not be allowed into the caller's directory.
    (cd / && runuser -u postgres -- "$@")
  else
    "$@"
  fi
}

# Can the postgres system user reach (traverse) a directory? Only matters as root.
pg_user_can_reach() { runuser -u postgres -- test -x "$1" 2>/dev/null; }

# pg_instance dev|test: sets PG_NAME PG_PORT PG_DIR PG_DATA PG_SOCK PG_LOG.
pg_instance() {
  PG_NAME="$1"
  case "$PG_NAME" in
    dev)
      PG_PORT=5432
      PG_DIR="$DEV_DIR/pg"
      ;;
    test)
      PG_PORT=5433
      PG_DIR="$DEV_DIR/test/pg"
      ;;
    *) die "unknown PostgreSQL instance: $PG_NAME (dev|test)" ;;
  esac
  local alt
  alt="${TMPDIR:-/tmp}/permesi-$(root_hash)"
  if is_root; then
    getent passwd postgres >/dev/null || die "no 'postgres' system user (install postgresql or: useradd --system --home /var/lib/postgresql postgres)"
    mkdir -p "$DEV_DIR"
    # Repo under a private home (e.g. /root): the postgres user cannot reach it.
    if ! pg_user_can_reach "$DEV_DIR"; then
      PG_DIR="/var/tmp/permesi-$(root_hash)/pg-$PG_NAME"
    fi
  fi
  PG_DATA="$PG_DIR/data"
  PG_LOG="$PG_DIR/postgres.log"
  PG_SOCK="$PG_DIR/run"
  # sun_path is ~107 bytes; keep "$PG_SOCK/.s.PGSQL.$PG_PORT" under 100.
  if ((${#PG_SOCK} + 13 + ${#PG_PORT} > 100)); then
    PG_SOCK="$alt/$PG_NAME"
  fi
}

# Superuser-free URL for a role/db on the current instance (unix socket via ?host=).
pg_url() {
  local role="$1" db="$2"
  printf 'postgres://%s@localhost:%s/%s?host=%s' "$role" "$PG_PORT" "$db" "$(urlencode "$PG_SOCK")"
}

pg_is_running() {
  [[ -f "$PG_DATA/PG_VERSION" ]] || return 1
  pg_run "$(pg_bindir)/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1
}

pg_mkdir_owned() {
  mkdir -p "$1"
  if is_root; then chown postgres: "$1"; fi
  chmod 700 "$1"
}

pg_init() {
  local bindir
  bindir="$(pg_bindir)" || die "PostgreSQL server binaries not found (apt-get install postgresql), or set PG_BINDIR"
  if [[ -f "$PG_DATA/PG_VERSION" ]]; then
    return 0
  fi
  log "initdb $PG_NAME cluster in $PG_DATA"
  mkdir -p "$(dirname "$PG_DIR")"
  pg_mkdir_owned "$PG_DIR"
  rm -rf "$PG_DATA"
  pg_run "$bindir/initdb" -D "$PG_DATA" -A trust -U postgres -E UTF8 --locale=C --no-instructions >"$PG_DIR/initdb.log" 2>&1 ||
    {
      cat "$PG_DIR/initdb.log" >&2
      die "initdb failed"
    }
  # Settings that depend on the checkout live in permesi.conf, rewritten on every start.
  pg_run sh -c "printf '%s\n' \"include_if_exists = 'permesi.conf'\" >> '$PG_DATA/postgresql.conf'"
}

pg_write_conf() {
  local extra=''
  if [[ "$PG_NAME" == test ]]; then
    # Throwaway cluster: durability off, room for many per-test pools.
    extra=$'fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nmax_connections = 300\n'
  else
    extra=$'max_connections = 200\n'
  fi
  local conf
  conf="listen_addresses = ''
port = $PG_PORT
unix_socket_directories = '$PG_SOCK'
unix_socket_permissions = 0777
${extra}"
  printf '%s' "$conf" | pg_run sh -c "cat > '$PG_DATA/permesi.conf'"
}

pg_start() {
  pg_init
  local bindir
  bindir="$(pg_bindir)"
  if pg_is_running; then
    ok "postgres ($PG_NAME) already running, socket $PG_SOCK port $PG_PORT"
  else
    mkdir -p "$(dirname "$PG_SOCK")"
    pg_mkdir_owned "$PG_SOCK"
    chmod 755 "$PG_SOCK"
    pg_write_conf
    log "starting postgres ($PG_NAME) on $PG_SOCK/.s.PGSQL.$PG_PORT"
    pg_run "$bindir/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t 60 start >/dev/null ||
      {
        tail -n 30 "$PG_LOG" >&2 || true
        die "postgres ($PG_NAME) failed to start; log: $PG_LOG"
      }
  fi
  pg_bootstrap
}

# Apply db/sql/bootstrap.sql (idempotent) as the superuser.
pg_bootstrap() {
  [[ -f "$BOOTSTRAP_SQL" ]] || die "missing $BOOTSTRAP_SQL"
  psql "$(pg_url postgres postgres)" -X -q -v ON_ERROR_STOP=1 -f "$BOOTSTRAP_SQL" >/dev/null ||
    die "bootstrap.sql failed on the $PG_NAME cluster"
}

pg_stop() {
  if pg_is_running; then
    log "stopping postgres ($PG_NAME)"
    pg_run "$(pg_bindir)/pg_ctl" -D "$PG_DATA" -m fast -w -t 60 stop >/dev/null
  fi
}

pg_destroy() {
  pg_stop
  rm -rf "$PG_DIR"
  [[ "$PG_SOCK" == "$PG_DIR"/* ]] || rm -rf "$PG_SOCK"
  # Remove the /tmp or /var/tmp fallback parents once empty.
  rmdir "$(dirname "$PG_SOCK")" "$(dirname "$PG_DIR")" 2>/dev/null || true
}

pg_status() {
  if pg_is_running; then
    ok "postgres ($PG_NAME): running, $(pg_url postgres postgres)"
  elif [[ -f "$PG_DATA/PG_VERSION" ]]; then
    echo "postgres ($PG_NAME): stopped (data in $PG_DATA)"
    return 3
  else
    echo "postgres ($PG_NAME): not initialised"
    return 3
  fi
}

# ------------------------------------------------------------ Redis/Valkey ---
# Split trust, as in production (config/valkey/users.acl): genesis and permesi each have an ACL
# user limited to their own key prefix, `admin` is for these scripts, the default user is off.
# Passwords: the dev instance makes random ones once (.dev/redis/passwords, 0600); the test
# instance (throwaway, loopback only) uses fixed ones.
REDIS_ACL_TEMPLATE="$ROOT/config/valkey/users.acl"
REDIS_ACL_RENDER="$ROOT/config/valkey/render-acl.sh"

redis_server_bin() {
  if have valkey-server; then echo valkey-server; elif have redis-server; then echo redis-server; else return 1; fi
}
redis_cli_bin() {
  if have valkey-cli; then echo valkey-cli; elif have redis-cli; then echo redis-cli; else return 1; fi
}

# random_hex BYTES: URL-safe random string (hex).
random_hex() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }

# redis_instance dev|test [PORT DIR]: sets REDIS_NAME REDIS_PORT REDIS_DIR REDIS_PID REDIS_LOG
# REDIS_ACL, the passwords REDIS_{ADMIN,GENESIS,PERMESI}_PASSWORD and the URLs
# REDIS_ADMIN_URL, REDIS_GENESIS_URL, REDIS_PERMESI_URL (no database number: append /N).
# REDIS_URL is the admin URL, for scripts; services get their own user's URL.
# PORT and DIR override the instance's (a private instance with the test passwords).
redis_instance() {
  REDIS_NAME="$1"
  case "$REDIS_NAME" in
    dev)
      REDIS_PORT=6379
      REDIS_DIR="$DEV_DIR/redis"
      ;;
    test)
      REDIS_PORT=6380
      REDIS_DIR="$DEV_DIR/test/redis"
      ;;
    *) die "unknown redis instance: $REDIS_NAME (dev|test)" ;;
  esac
  if (($# >= 3)); then
    REDIS_PORT="$2"
    REDIS_DIR="$3"
  fi
  REDIS_PID="$REDIS_DIR/redis.pid"
  REDIS_LOG="$REDIS_DIR/redis.log"
  REDIS_ACL="$REDIS_DIR/users.acl"
  redis_passwords
  local base="127.0.0.1:$REDIS_PORT"
  REDIS_ADMIN_URL="redis://admin:$REDIS_ADMIN_PASSWORD@$base"
  REDIS_GENESIS_URL="redis://genesis:$REDIS_GENESIS_PASSWORD@$base"
  REDIS_PERMESI_URL="redis://permesi:$REDIS_PERMESI_PASSWORD@$base"
  REDIS_URL="$REDIS_ADMIN_URL"
}

# Sets REDIS_{ADMIN,GENESIS,PERMESI}_PASSWORD for the current instance.
redis_passwords() {
  if [[ "$REDIS_NAME" != dev ]]; then
    REDIS_ADMIN_PASSWORD=admin-test
    REDIS_GENESIS_PASSWORD=genesis-test
    REDIS_PERMESI_PASSWORD=permesi-test
    return 0
  fi
  local file="$REDIS_DIR/passwords" key value
  if [[ ! -s "$file" ]]; then
    mkdir -p "$REDIS_DIR"
    (
      umask 077
      printf 'admin=%s\ngenesis=%s\npermesi=%s\n' "$(random_hex 24)" "$(random_hex 24)" "$(random_hex 24)" >"$file.tmp"
      mv -f "$file.tmp" "$file"
    )
  fi
  REDIS_ADMIN_PASSWORD='' REDIS_GENESIS_PASSWORD='' REDIS_PERMESI_PASSWORD=''
  while IFS='=' read -r key value; do
    case "$key" in
      admin) REDIS_ADMIN_PASSWORD="$value" ;;
      genesis) REDIS_GENESIS_PASSWORD="$value" ;;
      permesi) REDIS_PERMESI_PASSWORD="$value" ;;
    esac
  done <"$file"
  [[ -n "$REDIS_ADMIN_PASSWORD" && -n "$REDIS_GENESIS_PASSWORD" && -n "$REDIS_PERMESI_PASSWORD" ]] ||
    die "$file lacks a password (admin=, genesis=, permesi=); delete it to make new ones"
}

# The URL a service connects with: redis_service_url genesis|permesi.
redis_service_url() {
  case "$1" in
    genesis) printf '%s' "$REDIS_GENESIS_URL" ;;
    permesi) printf '%s' "$REDIS_PERMESI_URL" ;;
    *) die "redis_service_url: unknown service $1" ;;
  esac
}

# redis_cli_as USER ARGS...: the CLI on the current instance as an ACL user (admin, genesis,
# permesi); the password goes through the environment, never the command line.
redis_cli_as() {
  local user="$1" pw cli
  shift
  case "$user" in
    admin) pw="$REDIS_ADMIN_PASSWORD" ;;
    genesis) pw="$REDIS_GENESIS_PASSWORD" ;;
    permesi) pw="$REDIS_PERMESI_PASSWORD" ;;
    *) die "redis_cli_as: unknown user $user" ;;
  esac
  cli="$(redis_cli_bin)" || return 1
  REDISCLI_AUTH="$pw" VALKEYCLI_AUTH="$pw" "$cli" --no-auth-warning --user "$user" -h 127.0.0.1 -p "$REDIS_PORT" "$@"
}
# redis_cli ARGS...: as admin.
redis_cli() { redis_cli_as admin "$@"; }

# Does the instance answer, and accept our admin? (redis-cli goes on as `default` after a failed
# AUTH, so ask who we are rather than PING.)
redis_ping() {
  [[ "$(redis_cli acl whoami 2>/dev/null)" == admin ]]
}

# Does anything listen on the instance's port?
redis_port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$REDIS_PORT") 2>/dev/null; }

redis_our_pid() {
  local pid
  [[ -f "$REDIS_PID" ]] || return 1
  pid="$(cat "$REDIS_PID")"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

# Write the instance's ACL file from config/valkey/users.acl (password hashes only, 0600).
redis_write_acl() {
  mkdir -p "$REDIS_DIR"
  VALKEY_PASSWORD_ADMIN="$REDIS_ADMIN_PASSWORD" \
    VALKEY_PASSWORD_GENESIS="$REDIS_GENESIS_PASSWORD" \
    VALKEY_PASSWORD_PERMESI="$REDIS_PERMESI_PASSWORD" \
    sh "$REDIS_ACL_RENDER" "$REDIS_ACL_TEMPLATE" "$REDIS_ACL" ||
    die "could not write $REDIS_ACL"
}

redis_start() {
  local srv
  srv="$(redis_server_bin)" || die "redis-server/valkey-server not found (scripts/deps.sh installs it)"
  redis_write_acl
  if redis_ping; then
    # Ours or not, it knows our admin: load the current ACL file when it is ours.
    if redis_our_pid >/dev/null; then
      redis_cli ACL LOAD >/dev/null 2>&1 || warn "ACL LOAD failed on 127.0.0.1:$REDIS_PORT"
      ok "$srv ($REDIS_NAME) already running on 127.0.0.1:$REDIS_PORT"
    else
      warn "something else already answers redis on 127.0.0.1:$REDIS_PORT with our admin password; using it"
    fi
    return 0
  fi
  if redis_our_pid >/dev/null; then
    # Started before the ACL users existed (or with other passwords): restart it.
    warn "$srv ($REDIS_NAME) runs without the current ACL users: restarting it"
    redis_stop
  elif redis_port_open; then
    die "something else listens on 127.0.0.1:$REDIS_PORT and does not accept the permesi ACL users (stop it, or free the port)"
  fi
  mkdir -p "$REDIS_DIR"
  local -a persist=()
  if [[ "$REDIS_NAME" == test ]]; then persist=(--save '' --appendonly no); fi
  log "starting $srv ($REDIS_NAME) on 127.0.0.1:$REDIS_PORT (ACL users admin, genesis, permesi)"
  "$srv" --port "$REDIS_PORT" --bind 127.0.0.1 --protected-mode yes --dir "$REDIS_DIR" \
    --aclfile "$REDIS_ACL" \
    --daemonize yes --pidfile "$REDIS_PID" --logfile "$REDIS_LOG" "${persist[@]}" >/dev/null ||
    die "$srv failed to start; log: $REDIS_LOG"
  local i
  for ((i = 0; i < 100; i++)); do
    redis_ping && return 0
    sleep 0.1
  done
  tail -n 20 "$REDIS_LOG" >&2 || true
  die "$srv ($REDIS_NAME) did not answer on 127.0.0.1:$REDIS_PORT; log: $REDIS_LOG"
}

redis_stop() {
  local pid i
  pid="$(redis_our_pid)" || {
    rm -f "$REDIS_PID"
    return 0
  }
  log "stopping redis ($REDIS_NAME, pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  rm -f "$REDIS_PID"
}

redis_status() {
  local shown
  shown="redis://127.0.0.1:$REDIS_PORT (users admin, genesis, permesi; passwords: $(redis_passwords_hint))"
  if redis_our_pid >/dev/null && redis_ping; then
    ok "redis ($REDIS_NAME): running, $shown (pid $(redis_our_pid))"
  elif redis_ping; then
    echo "redis ($REDIS_NAME): a foreign server answers on $shown"
  else
    echo "redis ($REDIS_NAME): stopped"
    return 3
  fi
}

redis_passwords_hint() {
  if [[ "$REDIS_NAME" == dev ]]; then printf '%s' "${REDIS_DIR#"$ROOT"/}/passwords"; else printf 'fixed test ones'; fi
}

# ------------------------------------------------------------------ http ---
# http_code URL -> prints the status code (000 when nothing answers).
http_code() {
  curl -s -o /dev/null -m 3 -w '%{http_code}' "$1" 2>/dev/null || true
}

# wait_for_url URL TIMEOUT_SECONDS [LABEL]: wait until URL answers 200.
wait_for_url() {
  local url="$1" timeout="$2" label="${3:-$1}" start code
  start=$SECONDS
  while :; do
    code="$(http_code "$url")"
    [[ "$code" == 200 ]] && return 0
    ((SECONDS - start >= timeout)) && {
      warn "$label: no 200 from $url after ${timeout}s (last status: $code)"
      return 1
    }
    sleep 1
  done
}

# A free loopback TCP port in 20000-39999 (clear of the dev, test and browser-test ports).
free_port() {
  local p i
  for ((i = 0; i < 200; i++)); do
    p=$((20000 + RANDOM % 20000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return 0
    fi
  done
  return 1
}

# ------------------------------------------------------------- processes ---
# Is the process (or its process group) in pidfile alive?
pidfile_alive() {
  local pid
  [[ -f "$1" ]] || return 1
  pid="$(cat "$1")"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null
}

# Stop a process group started with setsid (pid == pgid), then the pid itself.
kill_pidfile() {
  local file="$1" pid i
  [[ -f "$file" ]] || return 0
  pid="$(cat "$file")"
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$file"
}
