#!/usr/bin/env bash
# Build, serve and check the permesi console (apps/web), offline.
#
#   scripts/web.sh install   add the wasm32 target, install wasm-bindgen-cli (the version of the
#                            wasm-bindgen crate in Cargo.lock) and trunk, run `npm ci` when needed
#   scripts/web.sh build     install, then `trunk build --release` into apps/web/dist/
#   scripts/web.sh serve     install, then `trunk serve` on 127.0.0.1:8080 (extra args go to trunk)
#   scripts/web.sh check     build, then assert dist/index.html and a .wasm file exist
#
# Works from any directory, as root or as a normal user; every step is skipped when already
# done. Build-time settings pass through the environment: PERMESI_API_BASE_URL,
# PERMESI_TOKEN_BASE_URL, PERMESI_CLIENT_ID (see apps/web/src/config.rs). With
# PERMESI_HAPROXY=1 and no base URLs set, the console is built for the TLS front
# (https://api.permesi.localhost, https://genesis.permesi.localhost; :8443 when the front cannot
# bind 443). CARGO_TARGET_DIR is honoured.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WEB="$ROOT/apps/web"
TRUNK_VERSION="0.21.14"
WASM_TARGET="wasm32-unknown-unknown"

CARGO_BIN="${CARGO_HOME:-$HOME/.cargo}/bin"
case ":$PATH:" in
  *":$CARGO_BIN:"*) ;;
  *) export PATH="$CARGO_BIN:$PATH" ;;
esac

log() { printf 'web.sh: %s\n' "$*" >&2; }
die() { printf 'web.sh: error: %s\n' "$*" >&2; exit 1; }

need() {
  command -v "$1" >/dev/null 2>&1 || die "$1 not found on PATH ($2)"
}

# Version of a package in Cargo.lock (first match), empty when absent.
lock_version() {
  awk -v name="$1" '
    $0 == "name = \"" name "\"" { getline; gsub(/^version = "|"$/, ""); print; exit }
  ' "$ROOT/Cargo.lock"
}

# The wasm-bindgen crate version the console builds with.
wasm_bindgen_version() {
  if [[ ! -f "$ROOT/Cargo.lock" ]]; then
    log "Cargo.lock missing: resolving the workspace (cargo generate-lockfile)"
    (cd "$ROOT" && cargo generate-lockfile)
  fi
  local v
  v="$(lock_version wasm-bindgen)"
  [[ -n "$v" ]] || die "no wasm-bindgen in $ROOT/Cargo.lock"
  printf '%s\n' "$v"
}

# The wasm-bindgen version pinned in Trunk.toml's [tools] table.
trunk_toml_wasm_bindgen() {
  sed -n 's/^wasm_bindgen *= *"\([^"]*\)".*/\1/p' "$WEB/Trunk.toml" | head -n 1
}

install_target() {
  need rustup "install Rust with rustup"
  if rustup target list --installed | grep -qx "$WASM_TARGET"; then
    return 0
  fi
  log "installing Rust target $WASM_TARGET"
  rustup target add "$WASM_TARGET"
}

install_wasm_bindgen() {
  local want have pinned
  want="$(wasm_bindgen_version)"
  pinned="$(trunk_toml_wasm_bindgen)"
  [[ "$pinned" == "$want" ]] \
    || die "apps/web/Trunk.toml pins wasm_bindgen = \"$pinned\" but Cargo.lock has $want: make them equal"
  have="$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)"
  if [[ "$have" == "$want" ]]; then
    return 0
  fi
  log "installing wasm-bindgen-cli $want (found: ${have:-none}); takes a few minutes"
  # No --locked: the registry index can lag wasm-bindgen-cli's lock file.
  cargo install wasm-bindgen-cli --version "$want"
}

install_trunk() {
  local have
  have="$(trunk --version 2>/dev/null | awk '{print $2}' || true)"
  if [[ "$have" == "$TRUNK_VERSION" ]]; then
    return 0
  fi
  log "installing trunk $TRUNK_VERSION (found: ${have:-none}); takes several minutes"
  # --locked: without it newer lightningcss/parcel_selectors releases break trunk's build.
  cargo install trunk --version "$TRUNK_VERSION" --locked
}

