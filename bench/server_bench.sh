#!/usr/bin/env bash
# server_bench.sh - download throughput of elvesd against nginx and cat,
# ingest time and memory, and the storage ratio of the shared checkpoints.
#
#   bench/server_bench.sh [BUILD_DIR]      (default: $ELVES_BUILD or ./build)
#
# Environment: BENCH_SIZE (synthetic file, default 2G), BENCH_RUNS (best of,
# default 3), ELVES_SHARED_DATA (default ../shared/data beside the repo).
#
# Prints a table and one JSON line.  Rows:
#   - download MB/s of a synthetic BF16 file of BENCH_SIZE (gen_checkpoint)
#     and of the largest file in shared/data: through elvesd once stored
#     (compressed, decoded on the fly) with a thread per connection and
#     with an epoll pool (--io-threads 2), from nginx serving the same bytes
#     from a plain file (sendfile), and `cat FILE > /dev/null`; the ratio
#     elvesd/nginx.  Each elvesd mode runs in turns with nginx (one download
#     of each, alternately, best of BENCH_RUNS each), and its ratio is to
#     the nginx figure of those same turns.  Every source is read once
#     first, so all read from the page cache: this compares servers, not
#     disks.
#   - CPU seconds elvesd spends per GB it serves (user + system, from
#     /proc, best of the same downloads): on a loaded or small machine the
#     client competes with the server for cores, so this decides the
#     download rate more steadily than MB/s shows it;
#   - upload time (curl -T until the 201) and upload-to-stored time (until
#     the compression job is done), peak RSS (VmHWM) of elvesd during
#     ingest and during downloads (reset in between through clear_refs);
#   - stored bytes / logical bytes for everything in shared/data.
# A benchmark, not a test: numbers vary with the machine; ratios are the
# point.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-${ELVES_BUILD:-$here/build}}
data=${ELVES_SHARED_DATA:-$here/../shared/data}
size=${BENCH_SIZE:-2G}
runs=${BENCH_RUNS:-3}
elvesd=$build/elvesd
gen=$build/gen_checkpoint
for p in "$elvesd" "$gen"; do
  [ -x "$p" ] || { echo "server_bench: $p not built" >&2; exit 1; }
done
command -v nginx >/dev/null || { echo "server_bench: nginx not installed" >&2; exit 1; }

T=$(mktemp -d "${TMPDIR:-/tmp}/elves-bench.XXXXXX")
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$T/nginx/nginx.pid" ] && kill "$(cat "$T/nginx/nginx.pid")" 2>/dev/null || true
  [ -n "${BENCH_KEEP:-}" ] || rm -rf "$T"
}
trap cleanup EXIT
CURL=(curl -sS --max-time 600)

say() { echo "server_bench: $*" >&2; }
now() { date +%s.%N; }
elapsed() { echo "$(now) - $1" | bc -l; }
json_field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
hwm_mb() { awk '/VmHWM/ {printf "%.0f", $2 / 1024}' "/proc/$1/status"; }

start_elvesd() { # flags...
  "$elvesd" --data "$T/data" --listen 127.0.0.1:0 "$@" 2>>"$T/elvesd.log" &
  EPID=$!
  pids+=("$EPID")
  local i line= lines
  for i in $(seq 1 200); do
    lines=$(grep -o 'listening on [^ "]*' "$T/elvesd.log" || true)
    if [ -n "$lines" ] && [ "$(echo "$lines" | wc -l)" -ge "$NSTART" ]; then
      line=$(echo "$lines" | tail -1)
      break
    fi
    sleep 0.05
  done
  [ -n "$line" ] || { say "elvesd did not start"; exit 1; }
  BASE=http://127.0.0.1:${line##*:}
  NSTART=$((NSTART + 1))
}
NSTART=1

stop_elvesd() {
  kill "$EPID"
  wait "$EPID" 2>/dev/null || true
}

wait_job() { # id
  local st
  while :; do
    st=$("${CURL[@]}" "$BASE/api/v1/jobs/$1" | json_field state)
    case $st in done) return 0 ;; failed) say "job $1 failed"; exit 1 ;; esac
    sleep 0.1
  done
}

upload() { # repo path file: prints the job id
  "${CURL[@]}" -T "$3" "$BASE/api/v1/repos/$1/files/$2" | json_field job_id
}

cpu_s() { # pid: CPU seconds it has used (user + system)
  awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat"
}

