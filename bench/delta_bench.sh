#!/usr/bin/env bash
# delta_bench.sh - model families through elvesd: a fine-tune stored
# delta-coded against its base beside the same file stored alone (a second
# elvesd with no base), side by side.
#
#   bench/delta_bench.sh [BUILD_DIR]      (default: $ELVES_BUILD or ./build)
#
# The family is tests/data/family (BF16 by default; BENCH_DTYPE=f32), each
# file's tensors repeated BENCH_REPEAT times (default 64: about 32 MB for
# BF16) so that timings are not lost in per-request costs.  Repetition r
# rotates each tensor's elements by r x 7919 in both base and fine-tune:
# no two copies are the same tensor (tensor dedup would store one), and
# each fine-tune element still sits beside its own base element, so the
# ratios are the family's.  Rows, for the fine-tune ft-a:
#   - stored bytes and ratio (chunk_bytes of its repository);
#   - upload-to-stored seconds (curl -T, then the compression job);
#   - full download MB/s: cold (the first after a restart: every block
#     decoded, and for delta blocks their base blocks too) and warm (best
#     of BENCH_RUNS, default 3, after one warm-up: from the block cache);
#   - 1 MiB Range requests at 64 random offsets: median ms, cold (first
#     pass after a restart, empty block cache) and warm (second pass).
# A benchmark, not a test: numbers vary with the machine.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-${ELVES_BUILD:-$here/build}}
dtype=${BENCH_DTYPE:-bf16}
repeat=${BENCH_REPEAT:-64}
runs=${BENCH_RUNS:-3}
elvesd=$build/elvesd
[ -x "$elvesd" ] || { echo "delta_bench: $elvesd not built" >&2; exit 1; }
fam=$here/tests/data/family

T=$(mktemp -d "${TMPDIR:-/tmp}/elves-delta-bench.XXXXXX")
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -n "${BENCH_KEEP:-}" ] || rm -rf "$T"
}
trap cleanup EXIT
CURL=(curl -sS --max-time 600)
now() { date +%s.%N; }
elapsed() { echo "$(now) - $1" | bc -l; }

