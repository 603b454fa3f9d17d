#!/usr/bin/env bash
# scaleout_bench.sh - elvesd on PostgreSQL + S3 (a real Ceph RGW and a real
# PostgreSQL 15, started here on loopback) beside the single-node default
# (SQLite + local packs) on the same machine, in the same run.
#
#   bench/scaleout_bench.sh [BUILD_DIR]    (default: $ELVES_BUILD or ./build)
#
# Environment: BENCH_SIZE (synthetic BF16 file, default 512M), BENCH_RUNS
# (best of / median of, default 3), ELVES_SHARED_DATA.
#
# Rows, each "local" (SQLite + packs, one elvesd) against "scale-out"
# (PostgreSQL + RGW; replica A, B when two):
#   - upload: curl -T until the 201, and until the compression job is done;
#   - whole-file download MB/s of the stored file, best of BENCH_RUNS;
#   - a 1 MiB ranged read at the middle of the file: cold (first read after
#     a restart: nothing in the decoded-block cache; on S3 the chunks come
#     from RGW) and warm (the same range again), milliseconds;
#   - through nginx, 4 concurrent whole-file downloads with 1 replica
#     behind it vs 2: aggregate MB/s (one 2-core machine runs the clients,
#     nginx and the replicas: the 2-replica row shows what coordination
#     costs, not what a second machine adds);
#   - metadata-heavy Hub routes: a commit of 100 small files (NDJSON,
#     median of 10 commits) and the recursive tree listing of the resulting
#     1000-file repo (all pages, median of BENCH_RUNS);
#   - peak RSS (VmHWM) of each elvesd.
# A benchmark, not a test: figures vary with the machine.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
export ELVES_BUILD=${1:-${ELVES_BUILD:-$here/build}}
export ELVES_SRC=$here
export ELVES_SHARED_DATA=${ELVES_SHARED_DATA:-$here/../shared/data}
size=${BENCH_SIZE:-512M}
runs=${BENCH_RUNS:-3}
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
source "$here/tests/e2e/lib.sh"
TOOLS=$here/tests/tools
T=$(mktemp -d "${TMPDIR:-/tmp}/elves-sbench.XXXXXX")
chmod o+x "$T"
nstarts=0
cleanup() {
  nginx_stop
  for p in "${servers[@]}"; do { kill -9 "$p" && wait "$p"; } 2>/dev/null || true; done
  "$TOOLS/pg-down.sh" "$T/pg" >/dev/null 2>&1 || true
  "$TOOLS/rgw-down.sh" "$T/rgw" >/dev/null 2>&1 || true
  rm -rf "$T"
}
trap cleanup EXIT
say() { echo "scaleout_bench: $*" >&2; }
now() { date +%s.%N; }
ms_since() { echo "($(now) - $1) * 1000" | bc -l | xargs printf '%.0f\n'; }
median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
hwm_mb() { awk '/VmHWM/ {printf "%.0f", $2 / 1024}' "/proc/$1/status"; }
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

say "starting PostgreSQL and Ceph RGW"
PGURL=$("$TOOLS/pg-up.sh" "$T/pg")
"$TOOLS/rgw-up.sh" "$T/rgw" >/dev/null
source "$T/rgw/env"
export ELVES_S3_ACCESS_KEY ELVES_S3_SECRET_KEY
CS="s3://elves-test/bench?endpoint=$ELVES_TEST_S3_ENDPOINT&region=us-east-1&path_style=1"
SCALE=(--database "$PGURL" --chunk-store "$CS")

say "generating a $size BF16 checkpoint"
F=$T/big.safetensors
"$GEN" --dtype BF16 --size "$size" --seed 42 "$F" >/dev/null
fbytes=$(fsize "$F")
half=$((fbytes / 2))

declare -A R # results: R[row,side]
start_server "$T/local"; L=$BASE LPID=$PID
start_server "$T/a" "${SCALE[@]}"; A=$BASE APID=$PID

# ---- upload ---------------------------------------------------------------------
ingest() { # side base
  BASE=$2 create_repo bench/big
  local t0 j
  t0=$(now)
  j=$(BASE=$2 upload bench/big big.safetensors "$F")
  R[upload,$1]=$(ms_since "$t0")
  BASE=$2 wait_job "$j" 600
  R[stored,$1]=$(ms_since "$t0")
}
say "uploading"
ingest local "$L"
ingest scale "$A"

# ---- downloads and ranges ----------------------------------------------------------
dl_best() { # url
  local best=0 r i
  for i in $(seq 1 "$runs"); do
    r=$("${CURL[@]}" -o /dev/null -w '%{speed_download}' "$1" | awk '{printf "%.0f", $1 / 1e6}')
    [ "$r" -gt "$best" ] && best=$r
  done
  echo "$best"
}
range_ms() { # url
  "${CURL[@]}" -o /dev/null -r "$half-$((half + 1048575))" -w '%{time_total}' "$1" |
    awk '{printf "%.1f", $1 * 1000}'
}
halt() { kill -TERM "$1"; wait "$1" 2>/dev/null || true; }
restart() { # side: restarts that server (empty block cache), sets its base
  if [ "$1" = local ]; then
    halt "$LPID"; start_server "$T/local"; L=$BASE LPID=$PID
  else
    halt "$APID"; start_server "$T/a" "${SCALE[@]}"; A=$BASE APID=$PID
  fi
}
for side in local scale; do
  say "ranges and downloads: $side"
  restart "$side"
  [ "$side" = local ] && B0=$L || B0=$A
  url=$B0/api/v1/repos/bench/big/files/big.safetensors
  R[cold,$side]=$(range_ms "$url")
  R[warm,$side]=$(range_ms "$url")
  R[dl,$side]=$(dl_best "$url")