# One download of url; prints its MB/s (1 MB = 1e6 bytes) and the CPU seconds
# per GB that process pid spent meanwhile.
dl_mbps_cpu() { # url pid
  local c0 c1
  c0=$(cpu_s "$2")
  "${CURL[@]}" -o /dev/null -w '%{speed_download} %{size_download}\n' "$1" | {
    read -r speed bytes
    c1=$(cpu_s "$2")
    awk -v s="$speed" -v b="$bytes" -v c="$(echo "$c1 - $c0" | bc -l)" \
      'BEGIN { printf "%.0f %.3f\n", s / 1e6, (b > 0 ? c / (b / 1e9) : 0) }'
  }
}

# Best of $runs downloads of two URLs taken in turns, so that a slow spell of
# the machine (a shared VM: nginx alone has swung 2x between runs) hits both
# sides alike.  Sets mbps[key_a] and mbps[key_b], and cpu[key_a], the least
# CPU-s/GB elvesd ($EPID, which serves url_a) spent on one of them.
race() { # key_a url_a key_b url_b
  local i r c
  mbps[$1]=0
  mbps[$3]=0
  cpu[$1]=
  "${CURL[@]}" -o /dev/null "$2" # warm-up
  "${CURL[@]}" -o /dev/null "$4"
  for i in $(seq 1 "$runs"); do
    read -r r c < <(dl_mbps_cpu "$2" "$EPID")
    if [ "$r" -gt "${mbps[$1]}" ]; then mbps[$1]=$r; fi
    if [ -z "${cpu[$1]}" ] || [ "$(echo "$c < ${cpu[$1]}" | bc -l)" = 1 ]; then cpu[$1]=$c; fi
    read -r r c < <(dl_mbps_cpu "$4" "$EPID")
    if [ "$r" -gt "${mbps[$3]}" ]; then mbps[$3]=$r; fi
  done
}

cat_mbps() { # file
  local best=0 t i bytes
  bytes=$(stat -c %s "$1")
  cat "$1" >/dev/null
  for i in $(seq 1 "$runs"); do
    t=$(now)
    cat "$1" >/dev/null
    t=$(elapsed "$t")
    r=$(echo "$bytes / $t / 1000000" | bc -l)
    best=$(echo "if ($r > $best) $r else $best" | bc -l)
  done
  printf '%.0f' "$best"
}

