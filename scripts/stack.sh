#!/usr/bin/env bash
# The local dev stack: PostgreSQL + Redis/Valkey + genesis + permesi + console.
#
#   scripts/stack.sh start [--detach]   deps, build, PG, redis, migrate, services (tmux when present)
#   scripts/stack.sh up                 start --detach, then wait for /ready (exit 1 on timeout)
#   scripts/stack.sh down               stop services, haproxy, redis and PostgreSQL
#   scripts/stack.sh status | logs NAME | migrate | openapi | reset
#
# Environment knobs (none of them reach the services):
#   DEV_SERVICES="genesis permesi web"  which services to run (subset allowed)
#   DEV_NO_TMUX=1                       background processes even when tmux exists
#   DEV_SKIP_BUILD=1                    use the binaries already built
#   UP_TIMEOUT=600                      seconds `up` waits for readiness
#   DEV_WEB_RELEASE=1                   serve the console's release build (the one `just test`
#                                       and `just web-build` make: no second, debug, build)
#   PERMESI_HAPROXY=1                   also start the TLS front (scripts/haproxy.sh)
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SERVICES="${DEV_SERVICES:-genesis permesi web}"
read -r -a SERVICES <<<"$SERVICES"
for s in "${SERVICES[@]}"; do
  case "$s" in genesis | permesi | web) ;; *) die "DEV_SERVICES: unknown service '$s'" ;; esac
done

wants() {
  local s
  for s in "${SERVICES[@]}"; do [[ "$s" == "$1" ]] && return 0; done
  return 1
}
wants_rust() { wants genesis || wants permesi; }
use_tmux() { [[ -z "${DEV_NO_TMUX:-}" ]] && have tmux; }
tmux_running() { have tmux && tmux has-session -t "=$TMUX_SESSION" 2>/dev/null; }

service_url() {
  case "$1" in
    genesis) echo "http://127.0.0.1:$GENESIS_PORT/ready" ;;
    permesi) echo "http://127.0.0.1:$PERMESI_PORT/ready" ;;
    web) echo "http://127.0.0.1:$WEB_PORT/" ;;
  esac
}

log_file() {
  case "$1" in
    postgres | pg)
      pg_instance dev
      echo "$PG_LOG"
      ;;
    redis | valkey)
      redis_instance dev
      echo "$REDIS_LOG"
      ;;
    *) echo "$LOG_DIR/$1.log" ;;
  esac
}

# Web is skipped (with a warning) while scripts/web.sh does not exist yet.
effective_services() {
  local s
  for s in "${SERVICES[@]}"; do
    if [[ "$s" == web && ! -f "$ROOT/scripts/web.sh" ]]; then
      warn "scripts/web.sh not found: the console (web) is skipped" >&2
      continue
    fi
    echo "$s"
  done
}

run_migrations() {
  local s
  for s in genesis permesi; do
    wants "$s" || continue
    log "$s migrate"
    bash "$ROOT/scripts/run-service.sh" "$s" migrate || die "$s migrate failed"
  done
}

infra_up() {
  pg_instance dev
  pg_start
  redis_instance dev
  redis_start
}

start_tmux() {
  local -a svcs=("$@")
  local first=1 s cmd logf
  local -a envs=(-e "CARGO_TARGET_DIR=$(target_dir)" -e "PATH=$PATH")
  [[ -n "${RUST_LOG:-}" ]] && envs+=(-e "RUST_LOG=$RUST_LOG")
  [[ "${DEV_WEB_RELEASE:-}" == 1 ]] && envs+=(-e "TRUNK_BUILD_RELEASE=true")
  log "tmux session '$TMUX_SESSION': ${svcs[*]} + shell"
  for s in "${svcs[@]}"; do
    cmd="bash $(printf '%q' "$ROOT/scripts/pane.sh") $s"
    logf="cat >> $(printf '%q' "$LOG_DIR/$s.log")"
    printf '\n===== %s start %s =====\n' "$s" "$(date -Is)" >>"$LOG_DIR/$s.log"
    rm -f "$RUN_DIR/$s.exit" "$RUN_DIR/$s.pane-pid"
    # pipe-pane in the same command sequence: no early output is lost.
    if ((first)); then
      tmux new-session -d -s "$TMUX_SESSION" -n stack -x 240 -y 60 -c "$ROOT" "${envs[@]}" "$cmd" \; \
        pipe-pane -o "$logf" \; select-pane -T "$s"
      first=0
    else
      tmux split-window -t "=$TMUX_SESSION:stack" -c "$ROOT" "${envs[@]}" "$cmd" \; \
        pipe-pane -o "$logf" \; select-pane -T "$s" \; select-layout tiled
    fi
  done
  if ((first)); then
    tmux new-session -d -s "$TMUX_SESSION" -n stack -c "$ROOT" "${envs[@]}"
  else
    tmux split-window -t "=$TMUX_SESSION:stack" -c "$ROOT" "${envs[@]}" \; select-pane -T shell \; select-layout tiled
  fi
  tmux set-option -w -t "=$TMUX_SESSION:stack" pane-border-status top >/dev/null
  tmux set-option -w -t "=$TMUX_SESSION:stack" pane-border-format ' #{pane_title} ' >/dev/null
}

