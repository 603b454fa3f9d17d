#!/usr/bin/env bash
# pg-up.sh DIR - starts a throwaway PostgreSQL 15 in DIR (created, owned by
# the postgres user when run as root, as initdb refuses root) on a free
# port of 127.0.0.1, with trust authentication and fsync off, and prints
# its URL: postgres://app@127.0.0.1:PORT/postgres.  pg-down.sh DIR stops it.
# Fails (exit 1, with the reason) if PostgreSQL's programs are missing.
set -euo pipefail
dir=${1:?usage: pg-up.sh DIR}
bin=${ELVES_PG_BIN:-/usr/lib/postgresql/15/bin}
if [ ! -x "$bin/initdb" ] || [ ! -x "$bin/pg_ctl" ]; then
  echo "pg-up: no PostgreSQL 15 programs in $bin (install the postgresql" \
    "package: deploy/install-deps.sh --test)" >&2
  exit 1
fi
as_pg=()
if [ "$(id -u)" -eq 0 ]; then
  id postgres >/dev/null 2>&1 || { echo "pg-up: running as root and there is no postgres user" >&2; exit 1; }
  as_pg=(runuser -u postgres --)
fi
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
[ ${#as_pg[@]} -eq 0 ] || chown postgres: "$dir"
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
"${as_pg[@]}" "$bin/initdb" -D "$dir/data" -U app --auth=trust --no-locale \
  -E UTF8 >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
for _ in 1 2 3; do
  port=$(free_port)
  if "${as_pg[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
    -o "-k $dir -h 127.0.0.1 -p $port -c fsync=off -c max_connections=200" \
    start >/dev/null 2>&1; then
    echo "$port" >"$dir/port"
    echo "postgres://app@127.0.0.1:$port/postgres"
    exit 0
  fi
done
echo "pg-up: PostgreSQL did not start:" >&2
cat "$dir/server.log" >&2
exit 1
