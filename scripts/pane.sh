#!/usr/bin/env bash
# Body of one tmux pane of `just start`: runs a service, records how it ended,
# then leaves an interactive shell in the pane.
#
#   scripts/pane.sh genesis|permesi|web
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
name="$1"
cd "$root" || exit 1
rm -f ".dev/run/$name.exit"
echo "== $name  (log: .dev/logs/$name.log) =="
# The service's pid (run-service.sh and web.sh exec, so it stays the service's) lets
# `just up` tell a live service from a dead pane.
bash -c 'echo $$ >"$1"; exec bash "$2" "$3"' pane "$root/.dev/run/$name.pane-pid" "$root/scripts/run-service.sh" "$name"
rc=$?
rm -f ".dev/run/$name.pane-pid"
echo "$rc" >".dev/run/$name.exit"
echo
echo "[$name exited with status $rc]  restart it with: scripts/run-service.sh $name"
exec "${SHELL:-bash}"