start_background() {
  local s
  for s in "$@"; do
    if pidfile_alive "$RUN_DIR/$s.pid"; then
      ok "$s already running (pid $(cat "$RUN_DIR/$s.pid"))"
      continue
    fi
    printf '\n===== %s start %s =====\n' "$s" "$(date -Is)" >>"$LOG_DIR/$s.log"
    if [[ "${DEV_WEB_RELEASE:-}" == 1 ]]; then export TRUNK_BUILD_RELEASE=true; fi
    setsid nohup bash "$ROOT/scripts/run-service.sh" "$s" >>"$LOG_DIR/$s.log" 2>&1 </dev/null &
    echo $! >"$RUN_DIR/$s.pid"
    ok "$s started in the background (pid $!), log: ${LOG_DIR#"$ROOT"/}/$s.log"
  done
}

attach() {
  if [[ -n "${TMUX:-}" ]]; then
    exec tmux switch-client -t "=$TMUX_SESSION"
  fi
  exec tmux attach-session -t "=$TMUX_SESSION"
}

maybe_haproxy() {
  if [[ "${PERMESI_HAPROXY:-}" == 1 ]]; then
    bash "$ROOT/scripts/haproxy.sh" start
  fi
}

cmd_start() {
  local detach=0 quiet=0 arg
  for arg in "$@"; do
    case "$arg" in
      --detach) detach=1 ;;
      --quiet) quiet=1 ;;
    esac
  done
  ensure_dirs
  local -a dep_args=()
  wants web || dep_args+=(--no-web)
  use_tmux || dep_args+=(--no-tmux)
  bash "$ROOT/scripts/deps.sh" "${dep_args[@]}"

  if tmux_running; then
    infra_up
    maybe_haproxy
    if ((detach)) || [[ ! -t 0 || ! -t 1 ]]; then
      ok "tmux session '$TMUX_SESSION' already running (just status / tmux attach -t $TMUX_SESSION)"
      return 0
    fi
    log "tmux session '$TMUX_SESSION' already running: attaching"
    attach
  fi

  if wants_rust && [[ -z "${DEV_SKIP_BUILD:-}" ]]; then build_services; fi
  infra_up
  run_migrations

  local -a svcs=()
  mapfile -t svcs < <(effective_services)
  if use_tmux && ! bg_running; then
    start_tmux "${svcs[@]}"
  else
    have tmux || warn "tmux not found: running the services in the background"
    start_background "${svcs[@]}"
  fi

  maybe_haproxy

  ((quiet)) || summary
  if ((!detach)) && use_tmux && [[ -t 0 && -t 1 ]]; then
    attach
  fi
}

summary() {
  echo >&2
  wants genesis && echo "  genesis  http://127.0.0.1:$GENESIS_PORT   (log .dev/logs/genesis.log)" >&2
  wants permesi && echo "  permesi  http://127.0.0.1:$PERMESI_PORT   (log .dev/logs/permesi.log)" >&2
  if wants web && [[ -f "$ROOT/scripts/web.sh" ]]; then
    echo "  console  http://127.0.0.1:$WEB_PORT   (log .dev/logs/web.log)" >&2
  fi
  pg_instance dev
  echo "  postgres $(pg_url postgres postgres)" >&2
  echo "  redis    redis://127.0.0.1:6379  (ACL users admin/genesis/permesi: just redis url USER)" >&2
  if tmux_running; then
    echo "  tmux     tmux attach -t $TMUX_SESSION   (stop: just down)" >&2
  else
    echo "  pids     .dev/run/*.pid   (stop: just down)" >&2
  fi
  echo >&2
}

# Are services from an earlier background (no tmux) start still running?
bg_running() {
  local s
  for s in genesis permesi web; do
    pidfile_alive "$RUN_DIR/$s.pid" && return 0
  done
  return 1
}

