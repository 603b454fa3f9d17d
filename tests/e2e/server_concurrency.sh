#!/usr/bin/env bash
# server_concurrency.sh - many clients at once against a real elvesd:
# 16 parallel uploads (distinct contents, some sharing tensors), then 64
# parallel ranged downloads while the compression jobs are still running,
# then 64 more once they are done.  Every request must succeed and every
# byte must match dd of the original; the log must show no 5xx.
# Run once with a thread per connection (the default) and once with an
# epoll thread pool (--io-threads 2).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
e2e_init concurrency 840
RANDOM=777

REPO=conc/many
src=("$DATA"/*.safetensors)

# 16 inputs: the real files, then copies with a few bytes appended (opaque
# then, same tensors otherwise) until there are 16.
inputs=()
for i in $(seq 0 15); do
  f=${src[$((i % ${#src[@]}))]}
  if [ "$i" -ge "${#src[@]}" ]; then
    cp "$f" "$T/in.$i"
    printf 'variant %d' "$i" >>"$T/in.$i"
    f=$T/in.$i
  fi
  inputs+=("$f")
done

parallel_uploads() {
  local i pids=() s
  for i in "${!inputs[@]}"; do
    "${CURL[@]}" -T "${inputs[$i]}" -o "$T/up.$i" -w '%{http_code}' \
      "$BASE/api/v1/repos/$REPO/files/f$i.bin" >"$T/upstatus.$i" &
    pids+=($!)
  done
  for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || fail "upload $i: curl failed"
    s=$(cat "$T/upstatus.$i")
    [ "$s" = 201 ] || fail "upload $i: status $s $(cat "$T/up.$i")"
    [ "$(jget "$T/up.$i" sha256)" = "$(sha "${inputs[$i]}")" ] || fail "upload $i: sha256"
    pass
  done
}

# 64 ranged downloads at once, then each compared with dd of the original.
parallel_ranges() { # tag
  local i k f size a b pids=() first last
  declare -A want
  for i in $(seq 0 63); do
    k=$(rand_below 16)
    f=${inputs[$k]}
    size=$(fsize "$f")
    a=$(rand_below "$size")
    b=$((a + $(rand_below 300000)))
    [ "$b" -lt "$size" ] || b=$((size - 1))
    want[$i]="$k $a $b"
    "${CURL[@]}" -r "$a-$b" -o "$T/dl.$i" -w '%{http_code}' \
      "$BASE/api/v1/repos/$REPO/files/f$k.bin" >"$T/dlstatus.$i" &
    pids+=($!)
  done
  for i in $(seq 0 63); do
    wait "${pids[$i]}" || fail "$1 download $i: curl failed"
    [ "$(cat "$T/dlstatus.$i")" = 206 ] || fail "$1 download $i: status $(cat "$T/dlstatus.$i")"
    read -r k first last <<<"${want[$i]}"
    dd if="${inputs[$k]}" of="$T/want.$i" bs=1M iflag=skip_bytes,count_bytes \
      skip="$first" count=$((last - first + 1)) status=none
    cmp -s "$T/dl.$i" "$T/want.$i" || fail "$1 download $i (f$k $first-$last): bytes differ"
    pass
  done
}

# Text log lines: "TIME METHOD TARGET STATUS BYTES MS REMOTE" for requests,
# "TIME LEVEL MESSAGE" for the rest.
no_server_errors() {
  local bad
  bad=$(awk '$4 ~ /^5[0-9][0-9]$/ || $2 == "error"' "$LOG" | head -3)
  [ -z "$bad" ] || fail "errors in the log: $bad"
  pass
}

run_round() { # flags...
  start_server "$T/data.$#" "$@"
  create_repo "$REPO"
  parallel_uploads
  parallel_ranges "during jobs"
  for i in "${!inputs[@]}"; do wait_job "$(jget "$T/up.$i" job_id)"; done
  parallel_ranges "after jobs"
  no_server_errors
  stop_server
}

run_round
run_round --io-threads 2
finish
