#!/usr/bin/env bash
# Proves the Valkey/Redis split trust (config/valkey/users.acl) on a real server: genesis
# reaches genesis:* keys only, permesi permesi:* only, with every command the services use
# (GET/SET/GETDEL/MGET/PEXPIRE/EVAL/EVALSHA/SCRIPT LOAD, and what fred sends on connect: AUTH,
# HELLO, SELECT, CLIENT ID, INFO); cross-service keys, key listing, flushes and admin commands
# are refused; a client that does not authenticate can run nothing.
#
#   scripts/test-redis-acl.sh          the test instance (127.0.0.1:6380) when it answers
#                                      (scripts/test.sh starts it), else a private one
#   scripts/test-redis-acl.sh --own    always a private instance on a free port (temp dir)
#
# Prints `redis-acl: N passed, M failed`; exits non-zero on any failure.
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

own=0
case "${1:-}" in
  --own) own=1 ;;
  '') ;;
  *) die "usage: scripts/test-redis-acl.sh [--own]" ;;
esac

work=''
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -n "$work" ]]; then
    redis_stop >/dev/null 2>&1 || true
    rm -rf "$work"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

redis_instance test
if ((own)) || ! redis_ping; then
  work="$(mktemp -d "${TMPDIR:-/tmp}/permesi-acl.XXXXXX")"
  redis_instance test "$(free_port)" "$work"
  redis_start >/dev/null 2>&1 || {
    cat "$REDIS_LOG" >&2 2>/dev/null || true
    die "could not start a private redis on 127.0.0.1:$REDIS_PORT"
  }
fi
log "ACL checks on 127.0.0.1:$REDIS_PORT ($("$(redis_server_bin)" --version | cut -d' ' -f1-3))"

passed=0 failed=0
# check LABEL REGEX USER ARGS...: USER's reply must match REGEX (extended, whole output).
check() {
  local label="$1" want="$2" user="$3" got
  shift 3
  if [[ "$user" == none ]]; then
    got="$("$(redis_cli_bin)" -h 127.0.0.1 -p "$REDIS_PORT" "$@" 2>&1 || true)"
  else
    got="$(redis_cli_as "$user" "$@" 2>&1 || true)"
  fi
  got="${got//$'\n'/ }"
  got="${got% }"
  if [[ "$got" =~ ^($want)$ ]]; then
    passed=$((passed + 1))
    printf '  ok    %s\n' "$label"
  else
    failed=$((failed + 1))
    printf '  FAIL  %s: wanted /%s/, got: %s\n' "$label" "$want" "${got:0:200}"
  fi
}

NOPERM='NOPERM.*|ERR.*(permission|can.t access|no permissions).*'
SET_LUA="return redis.call('set', KEYS[1], ARGV[1])"
GET_LUA="return redis.call('get', KEYS[1])"
# A run-unique suffix: the instance may be shared with other tests.
t="acl-check-$$-$RANDOM"

# The default user is off: nothing without credentials, and no password opens it.
check "no credentials: PING refused" 'NOAUTH.*' none ping
check "no credentials: GET refused" 'NOAUTH.*' none get "genesis:$t"
check "default user cannot log in" 'WRONGPASS.*' none auth default "$REDIS_ADMIN_PASSWORD"

for me in genesis permesi; do
  if [[ "$me" == genesis ]]; then other=permesi; else other=genesis; fi
  mine="$me:$t" theirs="$other:$t"
  check "admin seeds $theirs" 'OK' admin set "$theirs" seeded

  # What fred sends on connect (and that the password works: redis-cli would go on as
  # `default` after a failed AUTH).
  check "$me: authenticated as $me" "$me" "$me" acl whoami
  check "$me: PING" 'PONG' "$me" ping
  if [[ "$me" == genesis ]]; then pw="$REDIS_GENESIS_PASSWORD"; else pw="$REDIS_PERMESI_PASSWORD"; fi
  check "$me: HELLO 3 AUTH (RESP3)" '.*proto 3.*' none hello 3 auth "$me" "$pw"
  check "$me: SELECT 7" 'PONG' "$me" -n 7 ping
  check "$me: CLIENT ID" '[0-9]+' "$me" client id
  check "$me: INFO server" '.*(redis|valkey)_version:.*' "$me" info server

  # Its own keys, with the commands the services use.
  check "$me: SET $mine" 'OK' "$me" set "$mine" 1
  check "$me: GET $mine" '1' "$me" get "$mine"
  check "$me: PEXPIRE $mine" '1' "$me" pexpire "$mine" 60000
  check "$me: MGET own keys" '1 ?' "$me" mget "$mine" "$mine:absent"
  check "$me: GETDEL $mine" '1' "$me" getdel "$mine"
  check "$me: SET NX PX" 'OK' "$me" set "$mine:nx" v nx px 60000
  check "$me: INCR" '1' "$me" incr "$mine:n"
  check "$me: EVAL on its key" 'OK' "$me" eval "$SET_LUA" 1 "$mine:lua" v
  sha="$(printf '%s' "$GET_LUA" | sha1sum | cut -d' ' -f1)"
  check "$me: SCRIPT LOAD" "$sha" "$me" script load "$GET_LUA"
  check "$me: EVALSHA on its key" 'v' "$me" evalsha "$sha" 1 "$mine:lua"
  check "$me: DEL own keys" '[0-9]+' "$me" del "$mine:nx" "$mine:n" "$mine:lua"

  # The other service's keys, directly or through a script.
  check "$me: GET $theirs refused" "$NOPERM" "$me" get "$theirs"
  check "$me: SET $theirs refused" "$NOPERM" "$me" set "$theirs" x
  check "$me: DEL $theirs refused" "$NOPERM" "$me" del "$theirs"
  check "$me: GETDEL $theirs refused" "$NOPERM" "$me" getdel "$theirs"
  check "$me: MGET mixed refused" "$NOPERM" "$me" mget "$mine" "$theirs"
  check "$me: PEXPIRE $theirs refused" "$NOPERM" "$me" pexpire "$theirs" 1
  check "$me: RENAME into $theirs refused" "$NOPERM" "$me" rename "$mine" "$theirs:x"
  check "$me: COPY into $theirs refused" "$NOPERM" "$me" copy "$mine" "$theirs:x"
  check "$me: EVAL with $theirs as KEYS refused" "$NOPERM" "$me" eval "$GET_LUA" 1 "$theirs"
  check "$me: EVAL reaching $theirs undeclared refused" "$NOPERM" "$me" eval "return redis.call('get', '$theirs')" 0
  check "$me: unprefixed key refused" "$NOPERM" "$me" set "$t" x

  # Listing keys, flushing, administration.
  for cmd in "keys *" "scan 0" "randomkey" "flushall" "flushdb" "config get maxmemory" "acl list" \
    "script flush" "function flush" "client list" "client kill id 1" \
    "client tracking on bcast prefix $other:" "save" "slowlog get" "publish x y"; do
    read -r -a words <<<"$cmd" # no globbing of `keys *`
    check "$me: $cmd refused" "$NOPERM" "$me" "${words[@]}"
  done
  check "admin still reads $theirs" 'seeded' admin getdel "$theirs"
done

echo
echo "redis-acl: $passed passed, $failed failed"
((failed == 0))
