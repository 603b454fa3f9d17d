#!/usr/bin/env bash
# server_crash.sh - kill -9 of a real elvesd at the moments that matter,
# then a restart on the same data directory:
#   1. during an upload (curl --limit-rate): the partial file never shows up;
#   2. during compression of a big synthetic file (job "running");
#   3. during a chunk-store write (the pack file is growing);
#   4. at random moments while uploads and jobs overlap.
# After each restart every acknowledged (201) file downloads with its
# SHA-256 (from the spool at once, from the chunk store once its requeued
# job is done), and nothing unacknowledged is listed.  At the end, with all
# jobs done and GC run, the spool is empty and the logical bytes are exactly
# those of the acknowledged files.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
e2e_init crash 840
RANDOM=99

REPO=crash/test
DIR=$T/data
declare -A acked # path -> file with the expected bytes

restart() {
  kill_server
  start_server "$DIR"
}

check_acked() { # label
  local p
  for p in "${!acked[@]}"; do
    download "$REPO" "$p" "$T/check"
    [ "$(sha "$T/check")" = "$(sha "${acked[$p]}")" ] || fail "$1: $p differs after restart"
    pass
  done
}

# Nothing but acknowledged paths (plus, in round 4, uploads the server
# committed just before dying, which must then be complete) is listed.
check_listing() { # label [allowed-extra-file-list]
  [ "$(req GET "$BASE/api/v1/repos/$REPO/files")" = 200 ] || fail "$1: listing"
  "$PY" - "$T/body" "$T/acked.list" "${2:-/dev/null}" <<'EOF' || fail "$1: listing: $(head -c 500 "$T/body")"
import json, sys
v = json.load(open(sys.argv[1]))
files = {f["path"] for f in (v if isinstance(v, list) else v["files"])}
acked = set(open(sys.argv[2]).read().split())
maybe = set(open(sys.argv[3]).read().split())
assert acked <= files, acked - files
assert files <= acked | maybe, files - acked - maybe
EOF
  pass
}

save_acked() { printf '%s\n' "${!acked[@]}" >"$T/acked.list"; }

wait_running() { # job: 0 once the job runs, 1 if it ended or never ran
  local i st
  for i in $(seq 1 1500); do
    st=$("${CURL[@]}" "$BASE/api/v1/jobs/$1" 2>/dev/null | grep -o '"state":"[a-z]*"' || true)
    case $st in
      *running*) return 0 ;;
      *done*|*failed*) return 1 ;;
    esac
    sleep 0.02
  done
  return 1
}

pack_bytes() { du -sb "$DIR/packs" 2>/dev/null | cut -f1; }

big_file() { # dtype size seed: gen_checkpoint output, or random bytes
  local g
  g=$(gen_file "$@")
  if [ -z "$g" ]; then
    g=$T/rand-$3.bin
    head -c "${2%M}M" /dev/urandom >"$g"
  fi
  echo "$g"
}

start_server "$DIR" --workers 1
create_repo "$REPO"
for f in "$DATA"/faceapi-age-gender.safetensors "$DATA"/human-blazeface.safetensors; do
  p=base/$(basename "$f")
  wait_job "$(upload "$REPO" "$p" "$f")"
  acked[$p]=$f
done
save_acked

# ---- 1. during an upload ----------------------------------------------------------
mid=$(big_file F16 32M 11)
"${CURL[@]}" -T "$mid" --limit-rate 4M -o /dev/null "$BASE/api/v1/repos/$REPO/files/partial.bin" 2>/dev/null &
cpid=$!
sleep 2
kill -9 "$PID"
wait "$cpid" 2>/dev/null && fail "the interrupted upload succeeded"
restart
s=$(req GET "$BASE/api/v1/repos/$REPO/files/partial.bin")
expect_json_error "$s" 404 "partial upload after the crash"
check_acked "upload crash"
check_listing "upload crash"

