#!/usr/bin/env bash
# server_delta.sh - model families through elvesd (issue 15): the BF16
# family of tests/data/family, a base repository and a fine-tune
# repository that declares it ("base" on create, X-Elves-Base on upload):
#   - each fine-tune is stored delta-coded: at more than 2x where coded
#     alone it is 1.5x (elves bench --base on the same files);
#   - downloads and Range requests are byte-exact;
#   - the base repository deleted and GC run: every fine-tune still
#     downloads byte-exact (the base tensors stay, invisible), and the base
#     is gone from listings;
#   - a repository with no declared base whose README.md names one
#     (base_model in the model card's front matter) is delta-coded too;
#   - with neither, the base is detected for a fine-tune, and for none of
#     a look-alike (same names and shapes, other weights) and the 13
#     unrelated models of shared/data;
#   - the fine-tunes deleted too: GC returns the store to empty;
#   - elvesd fsck finds the references consistent with the base deleted
#     and at the end;
#   - a base that does not exist or is malformed: the file is coded alone
#     (logged), or the request is a 400.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
e2e_init delta 600

FAM=$ELVES_SRC/tests/data/family
BASEF=$FAM/base.bf16.safetensors

stat_of() { # [repo] key
  local url=$BASE/api/v1/stats key
  if [ $# -eq 2 ]; then url=$BASE/api/v1/repos/$1/stats; key=$2; else key=$1; fi
  [ "$(req GET "$url")" = 200 ] || fail "stats: $(cat "$T/body")"
  jget "$T/body" "$key"
}
gc() { [ "$(req POST "$BASE/api/v1/gc")" = 200 ] || fail "gc: $(cat "$T/body")"; }
same_bytes() { # repo path original
  download "$1" "$2" "$T/dl"
  cmp -s "$T/dl" "$3" || fail "$1/$2 differs from $3"
  pass
}
range_ok() { # repo path original first last
  local s
  s=$(req GET "$BASE/api/v1/repos/$1/files/$2" -H "Range: bytes=$4-$5")
  expect_status "$s" 206 "range $4-$5 of $1/$2"
  dd if="$3" of="$T/want" bs=64K iflag=skip_bytes,count_bytes skip="$4" \
    count=$(($5 - $4 + 1)) status=none
  cmp -s "$T/body" "$T/want" || fail "range $4-$5 of $1/$2 differs"
}

start_server
create_repo fam/base
wait_job "$(upload fam/base model.safetensors "$BASEF")"

# A repository that declares its base at creation.
s=$(req POST "$BASE/api/v1/repos" -H 'Content-Type: application/json' \
  --data '{"name":"fam/ft-a","base":"fam/base"}')
expect_status "$s" 201 "create with a base"
[ "$(jget "$T/body" base)" = fam/base ] || fail "repo JSON lacks base: $(cat "$T/body")"
# One that declares it with its first upload.
create_repo fam/ft-b
wait_job "$(upload fam/ft-a model.safetensors "$FAM/ft-a.bf16.safetensors")"
wait_job "$(upload fam/ft-b model.safetensors "$FAM/ft-b.bf16.safetensors" -H 'X-Elves-Base: fam/base@main')"
[ "$(req GET "$BASE/api/v1/repos/fam/ft-b")" = 200 ] && [ "$(jget "$T/body" base)" = fam/base@main ] ||
  fail "X-Elves-Base not recorded: $(cat "$T/body")"
wait_job "$(upload fam/ft-b frozen.safetensors "$FAM/ft-frozen.bf16.safetensors")"
pass

for r in fam/ft-a fam/ft-b; do
  raw=$(stat_of "$r" logical_bytes) stored=$(stat_of "$r" chunk_bytes)
  [ "$((stored * 2))" -lt "$raw" ] || fail "$r: $raw bytes stored in $stored: not delta-coded"
  dl=$(stat_of "$r" delta_logical_bytes) ds=$(stat_of "$r" delta_stored_bytes)
  saved=$(stat_of "$r" delta_saved_bytes)
  [ "$dl" -gt $((raw * 9 / 10)) ] && [ "$ds" -gt 0 ] && [ "$ds" -le "$stored" ] &&
    [ "$saved" -gt $((dl / 5)) ] || fail "$r: delta stats $dl/$ds/$saved beside $raw/$stored"
  echo "$r: $raw bytes stored in $stored against the base; delta-coded $dl -> $ds, saved $saved"
done
[ "$(stat_of fam/base delta_logical_bytes)" = 0 ] || fail "the base counts as delta-coded"
[ "$(stat_of delta_saved_bytes)" -gt 0 ] || fail "store-wide delta_saved_bytes"
pass

for f in "fam/ft-a model.safetensors ft-a" "fam/ft-b model.safetensors ft-b" \
  "fam/ft-b frozen.safetensors ft-frozen"; do
  set -- $f
  same_bytes "$1" "$2" "$FAM/$3.bf16.safetensors"
done
range_ok fam/ft-a model.safetensors "$FAM/ft-a.bf16.safetensors" 0 99
range_ok fam/ft-a model.safetensors "$FAM/ft-a.bf16.safetensors" 100000 333333
range_ok fam/ft-b frozen.safetensors "$FAM/ft-frozen.bf16.safetensors" 400000 510575

# The listing names the base each file was coded against.
delta_base() { # repo path: the listing's delta.base of path
  [ "$(req GET "$BASE/api/v1/repos/$1/files")" = 200 ] || fail "list $1: $(cat "$T/body")"
  "$PY" - "$T/body" "$2" <<'EOF'
import json, sys
for f in json.load(open(sys.argv[1])):
    if f["path"] == sys.argv[2]:
        print("null" if f["delta"] is None else f["delta"]["base"] or "(gone)")
EOF
}
[ "$(delta_base fam/ft-a model.safetensors)" = fam/base ] || fail "listing: $(cat "$T/body")"
[ "$(delta_base fam/base model.safetensors)" = null ] || fail "the base listed as delta-coded"
pass

# The base repository goes; its tensors stay for the fine-tunes.
s=$(req DELETE "$BASE/api/v1/repos/fam/base")
expect_status "$s" 200 "delete the base repository"
gc
s=$(req GET "$BASE/api/v1/repos/fam/base")
expect_json_error "$s" 404 "the base repository after delete"
for f in "fam/ft-a model.safetensors ft-a" "fam/ft-b model.safetensors ft-b" \
  "fam/ft-b frozen.safetensors ft-frozen"; do
  set -- $f
  same_bytes "$1" "$2" "$FAM/$3.bf16.safetensors"
done
# (ft-frozen's embeddings are the base's own tensors, deduplicated: the
# listing now names fam/ft-b, which holds some of ft-a's base tensors)
[ "$(delta_base fam/ft-a model.safetensors)" = fam/ft-b ] || fail "listing after the base went: $(cat "$T/body")"
# and after a restart (no cache, maps loaded again)
stop_server
fsck_clean "with the base deleted, its tensors kept" --data "$T/data"
start_server "$T/data"
same_bytes fam/ft-a model.safetensors "$FAM/ft-a.bf16.safetensors"
range_ok fam/ft-b model.safetensors "$FAM/ft-b.bf16.safetensors" 250000 260000

# The base named by the model card (README.md front matter, a list): the
# F32 family, so no file is a copy of one stored above.
create_repo fam/base32
wait_job "$(upload fam/base32 model.safetensors "$FAM/base.f32.safetensors")"
create_repo fam/card
printf -- '---\nlicense: mit\nbase_model:\n  - fam/base32\n  - x/y\n---\n# ft-a\n' >"$T/README.md"
wait_job "$(upload fam/card README.md "$T/README.md")"
wait_job "$(upload fam/card model.safetensors "$FAM/ft-a.f32.safetensors")"
[ "$(stat_of fam/card delta_logical_bytes)" -gt 500000 ] ||
  fail "README.md base_model not used: $(cat "$T/body")"
same_bytes fam/card model.safetensors "$FAM/ft-a.f32.safetensors"

# Detection: no base declared, no model card.  ft-b (F32) finds the F32
# base; the same architecture with other weights (the base's values
# shuffled within each tensor) and the 13 unrelated models of shared/data,
# each in a repository of its own, find none.
create_repo fam/detect
wait_job "$(upload fam/detect model.safetensors "$FAM/ft-b.f32.safetensors")"
[ "$(stat_of fam/detect delta_logical_bytes)" -gt 500000 ] ||
  fail "ft-b's base not detected: $(cat "$T/body")"
grep -q "base detection: fam/base32 matches" "$LOG" || fail "no detection log line"
same_bytes fam/detect model.safetensors "$FAM/ft-b.f32.safetensors"
"$PY" - "$FAM/base.f32.safetensors" "$T/shuffled.safetensors" <<'EOF'
import json, random, struct, sys
b = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n])
data = bytearray(b[8 + n:])
rnd = random.Random(7)
for k, v in h.items():
    if k == "__metadata__":
        continue
    s, e = v["data_offsets"]
    el = [data[i:i + 4] for i in range(s, e, 4)]
    rnd.shuffle(el)
    data[s:e] = b"".join(el)