# The pid of a service's process: .dev/run/NAME.pid (background) or .dev/run/NAME.pane-pid,
# written by scripts/pane.sh in tmux. run-service.sh and web.sh exec, so it is the process that
# listens once the service is up.
service_pid() {
  local f
  for f in "$RUN_DIR/$1.pid" "$RUN_DIR/$1.pane-pid"; do
    if [[ -s "$f" ]]; then
      cat "$f"
      return 0
    fi
  done
  return 1
}

# service_state NAME -> alive | dead | starting (a tmux pane that has not recorded its pid yet).
service_state() {
  local s="$1" pid
  if [[ -f "$RUN_DIR/$s.pid" ]]; then
    if pidfile_alive "$RUN_DIR/$s.pid"; then echo alive; else echo dead; fi
  elif [[ -f "$RUN_DIR/$s.exit" ]]; then
    echo dead
  elif pid="$(service_pid "$s")"; then
    if kill -0 "$pid" 2>/dev/null; then echo alive; else echo dead; fi
  elif tmux_running; then
    echo starting
  else
    echo dead
  fi
}
service_dead() { [[ "$(service_state "$1")" == dead ]]; }

service_port() {
  case "$1" in
    genesis) echo "$GENESIS_PORT" ;;
    permesi) echo "$PERMESI_PORT" ;;
    web) echo "$WEB_PORT" ;;
  esac
}

# Is the listener on the service's port its own process? (true when `ss` cannot tell)
service_owns_port() {
  local pid port out
  pid="$(service_pid "$1")" || return 1
  port="$(service_port "$1")"
  have ss || return 0
  out="$(ss -Hltnp "sport = :$port" 2>/dev/null)" || return 0
  [[ "$out" == *"pid=$pid,"* ]]
}

# Last lines of a service's log, framed, on stderr.
show_log_tail() {
  local f
  f="$(log_file "$1")"
  echo "----- last lines of $f -----" >&2
  tail -n "${2:-40}" "$f" >&2 || true
  echo "-----" >&2
}