# ---- 2. during compression --------------------------------------------------------
big=$(big_file BF16 256M 7)
# not the upload helper: its checks take long enough for the job to finish
s=$(req PUT "$BASE/api/v1/repos/$REPO/files/big-bf16.safetensors" -T "$big")
expect_status "$s" 201 "big upload"
job=$(grep -o '"job_id":[0-9]*' "$T/body" | cut -d: -f2)
acked[big-bf16.safetensors]=$big
save_acked
wait_running "$job" || fail "job $job was not caught running"
sleep 0.$((RANDOM % 5))
kill -9 "$PID"
echo "killed during compression (job $job)"
restart
check_acked "compression crash" # at once: the spool serves it
wait_job "$job"
check_acked "compression crash, job redone"
check_listing "compression crash"

# ---- 3. during a chunk-store write ------------------------------------------------
big2=$(big_file F32 192M 8)
before=$(pack_bytes)
"${CURL[@]}" -T "$big2" -o "$T/up.big2" -w '%{http_code}' \
  "$BASE/api/v1/repos/$REPO/files/big-f32.safetensors" >"$T/upstatus.big2" &
cpid=$!
hit=0
for i in $(seq 1 3000); do
  now=$(pack_bytes)
  if [ "$now" -gt $((before + 4 * 1024 * 1024)) ]; then # well into the tensors
    kill -9 "$PID"
    hit=1
    break
  fi
  sleep 0.01
done
[ "$hit" = 1 ] || fail "never saw the pack file grow"
wait "$cpid" || fail "upload of big-f32 did not finish before its job wrote"
[ "$(cat "$T/upstatus.big2")" = 201 ] || fail "big-f32 not acknowledged"
job=$(jget "$T/up.big2" job_id)
acked[big-f32.safetensors]=$big2
save_acked
echo "killed while the pack grew ($before -> $now bytes)"
restart
check_acked "pack write crash"
wait_job "$job"
check_acked "pack write crash, job redone"
check_listing "pack write crash"

# ---- 4. random moments, uploads and jobs overlapping ----------------------------
: >"$T/maybe.list"
for round in 1 2 3; do
  f=$(big_file F16 48M $((20 + round)))
  p=round$round.safetensors
  echo "$p" >>"$T/maybe.list"
  "${CURL[@]}" -T "$f" -o "$T/up.$round" -w '%{http_code}' \
    "$BASE/api/v1/repos/$REPO/files/$p" >"$T/upstatus.$round" 2>/dev/null &
  cpid=$!
  sleep "0.$((RANDOM % 9 + 1))"
  kill -9 "$PID"
  wait "$cpid" 2>/dev/null || true
  if [ "$(cat "$T/upstatus.$round")" = 201 ]; then acked[$p]=$f; fi
  save_acked
  restart
  check_acked "random crash $round"
  check_listing "random crash $round" "$T/maybe.list"
  # a committed but unacknowledged upload must be whole
  if [ -z "${acked[$p]:-}" ] && [ "$(req GET "$BASE/api/v1/repos/$REPO/files/$p")" = 200 ]; then
    [ "$(sha "$T/body")" = "$(sha "$f")" ] || fail "round $round: unacknowledged $p is listed but wrong"
    acked[$p]=$f
    save_acked
  fi
done

# ---- final state: jobs done, spool empty, logical bytes exact ----------------
for i in $(seq 1 3000); do
  [ "$(req GET "$BASE/api/v1/stats")" = 200 ] || fail "stats"
  [ "$(jget "$T/body" spool_bytes)" = 0 ] && break
  sleep 0.1
done
[ "$(jget "$T/body" spool_bytes)" = 0 ] || fail "jobs never finished: $(cat "$T/body")"
[ "$(req POST "$BASE/api/v1/gc")" = 200 ] || fail "gc"
restart # a clean start after GC
check_acked "final"
total=0
for p in "${!acked[@]}"; do total=$((total + $(fsize "${acked[$p]}"))); done
[ "$(req GET "$BASE/api/v1/stats")" = 200 ] || fail "stats"
[ "$(jget "$T/body" logical_bytes)" = "$total" ] || fail "logical bytes $(jget "$T/body" logical_bytes), acknowledged $total"
left=$(find "$DIR/spool" -type f 2>/dev/null | wc -l)
[ "$left" = 0 ] || fail "$left files left in the spool: $(ls "$DIR/spool")"
pass
stop_server
fsck_clean "after the crashes, restarts and GC" --data "$DIR"
finish
