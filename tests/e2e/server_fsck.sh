#!/usr/bin/env bash
# server_fsck.sh - elvesd fsck on a store with a little of everything
# (several models, a file replaced, one deleted, a delta-coded fine-tune
# whose base repository was deleted, GC run):
#   - clean at rest and while elvesd runs; --repair refused while it runs,
#     and so is a second elvesd on the same data directory;
#   - damage the metadata the way drift would (reference counts, a pack's
#     totals, a dead mark): found, each by its check, and --repair fixes
#     it, after which fsck is clean and every file still downloads
#     byte-exact;
#   - damage --repair cannot fix (a delta tensor whose base row is gone,
#     a tensor's block removed, a stored file with no job-free state): found
#     and left, exit 1;
#   - the chunk store: a pack truncated, a pack removed: found.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
e2e_init fsck 300

FAM=$ELVES_SRC/tests/data/family
fsck_out() { # dir [flags]: runs fsck, sets rc, output in $T/fsck.out
  rc=0
  "$ELVESD" fsck --data "$@" >"$T/fsck.out" 2>&1 || rc=$?
}
expect_found() { # check-name what
  grep -q "^fsck: $1: " "$T/fsck.out" || fail "fsck did not report $1 ($2): $(cat "$T/fsck.out")"
  pass
}
sql() { # dir statement
  "$PY" - "$1/elves.db" "$2" <<'EOF'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute(sys.argv[2])
c.commit()
EOF
}
all_bytes_ok() {
  for f in "m/a model.safetensors $DATA/human-antispoof.safetensors" \
    "m/a w/two.safetensors $DATA/human-handlandmark-lite.safetensors" \
    "fam/ft model.safetensors $FAM/ft-a.bf16.safetensors"; do
    set -- $f
    download "$1" "$2" "$T/dl"
    cmp -s "$T/dl" "$3" || fail "$1/$2 differs after repair"
  done
  pass
}

D=$T/data
start_server "$D"
create_repo m/a
wait_job "$(upload m/a model.safetensors "$DATA/human-antispoof.safetensors")"
wait_job "$(upload m/a w/two.safetensors "$DATA/faceapi-age-gender.safetensors")"
wait_job "$(upload m/a w/two.safetensors "$DATA/human-handlandmark-lite.safetensors")"
wait_job "$(upload m/a gone.safetensors "$DATA/human-emotion.safetensors")"
[ "$(req DELETE "$BASE/api/v1/repos/m/a/files/gone.safetensors")" = 200 ] || fail "delete a file"
create_repo fam/base
wait_job "$(upload fam/base model.safetensors "$FAM/base.bf16.safetensors")"
s=$(req POST "$BASE/api/v1/repos" -H 'Content-Type: application/json' \
  --data '{"name":"fam/ft","base":"fam/base"}')
expect_status "$s" 201 "create the fine-tune repo"
wait_job "$(upload fam/ft model.safetensors "$FAM/ft-a.bf16.safetensors")"
[ "$(req DELETE "$BASE/api/v1/repos/fam/base")" = 200 ] || fail "delete the base"
[ "$(req POST "$BASE/api/v1/gc")" = 200 ] || fail "gc"

fsck_clean "while elvesd runs" --data "$D"
# one process per data directory (issue 17): a second elvesd refuses it
rc=0
timeout 20 "$ELVESD" --data "$D" --listen 127.0.0.1:0 2>"$T/second.log" || rc=$?
[ "$rc" != 0 ] && [ "$rc" != 124 ] && grep -q "in use by another elvesd (pid $PID)" "$T/second.log" ||
  fail "a second elvesd on the same data directory (exit $rc): $(cat "$T/second.log")"
pass
fsck_out "$D" --repair
[ "$rc" = 2 ] && grep -q "a running elvesd" "$T/fsck.out" ||
  fail "--repair ran beside a running elvesd (exit $rc): $(cat "$T/fsck.out")"