start_nginx() { # root
  mkdir -p "$T/nginx/tmp"
  chmod a+rx "$T" "$T/www" # nginx workers run as an unprivileged user
  chmod a+r "$T"/www/*
  NGINX_PORT=$(free_port)
  cat >"$T/nginx/nginx.conf" <<EOF
worker_processes 2;
pid $T/nginx/nginx.pid;
error_log $T/nginx/error.log;
events { worker_connections 256; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  client_body_temp_path $T/nginx/tmp/body;
  proxy_temp_path $T/nginx/tmp/proxy;
  fastcgi_temp_path $T/nginx/tmp/fastcgi;
  uwsgi_temp_path $T/nginx/tmp/uwsgi;
  scgi_temp_path $T/nginx/tmp/scgi;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    root $1;
  }
}
EOF
  nginx -e "$T/nginx/error.log" -p "$T/nginx" -c "$T/nginx/nginx.conf"
  for i in $(seq 1 50); do
    curl -s -o /dev/null "http://127.0.0.1:$NGINX_PORT/" && break
    sleep 0.1
  done
}

# ---- inputs --------------------------------------------------------------------
say "generating a $size BF16 checkpoint"
"$gen" --dtype BF16 --size "$size" --seed 42 "$T/big.safetensors" >/dev/null
largest=$(ls -S "$data"/*.safetensors | head -1)
mkdir -p "$T/www"
ln "$T/big.safetensors" "$T/www/big.safetensors"
cp "$largest" "$T/www/largest.safetensors"
big_bytes=$(stat -c %s "$T/big.safetensors")

# ---- storage ratio of shared/data, on a fresh store -----------------------------
start_elvesd
"${CURL[@]}" -X POST "$BASE/api/v1/repos" --data '{"name":"bench/shared"}' >/dev/null
"${CURL[@]}" -X POST "$BASE/api/v1/repos" --data '{"name":"bench/big"}' >/dev/null
for f in "$data"/*.safetensors; do
  wait_job "$(upload bench/shared "$(basename "$f")" "$f")"
done
stats=$("${CURL[@]}" "$BASE/api/v1/stats")
shared_logical=$(echo "$stats" | json_field logical_bytes)
shared_stored=$(echo "$stats" | json_field stored_bytes)
shared_ratio=$(echo "$shared_stored / $shared_logical" | bc -l | xargs printf '%.4f')

# ---- ingest of the big file --------------------------------------------------------
echo 5 >"/proc/$EPID/clear_refs" 2>/dev/null || true
say "uploading $size"
t0=$(now)
job=$(upload bench/big big.safetensors "$T/big.safetensors")
upload_s=$(elapsed "$t0")
wait_job "$job"
stored_s=$(elapsed "$t0")
ingest_rss=$(hwm_mb "$EPID")
big_stored=$("${CURL[@]}" "$BASE/api/v1/repos/bench/big/stats" | json_field stored_bytes)
stop_elvesd

# ---- downloads --------------------------------------------------------------------
declare -A mbps rss cpu
measure_elvesd() { # label flags...: elvesd and nginx in turns
  local label=$1; shift
  start_elvesd "$@"
  echo 5 >"/proc/$EPID/clear_refs" 2>/dev/null || true
  say "downloads through elvesd ($label) and nginx, in turns"
  race "elvesd-$label,big" "$BASE/api/v1/repos/bench/big/files/big.safetensors" \
    "nginx-$label,big" "http://127.0.0.1:$NGINX_PORT/big.safetensors"
  race "elvesd-$label,largest" "$BASE/api/v1/repos/bench/shared/files/$(basename "$largest")" \
    "nginx-$label,largest" "http://127.0.0.1:$NGINX_PORT/largest.safetensors"
  rss[$label]=$(hwm_mb "$EPID")
  stop_elvesd
}
start_nginx "$T/www"
measure_elvesd threads
measure_elvesd pool --io-threads 2
mbps[cat,big]=$(cat_mbps "$T/big.safetensors")
mbps[cat,largest]=$(cat_mbps "$largest")

# ---- report --------------------------------------------------------------------------
ratio() { # label column: elvesd / nginx of the same turns
  [ "${mbps[nginx-$1,$2]}" -gt 0 ] || { echo "-"; return; }
  echo "${mbps[elvesd-$1,$2]} / ${mbps[nginx-$1,$2]}" | bc -l | xargs printf '%.2f'
}
printf '\n%-34s %14s %14s\n' "download MB/s (best of $runs)" "synthetic BF16" "$(basename "$largest" .safetensors)"
printf '%-34s %14s %14s\n' "" "$((big_bytes / 1000000)) MB" "$(($(stat -c %s "$largest") / 1000))  kB"
for row in elvesd-threads nginx-threads elvesd-pool nginx-pool cat; do
  printf '%-34s %14s %14s\n' "$row" "${mbps[$row,big]}" "${mbps[$row,largest]}"
done
for row in threads pool; do
  printf '%-34s %14s %14s\n' "elvesd-$row / nginx-$row" "$(ratio "$row" big)" "$(ratio "$row" largest)"
done
# /proc counts CPU time in 10 ms ticks: a few-MB download reads as 0, so
# only the large file gets a figure.
for row in threads pool; do
  printf '%-34s %14s %14s\n' "elvesd-$row CPU-s/GB" "${cpu[elvesd-$row,big]}" "-"
done
printf '\n%-34s %s\n' "upload $size (curl -T to 201)" "$(printf '%.1f s (%.0f MB/s)' "$upload_s" "$(echo "$big_bytes / $upload_s / 1000000" | bc -l)")"
printf '%-34s %s\n' "upload to stored (job done)" "$(printf '%.1f s' "$stored_s")"
printf '%-34s %s\n' "stored / logical, synthetic" "$(echo "$big_stored / $big_bytes" | bc -l | xargs printf '%.4f')"
printf '%-34s %s MB\n' "peak RSS elvesd, ingest" "$ingest_rss"
printf '%-34s %s MB / %s MB\n' "peak RSS elvesd, downloads" "${rss[threads]}" "${rss[pool]}"
printf '%-34s %s / %s = %s\n' "stored / logical, shared/data" "$shared_stored" "$shared_logical" "$shared_ratio"
printf '{"bench":"server","size_bytes":%s,"elvesd_threads_mbps":%s,"elvesd_pool_mbps":%s,"nginx_mbps":%s,"nginx_pool_mbps":%s,"cat_mbps":%s,"elvesd_largest_mbps":%s,"nginx_largest_mbps":%s,"elvesd_threads_cpu_s_per_gb":%s,"elvesd_pool_cpu_s_per_gb":%s,"upload_s":%.2f,"upload_to_stored_s":%.2f,"ingest_rss_mb":%s,"download_rss_mb":%s,"shared_stored_ratio":%s}\n' \
  "$big_bytes" "${mbps[elvesd-threads,big]}" "${mbps[elvesd-pool,big]}" "${mbps[nginx-threads,big]}" "${mbps[nginx-pool,big]}" "${mbps[cat,big]}" \
  "${mbps[elvesd-threads,largest]}" "${mbps[nginx-threads,largest]}" "${cpu[elvesd-threads,big]}" "${cpu[elvesd-pool,big]}" "$upload_s" "$stored_s" "$ingest_rss" "${rss[threads]}" "$shared_ratio"
