#!/usr/bin/env bash
# cli_roundtrip.sh - end-to-end round trips through the `elves` program on
# every real checkpoint in $ELVES_SHARED_DATA (and a generated one when the
# gen_checkpoint tool is built): compress/decompress must give back the same
# SHA-256 (1 and 2 threads), `cat` must return exactly the bytes of the
# original for edge and random ranges, elf mode must restore a file of the
# same size, `inspect` must work in text and JSON, and `bench --json` must
# give a round-tripped report whose bounds are ordered as they must be.
set -euo pipefail

elves=${ELVES_BUILD:?ELVES_BUILD not set}/elves
data=${ELVES_SHARED_DATA:?ELVES_SHARED_DATA not set}
[ -x "$elves" ] || { echo "FAIL: $elves not built" >&2; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/elves-cli-roundtrip.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
RANDOM=20240601 # the same "random" ranges on every run
checks=0

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { checks=$((checks + 1)); }
sha() { sha256sum "$1" | cut -d' ' -f1; }

# compress + decompress with the given options; the output must be the
# original byte for byte.
roundtrip() { # file label [options...]
  local f=$1 label=$2; shift 2
  local base=$tmp/$(basename "$f").$label
  "$elves" compress -q "$@" "$f" "$base.elv"
  "$elves" decompress -q "$@" "$base.elv" "$base.out"
  [ "$(sha "$base.out")" = "$(sha "$f")" ] || fail "$label round trip of $f differs"
  [ ! -e "$base.elv.tmp" ] && [ ! -e "$base.out.tmp" ] || fail "$label left a .tmp file"
  rm -f "$base.out"
  pass
}

# `elves cat --range R` against the same bytes cut from the original.
cat_check() { # container original range first last
  local c=$1 f=$2 range=$3 first=$4 last=$5
  "$elves" cat --range "$range" "$c" >"$tmp/cat.got"
  dd if="$f" of="$tmp/cat.want" bs=1M iflag=skip_bytes,count_bytes \
    skip="$first" count="$((last - first + 1))" status=none
  cmp -s "$tmp/cat.got" "$tmp/cat.want" || fail "cat --range $range of $f differs"
  pass
}

rand_below() { # n: a number in [0, n)
  echo $(( ((RANDOM << 30) | (RANDOM << 15) | RANDOM) % $1 ))
}

cat_checks() { # container original
  local c=$1 f=$2 size a b i
  size=$(stat -c %s "$f")
  cat_check "$c" "$f" "0-0" 0 0
  cat_check "$c" "$f" "$((size - 1))-$((size - 1))" $((size - 1)) $((size - 1))
  cat_check "$c" "$f" "0-$((size - 1))" 0 $((size - 1))
  cat_check "$c" "$f" "0-$((size + 1000))" 0 $((size - 1)) # end clamped
  a=$(rand_below "$size")
  cat_check "$c" "$f" "$a-" "$a" $((size - 1))
  cat_check "$c" "$f" "-100" $((size > 100 ? size - 100 : 0)) $((size - 1))
  for i in $(seq 1 20); do
    a=$(rand_below "$size")
    if [ $((i % 2)) -eq 0 ]; then # short ranges, often inside one block
      b=$((a + $(rand_below 5000)))
    else # long ones, across blocks and tensors
      b=$((a + $(rand_below "$size")))
    fi
    [ "$b" -lt "$size" ] || b=$((size - 1))
    cat_check "$c" "$f" "$a-$b" "$a" "$b"
  done
}

json_ok() { python3 -c 'import json,sys; json.load(sys.stdin)'; }

inspect_checks() { # checkpoint container
  "$elves" inspect "$1" | grep '^format:' >/dev/null || fail "inspect $1"
  "$elves" inspect --json "$1" | json_ok || fail "inspect --json $1"
  "$elves" inspect "$2" | grep '^total:' >/dev/null || fail "inspect $2"
  "$elves" inspect --json "$2" | json_ok || fail "inspect --json $2"
  pass
}

elf_check() { # file
  local f=$1 base=$tmp/$(basename "$1").elf
  "$elves" compress -q --mode elf "$f" "$base.elv"
  "$elves" decompress -q "$base.elv" "$base.out"
  [ "$(stat -c %s "$base.out")" = "$(stat -c %s "$f")" ] || fail "elf size of $f"
  rm -f "$base.out" "$base.elv"
  pass
}

nfiles=0
for f in "$data"/*; do
  case $f in *.md) continue ;; esac
  [ -f "$f" ] || continue
  nfiles=$((nfiles + 1))
  echo "== $(basename "$f"): round trip (default, --threads 1, --threads 2)"
  roundtrip "$f" default
  roundtrip "$f" t1 --threads 1
  roundtrip "$f" t2 --threads 2
  echo "== $(basename "$f"): cat ranges on 64 KiB blocks"
  small=$tmp/$(basename "$f").small.elv
  "$elves" compress -q --block-size 64K "$f" "$small"
  cat_checks "$small" "$f"
  echo "== $(basename "$f"): cat ranges on default blocks"
  cat_checks "$tmp/$(basename "$f").default.elv" "$f"
  echo "== $(basename "$f"): inspect, elf mode"
  inspect_checks "$f" "$small"
  elf_check "$f"
  rm -f "$tmp"/*.elv
done
[ "$nfiles" -gt 0 ] || fail "no files in $data"

echo "== non-checkpoint inputs: empty file, a text file"
: >"$tmp/empty"
roundtrip "$tmp/empty" empty
printf 'not a checkpoint\n' >"$tmp/text"
roundtrip "$tmp/text" text
cat_checks "$tmp/text.text.elv" "$tmp/text"

echo "== outputs that are not plain files: a FIFO and a symlink stay what they are"
# Never /dev/null itself: a regression would replace the machine's /dev/null.
f=$(ls "$data"/*.safetensors | head -1)
"$elves" compress -q "$f" "$tmp/p.elv"
mkfifo "$tmp/fifo"
timeout 60 cat "$tmp/fifo" >"$tmp/from-fifo" &
"$elves" decompress -q "$tmp/p.elv" "$tmp/fifo" || fail "decompress into a FIFO"
wait $! || fail "reading the FIFO"
[ -p "$tmp/fifo" ] || fail "the FIFO was replaced by a plain file"
[ "$(sha256sum <"$tmp/from-fifo")" = "$(sha256sum <"$f")" ] || fail "bytes through the FIFO differ"
: >"$tmp/target"
ln -s "$tmp/target" "$tmp/link"
"$elves" decompress -q "$tmp/p.elv" "$tmp/link" || fail "decompress through a symlink"
[ -L "$tmp/link" ] || fail "the symlink was replaced by a plain file"
[ "$(sha256sum <"$tmp/target")" = "$(sha256sum <"$f")" ] || fail "bytes through the symlink differ"
rm -f "$tmp/fifo" "$tmp/link" "$tmp/target" "$tmp/from-fifo" "$tmp/p.elv"
pass

# elves bench on one real file with F32 tensors: the container round trips
# (bench checks it), and for the F32 tensors in elf mode the order-0 plane
# bound <= the Huffman floor (optimal codes cost at least the entropy) <=
# the raw bytes, so a wrong floor or bound shows.
live=$data/human-liveness.safetensors
[ -f "$live" ] || fail "$live missing"
"$elves" bench --json "$live" >"$tmp/bench.json" || fail "bench on $live"
python3 - "$tmp/bench.json" <<'PY' || fail "bench report of $live"
import json, sys
f = json.load(open(sys.argv[1]))["files"][0]["f32_elf"]
b, h, raw = f["plane_bound"], f["huffman_floor"], f["bytes"]
assert 0 < b <= h <= raw, (b, h, raw)
assert f["over_bound"] == 0 and f["values"] == raw // 4, f
PY
pass

gen=${ELVES_BUILD}/gen_checkpoint
if [ -x "$gen" ]; then
  echo "== synthetic 64M BF16 checkpoint from gen_checkpoint"
  "$gen" --dtype BF16 --size 64M --seed 1 "$tmp/synthetic.safetensors"
  roundtrip "$tmp/synthetic.safetensors" t2 --threads 2
  cat_checks "$tmp/synthetic.safetensors.t2.elv" "$tmp/synthetic.safetensors"
  elf_check "$tmp/synthetic.safetensors"
else
  echo "FAIL: $gen not built (it is part of the same build)" >&2
  exit 1
fi

echo "PASS: $checks checks on $nfiles files"