# The family files with every tensor repeated (names numbered), as safetensors.
python3 - "$fam" "$T" "$dtype" "$repeat" <<'EOF'
import json, struct, sys
fam, out, dt, rep = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
for name in ("base", "ft-a"):
    b = open(f"{fam}/{name}.{dt}.safetensors", "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])
    data = b[8 + n:]
    hdr, body, off = {}, [], 0
    for r in range(rep):
        for k, v in h.items():
            if k == "__metadata__":
                continue
            s, e = v["data_offsets"]
            el = 2 if v["dtype"] in ("BF16", "F16") else 4
            t = data[s:e]
            cut = (r * 7919) % max(1, len(t) // el) * el
            hdr[f"r{r}.{k}"] = {"dtype": v["dtype"], "shape": v["shape"],
                                "data_offsets": [off, off + e - s]}
            body.append(t[cut:] + t[:cut])
            off += e - s
    j = json.dumps(hdr, separators=(",", ":")).encode()
    j += b" " * (-len(j) % 8)
    open(f"{out}/{name}.st", "wb").write(struct.pack("<Q", len(j)) + j + b"".join(body))
EOF
size=$(stat -c %s "$T/ft-a.st")

start() { # datadir -> sets URL, PID
  "$elvesd" --data "$1" --listen 127.0.0.1:0 2>"$1.log" &
  PID=$!
  pids+=("$PID")
  local i line=
  for i in $(seq 1 200); do
    line=$(grep -o 'listening on [^ "]*' "$1.log" 2>/dev/null | head -1 || true)
    [ -n "$line" ] && break
    sleep 0.05
  done
  URL=http://127.0.0.1:${line##*:}
}
stop() { kill "$PID"; wait "$PID" 2>/dev/null || true; }
repo() { "${CURL[@]}" -o /dev/null -X POST "$URL/api/v1/repos" -d "$1"; }
put_stored() { # repo file -> seconds from upload to stored
  local t0 job state
  t0=$(now)
  job=$("${CURL[@]}" -T "$2" "$URL/api/v1/repos/$1/files/model.safetensors" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["job_id"])')
  while :; do
    state=$("${CURL[@]}" "$URL/api/v1/jobs/$job" |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])')
    [ "$state" = done ] && break
    [ "$state" = failed ] && { echo "delta_bench: job failed" >&2; exit 1; }
    sleep 0.02
  done
  elapsed "$t0"
}
download_mbps() { # repo
  local best=0 t s
  "${CURL[@]}" -o /dev/null "$URL/api/v1/repos/$1/files/model.safetensors"
  for _ in $(seq 1 "$runs"); do
    s=$("${CURL[@]}" -o /dev/null -w '%{speed_download}' "$URL/api/v1/repos/$1/files/model.safetensors")
    t=$(echo "$s / 1000000" | bc -l)
    best=$(echo "if ($t > $best) $t else $best" | bc -l)
  done
  printf '%.0f' "$best"
}
ranges_ms() { # repo -> median ms of 1 MiB ranges at the offsets in $T/offs
  local o
  while read -r o; do
    "${CURL[@]}" -o /dev/null -w '%{time_total}\n' -H "Range: bytes=$o-$((o + 1048575))" \
      "$URL/api/v1/repos/$1/files/model.safetensors"
  done <"$T/offs" | sort -n | awk '{a[NR]=$1} END {printf "%.1f", a[int((NR+1)/2)] * 1000}'
}
python3 -c "import random; r=random.Random(1); [print(r.randrange(0, $size - 1048576)) for _ in range(64)]" >"$T/offs"

declare -A R
for side in delta alone; do
  start "$T/$side"
  if [ "$side" = delta ]; then
    repo '{"name":"fam/base"}'
    put_stored fam/base "$T/base.st" >/dev/null
    repo '{"name":"fam/ft","base":"fam/base"}'
  else
    repo '{"name":"fam/ft"}'
  fi
  R[$side.ingest]=$(put_stored fam/ft "$T/ft-a.st")
  R[$side.stored]=$("${CURL[@]}" "$URL/api/v1/repos/fam/ft/stats" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["chunk_bytes"])')
  R[$side.mbps]=$(download_mbps fam/ft)
  stop
  start "$T/$side"
  R[$side.coldmbps]=$(echo "$("${CURL[@]}" -o /dev/null -w '%{speed_download}' \
    "$URL/api/v1/repos/fam/ft/files/model.safetensors") / 1000000" | bc -l)
  stop
  start "$T/$side" # empty block cache
  R[$side.cold]=$(ranges_ms fam/ft)
  R[$side.warm]=$(ranges_ms fam/ft)
  stop
done

printf '\nfine-tune ft-a (%s, tensors x%s): %d bytes\n' "$dtype" "$repeat" "$size"
printf '%-28s %14s %14s\n' "" "delta-coded" "alone"
printf '%-28s %14s %14s\n' "stored bytes" "${R[delta.stored]}" "${R[alone.stored]}"
printf '%-28s %14.3f %14.3f\n' "ratio" "$(echo "$size / ${R[delta.stored]}" | bc -l)" \
  "$(echo "$size / ${R[alone.stored]}" | bc -l)"
printf '%-28s %14.2f %14.2f\n' "upload to stored, s" "${R[delta.ingest]}" "${R[alone.ingest]}"
printf '%-28s %14.0f %14.0f\n' "full download cold, MB/s" "${R[delta.coldmbps]}" "${R[alone.coldmbps]}"
printf '%-28s %14s %14s\n' "full download warm, MB/s" "${R[delta.mbps]}" "${R[alone.mbps]}"
printf '%-28s %14s %14s\n' "1 MiB range cold, ms (med)" "${R[delta.cold]}" "${R[alone.cold]}"
printf '%-28s %14s %14s\n' "1 MiB range warm, ms (med)" "${R[delta.warm]}" "${R[alone.warm]}"