open(sys.argv[2], "wb").write(b[:8 + n] + bytes(data))
EOF
before=$(stat_of delta_logical_bytes)
create_repo fam/lookalike
wait_job "$(upload fam/lookalike model.safetensors "$T/shuffled.safetensors")"
grep -q "base detection: fam/base32 matches .*coded alone" "$LOG" ||
  fail "the look-alike was not sampled and refused"
# (uploaded at once and compressed two at a time: each is checked against
# the family and the models stored before it)
i=0 jobs=()
for f in "$DATA"/*.safetensors; do
  i=$((i + 1))
  create_repo "zoo/m$i"
  jobs+=("$(upload "zoo/m$i" model.safetensors "$f")")
done
for j in "${jobs[@]}"; do wait_job "$j"; done
[ "$(stat_of delta_logical_bytes)" = "$before" ] ||
  fail "a false base: delta-coded bytes $before -> $(stat_of delta_logical_bytes)"
pass

# A base that is not there: coded alone; a malformed one: 400.
create_repo fam/orphan
wait_job "$(upload fam/orphan m.safetensors "$FAM/ft-a.bf16.safetensors" -H 'X-Elves-Base: fam/nowhere')"
same_bytes fam/orphan m.safetensors "$FAM/ft-a.bf16.safetensors"
s=$(req PUT "$BASE/api/v1/repos/fam/orphan/files/x.bin" -T "$BASEF" -H 'X-Elves-Base: not a repo')
expect_json_error "$s" 400 "a malformed X-Elves-Base"
s=$(req POST "$BASE/api/v1/repos" -H 'Content-Type: application/json' \
  --data '{"name":"fam/bad","base":"../x"}')
expect_json_error "$s" 400 "a malformed base on create"

# Everything goes: the space returns.
[ "$(req DELETE "$BASE/api/v1/repos/fam/ft-b")" = 200 ] || fail "delete fam/ft-b"
[ "$(delta_base fam/ft-a model.safetensors)" = "(gone)" ] || fail "listing, no base left: $(cat "$T/body")"
same_bytes fam/ft-a model.safetensors "$FAM/ft-a.bf16.safetensors"
for r in fam/ft-a fam/orphan fam/card fam/base32 fam/detect fam/lookalike \
  $(seq -f 'zoo/m%g' 1 "$i"); do
  [ "$(req DELETE "$BASE/api/v1/repos/$r")" = 200 ] || fail "delete $r: $(cat "$T/body")"
done
gc
gc # the base tensors become collectable once their delta tensors are gone
[ "$(stat_of chunk_bytes)" = 0 ] || fail "chunk bytes left after deleting everything: $(cat "$T/body")"
pass
fsck_clean "of the emptied store, elvesd running" --data "$T/data"
finish