cmd_up() {
  cmd_start --detach --quiet
  local timeout="${UP_TIMEOUT:-600}" start=$SECONDS s url code last_report=$SECONDS
  local -a pending=()
  mapfile -t pending < <(effective_services 2>/dev/null)
  log "waiting for: ${pending[*]} (timeout ${timeout}s)"
  while ((${#pending[@]})); do
    local -a still=()
    for s in "${pending[@]}"; do
      url="$(service_url "$s")"
      code="$(http_code "$url")"
      if [[ "$code" == 200 ]]; then
        ok "$s ready ($url)"
      elif service_dead "$s"; then
        show_log_tail "$s"
        die "$s exited before it was ready; full log: $(log_file "$s")"
      else
        still+=("$s")
      fi
    done
    pending=("${still[@]}")
    ((${#pending[@]})) || break
    if ((SECONDS - start >= timeout)); then
      for s in "${pending[@]}"; do show_log_tail "$s" 20; done
      die "timed out after ${timeout}s waiting for: ${pending[*]}. Logs: .dev/logs/<name>.log (just logs NAME); the stack is left running (just down)"
    fi
    if ((SECONDS - last_report >= 15)); then
      log "still waiting for: ${pending[*]} ($((SECONDS - start))s)"
      last_report=$SECONDS
    fi
    sleep 1
  done
  # Each service, once more: alive, answering 200, and the listener is its own process. One that
  # answered and died since, or a port answered by a stranger while ours is dead, fails `up`.
  local -a all=() bad=()
  local state
  mapfile -t all < <(effective_services 2>/dev/null)
  for s in "${all[@]}"; do
    url="$(service_url "$s")"
    state="$(service_state "$s")"
    if [[ "$state" == starting ]]; then
      bad+=("$s")
      warn "$s: its tmux pane recorded no pid (a session from an older scripts/pane.sh? just down, then just up)"
    elif [[ "$state" != alive ]]; then
      bad+=("$s")
      show_log_tail "$s"
      warn "$s: its process is not running"
    elif [[ "$(http_code "$url")" != 200 ]]; then
      bad+=("$s")
      show_log_tail "$s"
      warn "$s: $url does not answer 200"
    elif ! service_owns_port "$s"; then
      bad+=("$s")
      warn "$s: 127.0.0.1:$(service_port "$s") answers, but not from $s's process (pid $(service_pid "$s")): something else holds the port"
    fi
  done
  ((${#bad[@]} == 0)) || die "not up: ${bad[*]} (logs: just logs NAME; stop: just down)"
  ok "stack is up"
  summary
}

cmd_down() {
  local s pid i
  ensure_dirs
  if [[ -f "$RUN_DIR/haproxy.pid" ]]; then bash "$ROOT/scripts/haproxy.sh" stop; fi
  if tmux_running; then
    log "stopping tmux session '$TMUX_SESSION'"
    local -a pids=()
    mapfile -t pids < <(tmux list-panes -s -t "=$TMUX_SESSION" -F '#{pane_pid}' 2>/dev/null || true)
    # Each pane is its own session; its process group holds the service and its children.
    for pid in "${pids[@]}"; do
      kill -TERM -- "-$pid" 2>/dev/null || true
    done
    for ((i = 0; i < 100; i++)); do
      local alive=0
      for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
      ((alive)) || break
      sleep 0.1
    done
    tmux kill-session -t "=$TMUX_SESSION" 2>/dev/null || true
  fi
  for s in genesis permesi web; do
    if [[ -f "$RUN_DIR/$s.pid" ]]; then
      log "stopping $s"
      kill_pidfile "$RUN_DIR/$s.pid"
    fi
    rm -f "$RUN_DIR/$s.exit" "$RUN_DIR/$s.pane-pid"
  done
  redis_instance dev
  redis_stop
  pg_instance dev
  pg_stop
  ok "stack stopped"
}

cmd_status() {
  local s url
  if tmux_running; then
    ok "tmux session '$TMUX_SESSION' (tmux attach -t $TMUX_SESSION)"
  else
    echo "tmux session '$TMUX_SESSION': not running"
  fi
  for s in genesis permesi web; do
    local state=''
    if [[ -f "$RUN_DIR/$s.pid" ]]; then
      pidfile_alive "$RUN_DIR/$s.pid" && state="pid $(cat "$RUN_DIR/$s.pid")" || state="dead (stale pid file)"
    elif [[ -f "$RUN_DIR/$s.exit" ]]; then
      state="exited with status $(cat "$RUN_DIR/$s.exit")"
    elif [[ -s "$RUN_DIR/$s.pane-pid" ]]; then
      pidfile_alive "$RUN_DIR/$s.pane-pid" && state="tmux pane, pid $(cat "$RUN_DIR/$s.pane-pid")" || state="dead (stale pid file)"
    elif tmux_running && tmux list-panes -s -t "=$TMUX_SESSION" -F '#{pane_title}' | grep -qx "$s"; then
      state="tmux pane"
    fi
    url="$(service_url "$s")"
    printf '%-8s %-28s %s -> %s\n' "$s" "${state:--}" "$url" "$(http_code "$url")"
  done
  pg_instance dev
  pg_status || true
  redis_instance dev
  redis_status || true
  if [[ -f "$ROOT/scripts/haproxy.sh" ]]; then bash "$ROOT/scripts/haproxy.sh" status || true; fi
  return 0
}

cmd_logs() {
  local name="${1:-}"
  [[ -n "$name" ]] || die "usage: just logs genesis|permesi|web|postgres|redis|haproxy"
  local f
  f="$(log_file "$name")"
  [[ -f "$f" ]] || die "no log yet at $f"
  exec tail -n 200 -F "$f"
}

cmd_migrate() {
  ensure_dirs
  [[ -n "${DEV_SKIP_BUILD:-}" ]] || build_services
  infra_up
  run_migrations
  ok "migrations applied"
}

cmd_openapi() {
  local s out
  [[ -n "${DEV_SKIP_BUILD:-}" ]] || build_services
  mkdir -p "$ROOT/docs/openapi"
  for s in genesis permesi; do
    out="$ROOT/docs/openapi/$s.json"
    bash "$ROOT/scripts/run-service.sh" "$s" openapi >"$out.tmp" || {
      rm -f "$out.tmp"
      die "$s openapi failed"
    }
    mv "$out.tmp" "$out"
    ok "wrote docs/openapi/$s.json"
  done
}

cmd_reset() {
  cmd_down
  local inst
  for inst in dev test; do
    pg_instance "$inst"
    pg_destroy
  done
  redis_instance test
  redis_stop
  log "deleting $DEV_DIR"
  rm -rf "$DEV_DIR" "/var/tmp/permesi-$(root_hash)" "${TMPDIR:-/tmp}/permesi-$(root_hash)"
  ok "local data deleted"
}

cmd="${1:-status}"
shift || true
case "$cmd" in
  start) cmd_start "$@" ;;
  up) cmd_up ;;
  down | stop) cmd_down ;;
  status) cmd_status ;;
  logs) cmd_logs "$@" ;;
  migrate) cmd_migrate ;;
  openapi) cmd_openapi ;;
  reset) cmd_reset ;;
  *) die "usage: scripts/stack.sh start [--detach]|up|down|status|logs NAME|migrate|openapi|reset" ;;
esac
