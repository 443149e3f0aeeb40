#!/usr/bin/env bash
# Optional TLS front for the dev stack (config/haproxy/haproxy.cfg):
#   https://permesi.localhost          -> console  127.0.0.1:8080
#   https://api.permesi.localhost      -> permesi  127.0.0.1:8001
#   https://genesis.permesi.localhost  -> genesis  127.0.0.1:8000
#
#   scripts/haproxy.sh start|stop|status|certs|check
#
# Certificates come from mkcert (installed from apt when missing) into .dev/certs/.
# Ports: 443/80 as root; otherwise 8443/8081 (8080 is the console) unless the kernel
# lets users bind below 1024. Override with LB_HTTPS_BIND / LB_HTTP_BIND.
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CFG="$ROOT/config/haproxy/haproxy.cfg"
PIDF="$RUN_DIR/haproxy.pid"
LOGF="$LOG_DIR/haproxy.log"
DOMAIN="permesi.localhost"
CERT="$CERTS_DIR/$DOMAIN.pem"

low_ports_ok() {
  is_root && return 0
  local start
  start="$(cat /proc/sys/net/ipv4/ip_unprivileged_port_start 2>/dev/null || echo 1024)"
  ((start <= 80))
}

lb_env() {
  export LB_DOMAIN="${LB_DOMAIN:-$DOMAIN}"
  if low_ports_ok; then
    export LB_HTTPS_BIND="${LB_HTTPS_BIND:-127.0.0.1:443}" LB_HTTP_BIND="${LB_HTTP_BIND:-127.0.0.1:80}"
  else
    export LB_HTTPS_BIND="${LB_HTTPS_BIND:-127.0.0.1:8443}" LB_HTTP_BIND="${LB_HTTP_BIND:-127.0.0.1:8081}"
  fi
  export LB_TLS_CERT="${LB_TLS_CERT:-$CERT}"
  export LB_GENESIS="${LB_GENESIS:-127.0.0.1:$GENESIS_PORT}"
  export LB_PERMESI="${LB_PERMESI:-127.0.0.1:$PERMESI_PORT}"
  export LB_WEB="${LB_WEB:-127.0.0.1:$WEB_PORT}"
}

ensure_tools() {
  local pkgs=()
  have haproxy || pkgs+=(haproxy)
  have mkcert || pkgs+=(mkcert)
  ((${#pkgs[@]})) || return 0
  have apt-get || { have haproxy || die "install: ${pkgs[*]}"; return 0; }
  log "installing ${pkgs[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq || true
  # The Debian package starts a system haproxy where systemd runs; ours is separate.
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null ||
    have haproxy || die "could not install ${pkgs[*]}"
}

cmd_certs() {
  mkdir -p "$CERTS_DIR"
  chmod 700 "$CERTS_DIR"
  if [[ -s "$CERT" ]]; then
    ok "certificate present: ${CERT#"$ROOT"/}"
    return 0
  fi
  ensure_tools
  local crt="$CERTS_DIR/$DOMAIN.crt" key="$CERTS_DIR/$DOMAIN.key"
  if have mkcert; then
    # Trust the local CA in the system/browser stores (may need root; optional).
    mkcert -install >/dev/null 2>&1 || warn "mkcert -install failed: browsers will not trust the certificate (run it yourself)"
    mkcert -cert-file "$crt" -key-file "$key" \
      "$DOMAIN" "*.$DOMAIN" "api.$DOMAIN" "genesis.$DOMAIN" localhost 127.0.0.1 ::1 >/dev/null 2>&1 ||
      die "mkcert failed"
  else
    warn "mkcert not available: self-signed certificate"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 825 \
      -subj "/CN=$DOMAIN" -keyout "$key" -out "$crt" \
      -addext "subjectAltName=DNS:$DOMAIN,DNS:*.$DOMAIN,DNS:localhost,IP:127.0.0.1" >/dev/null 2>&1 ||
      die "openssl failed"
  fi
  (umask 077 && cat "$crt" "$key" >"$CERT")
  ok "certificate: ${CERT#"$ROOT"/} (${DOMAIN}, *.${DOMAIN})"
}

cmd_check() {
  ensure_tools
  cmd_certs
  lb_env
  haproxy -c -q -f "$CFG"
}

cmd_start() {
  ensure_dirs
  if pidfile_alive "$PIDF"; then
    ok "haproxy already running (pid $(cat "$PIDF"))"
    return 0
  fi
  cmd_check || die "invalid haproxy config"
  lb_env
  log "haproxy: https://$LB_DOMAIN https://api.$LB_DOMAIN https://genesis.$LB_DOMAIN on $LB_HTTPS_BIND"
  printf '\n===== haproxy start %s =====\n' "$(date -Is)" >>"$LOGF"
  setsid nohup haproxy -db -W -f "$CFG" >>"$LOGF" 2>&1 </dev/null &
  echo $! >"$PIDF"
  sleep 0.5
  pidfile_alive "$PIDF" || {
    tail -n 20 "$LOGF" >&2
    rm -f "$PIDF"
    die "haproxy failed to start; log: $LOGF"
  }
  ok "haproxy running (pid $(cat "$PIDF")), log: ${LOGF#"$ROOT"/}"
  case "$LB_HTTPS_BIND" in *:443) ;; *) echo "  port: https://$LB_DOMAIN:${LB_HTTPS_BIND##*:}/" >&2 ;; esac
}

cmd_stop() {
  if [[ -f "$PIDF" ]]; then
    log "stopping haproxy"
    kill_pidfile "$PIDF"
  fi
}

cmd_status() {
  if pidfile_alive "$PIDF"; then
    ok "haproxy: running (pid $(cat "$PIDF"))"
  else
    echo "haproxy: stopped"
    return 3
  fi
}

case "${1:-status}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  certs) cmd_certs ;;
  check) cmd_check && ok "config valid" ;;
  *) die "usage: scripts/haproxy.sh start|stop|status|certs|check" ;;
esac
