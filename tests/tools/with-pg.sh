#!/usr/bin/env bash
# with-pg.sh CMD... - runs CMD against a throwaway PostgreSQL: starts one
# (pg-up.sh), exports ELVES_TEST_DATABASE=its URL and ELVES_TEST_PG_RESTART
# (a command that restarts it, for the reconnection tests), runs CMD, stops
# it (pg-down.sh) and exits with CMD's status.  No PostgreSQL programs is a
# failure, not a skip: the suite is meant to test both backends.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d "${TMPDIR:-/tmp}/elves-pg-XXXXXX")
url=$("$here/pg-up.sh" "$dir") || { rm -rf "$dir"; exit 1; }
trap '"$here/pg-down.sh" "$dir"' EXIT
export ELVES_TEST_DATABASE=$url
export ELVES_TEST_PG_RESTART="$here/pg-restart.sh $dir"
"$@"