install_node_modules() {
  need npm "install Node.js 20+ with npm"
  local stamp="$WEB/node_modules/.package-lock.json"
  if [[ -f "$stamp" && ! "$WEB/package-lock.json" -nt "$stamp" && ! "$WEB/package.json" -nt "$stamp" ]]; then
    return 0
  fi
  log "installing npm packages in apps/web (npm ci)"
  (cd "$WEB" && npm ci --no-audit --no-fund)
}

# Behind the TLS front (scripts/haproxy.sh) the console must call the APIs through it too:
# same site as https://permesi.localhost, so the session cookie is sent.
haproxy_urls() {
  [[ "${PERMESI_HAPROXY:-}" == 1 ]] || return 0
  local domain="${LB_DOMAIN:-permesi.localhost}" port=""
  if [[ "$(id -u)" -ne 0 ]] &&
    (($(cat /proc/sys/net/ipv4/ip_unprivileged_port_start 2>/dev/null || echo 1024) > 443)); then
    port=":8443"
  fi
  export PERMESI_API_BASE_URL="${PERMESI_API_BASE_URL:-https://api.$domain$port}"
  export PERMESI_TOKEN_BASE_URL="${PERMESI_TOKEN_BASE_URL:-https://genesis.$domain$port}"
  log "PERMESI_HAPROXY=1: API $PERMESI_API_BASE_URL, genesis $PERMESI_TOKEN_BASE_URL"
}

install() {
  need cargo "install Rust with rustup"
  install_target
  install_wasm_bindgen
  install_trunk
  install_node_modules
}

build() {
  install
  haproxy_urls
  log "building the console (trunk build --release) into apps/web/dist/"
  (cd "$WEB" && trunk build --release)
}

# Trunk refuses to start when a [watch] ignore path of Trunk.toml does not exist yet
# ("error taking the canonical path to the watch ignore path"). style/output.css is written by
# the Tailwind hook of the first build, so on a fresh clone it is missing: create the ignored
# paths empty; the hook overwrites the stylesheet before Trunk reads it.
ensure_watch_ignores() {
  local path
  while IFS= read -r path; do
    [[ -n "$path" && ! -e "$WEB/$path" ]] || continue
    case "$path" in
      *.*) mkdir -p "$(dirname "$WEB/$path")" && : >"$WEB/$path" ;;
      *) mkdir -p "$WEB/$path" ;;
    esac
  done < <(trunk_toml_watch_ignores)
}

# The paths in Trunk.toml's [watch] ignore list, one a line.
trunk_toml_watch_ignores() {
  awk '
    /^\[/ { section = $0 }
    section == "[watch]" && /^ignore *=/ {
      line = $0
      sub(/^[^[]*\[/, "", line); sub(/\].*$/, "", line)
      n = split(line, parts, ",")
      for (i = 1; i <= n; i++) {
        p = parts[i]; gsub(/^[ "]+|[ "]+$/, "", p)
        if (p != "") print p
      }
    }
  ' "$WEB/Trunk.toml"
}

serve() {
  install
  haproxy_urls
  ensure_watch_ignores
  log "serving the console on http://127.0.0.1:8080/ (Ctrl-C to stop)"
  cd "$WEB"
  exec trunk serve "$@"
}

check() {
  build
  local dist="$WEB/dist"
  [[ -f "$dist/index.html" ]] || die "missing $dist/index.html"
  compgen -G "$dist/*.wasm" >/dev/null || die "no .wasm file in $dist"
  compgen -G "$dist/*.css" >/dev/null || die "no .css file in $dist"
  log "ok: $(find "$dist" -maxdepth 1 -type f -printf '%f ')"
}

usage() {
  sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

cmd="${1:-}"
[[ $# -gt 0 ]] && shift
case "$cmd" in
  install) install ;;
  build) build ;;
  serve) serve "$@" ;;
  check) check ;;
  -h | --help | help) usage ;;
  *) usage >&2; exit 2 ;;
esac
