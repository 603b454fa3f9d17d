#!/usr/bin/env bash
# pg-down.sh DIR - stops the PostgreSQL pg-up.sh started in DIR and removes
# DIR.
set -uo pipefail
dir=${1:?usage: pg-down.sh DIR}
bin=${ELVES_PG_BIN:-/usr/lib/postgresql/15/bin}
as_pg=()
[ "$(id -u)" -eq 0 ] && as_pg=(runuser -u postgres --)
if [ -d "$dir/data" ]; then
  "${as_pg[@]}" "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1
fi
rm -rf "$dir"