pass
stop_server
fsck_clean "at rest" --data "$D"

# ---- drift that the rows themselves can correct ------------------------------------
sql "$D" "UPDATE chunks SET refcount = refcount + 2 WHERE id = (SELECT min(id) FROM chunks WHERE refcount > 0)"
sql "$D" "UPDATE tensors SET refcount = refcount + 1 WHERE id = (SELECT max(id) FROM tensors WHERE refcount > 0)"
sql "$D" "UPDATE packs SET live_bytes = live_bytes + 7"
sql "$D" "UPDATE chunks SET dead_since = 12345 WHERE id = (SELECT max(id) FROM chunks WHERE refcount > 0)"
fsck_out "$D"
[ "$rc" = 1 ] || fail "fsck exit $rc on drifted counts: $(cat "$T/fsck.out")"
expect_found chunk_refcount "a refcount 2 too high"
expect_found tensor_refcount "a tensor refcount 1 too high"
expect_found pack_totals "live_bytes off by 7"
expect_found chunk_dead_mark "a referenced chunk marked dead"
grep -q "repair fixes this" "$T/fsck.out" || fail "fsck does not say --repair would help"
fsck_out "$D" --repair
[ "$rc" = 0 ] && grep -q "(repaired)" "$T/fsck.out" || fail "--repair (exit $rc): $(cat "$T/fsck.out")"
pass
fsck_clean "after --repair" --data "$D"
start_server "$D"
all_bytes_ok
stop_server

# ---- damage it cannot correct: a copy of the store each time ------------------------
damaged() { # name statement check-name
  rm -rf "$T/copy"; cp -a "$D" "$T/copy"
  sql "$T/copy" "$2"
  fsck_out "$T/copy" --repair
  [ "$rc" = 1 ] || fail "fsck --repair exit $rc on $1: $(cat "$T/fsck.out")"
  expect_found "$3" "$1"
}
damaged "a delta's base row gone" \
  "UPDATE tensors SET base_id = 999999 WHERE id = (SELECT max(id) FROM tensors WHERE base_id IS NOT NULL)" \
  delta_base_missing
damaged "a delta's base is a delta" \
  "UPDATE tensors SET base_id = (SELECT max(id) FROM tensors WHERE base_id IS NOT NULL) WHERE id = (SELECT min(id) FROM tensors WHERE base_id IS NOT NULL)" \
  delta_chain
damaged "a base tensor's block removed" \
  "DELETE FROM tensor_blocks WHERE tensor_id = (SELECT min(base_id) FROM tensors) AND seq = 0" \
  tensor_blocks_cover
damaged "a chunk row removed" \
  "DELETE FROM chunks WHERE id = (SELECT min(chunk_id) FROM file_blocks)" \
  block_chunk_missing
damaged "a stored file whose job is queued again" \
  "UPDATE jobs SET state = 'queued' WHERE id = (SELECT min(id) FROM jobs WHERE state = 'done')" \
  job_file_done

# ---- the chunk store -----------------------------------------------------------------
pack=$(ls "$D/packs" | head -1)
rm -rf "$T/copy"; cp -a "$D" "$T/copy"
truncate -s 1000 "$T/copy/packs/$pack"
fsck_out "$T/copy"
[ "$rc" = 1 ] && grep -q "but its chunks reach" "$T/fsck.out" || fail "a truncated pack (exit $rc): $(cat "$T/fsck.out")"
pass
rm "$T/copy/packs/$pack"
fsck_out "$T/copy"
[ "$rc" = 1 ] && grep -q "missing from the chunk store" "$T/fsck.out" || fail "a removed pack (exit $rc): $(cat "$T/fsck.out")"
pass
fsck_out "$T/nowhere"
[ "$rc" = 2 ] && [ ! -e "$T/nowhere" ] || fail "fsck of no store (exit $rc) or it made one"
pass
finish
