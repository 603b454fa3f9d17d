#!/usr/bin/env bash
# rgw-down.sh DIR - stops the daemons rgw-up.sh DIR started (by the pid
# files they wrote) and waits for them to go.
set -uo pipefail
D=${1:?usage: rgw-down.sh DIR}
pids=()
for f in "$D"/run/*.pid; do
  [ -f "$f" ] || continue
  p=$(cat "$f")
  kill "$p" 2>/dev/null && pids+=("$p")
done
for _ in $(seq 1 50); do
  alive=0
  for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
  [ "$alive" = 0 ] && exit 0
  sleep 0.1
done
for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
exit 0
