#!/usr/bin/env bash
# pg-restart.sh DIR - restarts the PostgreSQL pg-up.sh started in DIR (same
# port), dropping every connection: what the reconnection tests do to the
# server between two transactions.
set -euo pipefail
dir=${1:?usage: pg-restart.sh DIR}
bin=${ELVES_PG_BIN:-/usr/lib/postgresql/15/bin}
as_pg=()
[ "$(id -u)" -eq 0 ] && as_pg=(runuser -u postgres --)
"${as_pg[@]}" "$bin/pg_ctl" -D "$dir/data" -m fast -w restart >/dev/null