done

# ---- 1 vs 2 replicas behind nginx ------------------------------------------------------
start_server "$T/b" "${SCALE[@]}"; B=$BASE BPID=$PID
parallel_mbps() { # url: 4 downloads at once, aggregate MB/s
  local t0 i
  t0=$(now)
  for i in 1 2 3 4; do "${CURL[@]}" -o /dev/null "$1" & done
  wait
  echo "4 * $fbytes / ($(now) - $t0) / 1000000" | bc -l | xargs printf '%.0f'
}
best_parallel() {
  local best=0 r i
  for i in $(seq 1 "$runs"); do
    r=$(parallel_mbps "$1"); [ "$r" -gt "$best" ] && best=$r
  done
  echo "$best"
}
NPORT=$(free_port)
nginx_up "$T/ng1" "$NPORT" "${A##*:}"
R[nginx,one]=$(best_parallel "http://127.0.0.1:$NPORT/api/v1/repos/bench/big/files/big.safetensors")
nginx_stop
NPORT=$(free_port)
nginx_up "$T/ng2" "$NPORT" "${A##*:}" "${B##*:}"
R[nginx,two]=$(best_parallel "http://127.0.0.1:$NPORT/api/v1/repos/bench/big/files/big.safetensors")
nginx_stop

# ---- metadata-heavy Hub routes -----------------------------------------------------------
commit_body() { # n: NDJSON commit of 100 small files under d$n/
  "$PY" - "$1" <<'EOF'
import base64, json, sys
n = int(sys.argv[1])
print(json.dumps({"key": "header", "value": {"summary": f"batch {n}", "description": ""}}))
for i in range(100):
    body = base64.b64encode(f"file {n}/{i}\n".encode()).decode()
    print(json.dumps({"key": "file", "value": {"path": f"d{n}/f{i}.txt",
                                                "content": body, "encoding": "base64"}}))
EOF
}
for n in $(seq 0 9); do commit_body "$n" >"$T/commit.$n.ndjson"; done
meta_bench() { # side base
  BASE=$2 create_repo bench/many
  local n t0 s
  for n in $(seq 0 9); do
    t0=$(now)
    s=$("${CURL[@]}" -o "$T/body" -w '%{http_code}' -H 'Content-Type: application/x-ndjson' \
      --data-binary @"$T/commit.$n.ndjson" "$2/api/models/bench/many/commit/main")
    [ "$s" = 200 ] || { say "commit on $1: $s $(cat "$T/body")"; exit 1; }
    ms_since "$t0"
  done | median >"$T/commit.ms"
  R[commit,$1]=$(cat "$T/commit.ms")
  local i next files
  for i in $(seq 1 "$runs"); do
    t0=$(now)
    next="$2/api/models/bench/many/tree/main?recursive=true"
    files=0
    while [ -n "$next" ]; do
      "${CURL[@]}" -D "$T/h" -o "$T/tree.json" "$next"
      files=$((files + $("$PY" -c 'import json,sys; print(sum(1 for e in json.load(open(sys.argv[1])) if e["type"] == "file"))' "$T/tree.json")))
      next=$( (grep -i '^link:' "$T/h" || true) | sed -n 's/.*<\([^>]*\)>; *rel="next".*/\1/p' | tr -d '\r')
    done
    [ "$files" -ge 1000 ] || { say "tree on $1 listed $files files"; exit 1; }
    ms_since "$t0"
  done | median >"$T/tree.ms"
  R[tree,$1]=$(cat "$T/tree.ms")
}
say "metadata routes"
meta_bench local "$L"
meta_bench scale "$A"
R[rss,local]=$(hwm_mb "$LPID")
R[rss,scale]="A $(hwm_mb "$APID"), B $(hwm_mb "$BPID")"

# ---- the table ----------------------------------------------------------------------------
printf '\n%-52s %16s %22s\n' "file: $size BF16 ($fbytes bytes)" "local (SQLite+fs)" "scale-out (PG+RGW)"
row() { printf '%-52s %16s %22s\n' "$1" "$2" "$3"; }
row "upload: curl -T until 201 (ms)" "${R[upload,local]}" "${R[upload,scale]}"
row "upload until stored (ms)" "${R[stored,local]}" "${R[stored,scale]}"
row "download, whole file, 1 client (MB/s)" "${R[dl,local]}" "${R[dl,scale]}"
row "1 MiB range, cold: after restart (ms)" "${R[cold,local]}" "${R[cold,scale]}"
row "1 MiB range, warm: same range again (ms)" "${R[warm,local]}" "${R[warm,scale]}"
row "HF commit of 100 files, median of 10 (ms)" "${R[commit,local]}" "${R[commit,scale]}"
row "HF tree of the 1000-file repo, all pages (ms)" "${R[tree,local]}" "${R[tree,scale]}"
row "peak RSS (MB)" "${R[rss,local]}" "${R[rss,scale]}"
printf '\n%-52s %16s %22s\n' "through nginx, 4 downloads at once" "1 replica" "2 replicas"
row "aggregate MB/s (scale-out)" "${R[nginx,one]}" "${R[nginx,two]}"
