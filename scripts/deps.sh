#!/usr/bin/env bash
# Install what the dev stack and the tests need, only when it is missing.
#
#   scripts/deps.sh [--no-web] [--no-tmux] [--no-browser]
#
# System packages (apt): PostgreSQL server + client, redis-server (unless
# valkey-server is on PATH), tmux, curl, chromium (the console's browser tests;
# not with --no-browser). `apt-get update` runs only when
# something has to be installed (and not when the package lists are fresh).
# Rust: rustfmt and clippy components. Console tools: `scripts/web.sh install`
# when that script exists.
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

want_web=1
want_tmux=1
want_browser=1
for arg in "$@"; do
  case "$arg" in
    --no-web) want_web=0 ;;
    --no-tmux) want_tmux=0 ;;
    --no-browser) want_browser=0 ;;
    *) die "usage: scripts/deps.sh [--no-web] [--no-tmux] [--no-browser]" ;;
  esac
done

pkgs=()
have curl || pkgs+=(curl)
have psql || pkgs+=(postgresql-client)
pg_bindir >/dev/null 2>&1 || pkgs+=(postgresql)
have runuser || pkgs+=(util-linux)
have valkey-server || have redis-server || pkgs+=(redis-server)
if ((want_tmux)); then have tmux || pkgs+=(tmux); fi
if ((want_browser)); then [[ -x /usr/bin/chromium ]] || pkgs+=(chromium); fi

apt_lists_fresh() {
  # Something updated the lists in the last hour (CI runs apt-get update first).
  [[ -n "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -60 -print -quit 2>/dev/null)" ]]
}

if ((${#pkgs[@]})); then
  have apt-get || die "missing: ${pkgs[*]} (no apt-get here: install them with your package manager)"
  log "installing: ${pkgs[*]}"
  if ! apt_lists_fresh; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
  # Debian starts the packaged redis/postgres services where systemd runs; the
  # dev stack runs its own instances and does not need them.
fi

if have rustup; then
  comps=()
  cargo fmt --version >/dev/null 2>&1 || comps+=(rustfmt)
  cargo clippy --version >/dev/null 2>&1 || comps+=(clippy)
  if ((${#comps[@]})); then
    log "rustup component add ${comps[*]}"
    rustup component add "${comps[@]}"
  fi
else
  have cargo || die "cargo not found: install Rust from https://rustup.rs"
fi

if ((want_web)); then
  if [[ -f "$ROOT/scripts/web.sh" ]]; then
    bash "$ROOT/scripts/web.sh" install
  else
    warn "scripts/web.sh not found: skipping console tools"
  fi
fi
ok "dependencies present"
