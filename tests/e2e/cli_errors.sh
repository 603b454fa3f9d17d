#!/usr/bin/env bash
# cli_errors.sh - the `elves` program's failure paths: missing files, bad
# ranges, truncated and corrupted containers, files that are not
# containers, bad options.  Each must exit non-zero (and below 128, so no
# crash) with exactly one line "elves: ..." on stderr, and a damaged
# container must never yield a wrong output file.
set -euo pipefail

elves=${ELVES_BUILD:?ELVES_BUILD not set}/elves
data=${ELVES_SHARED_DATA:?ELVES_SHARED_DATA not set}
[ -x "$elves" ] || { echo "FAIL: $elves not built" >&2; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/elves-cli-errors.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
checks=0

fail() { echo "FAIL: $*" >&2; exit 1; }

# Runs the command, which must fail cleanly with a one-line message.
expect_fail() { # description command...
  local what=$1 rc=0 lines; shift
  "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
  [ "$rc" -ne 0 ] || fail "$what: exit 0"
  [ "$rc" -lt 128 ] || fail "$what: exit $rc (crash?)"
  lines=$(wc -l <"$tmp/err")
  [ "$lines" -eq 1 ] || fail "$what: $lines lines on stderr: $(cat "$tmp/err")"
  grep '^elves: ' "$tmp/err" >/dev/null || fail "$what: message not 'elves: ...': $(cat "$tmp/err")"
  echo "ok ($rc): $what: $(cat "$tmp/err")"
  checks=$((checks + 1))
}

flip_byte() { # file offset
  python3 - "$1" "$2" <<'EOF'
import sys
path, off = sys.argv[1], int(sys.argv[2])
with open(path, "r+b") as f:
    f.seek(off)
    b = f.read(1)[0]
    f.seek(off)
    f.write(bytes([b ^ 0x5A]))
EOF
}

orig=$data/human-emotion.safetensors
good=$tmp/good.elv
"$elves" compress -q --block-size 64K "$orig" "$good"
size=$(stat -c %s "$good")
osize=$(stat -c %s "$orig")

echo "== missing files"
expect_fail "compress missing input" "$elves" compress "$tmp/nope" "$tmp/x.elv"
[ ! -e "$tmp/x.elv" ] && [ ! -e "$tmp/x.elv.tmp" ] || fail "compress left output"
expect_fail "decompress missing input" "$elves" decompress "$tmp/nope" "$tmp/x"
expect_fail "cat missing input" "$elves" cat --range 0-1 "$tmp/nope"
expect_fail "inspect missing input" "$elves" inspect "$tmp/nope"
expect_fail "bench missing input" "$elves" bench "$tmp/nope"
expect_fail "compress into a missing directory" "$elves" compress "$orig" "$tmp/no/dir/x.elv"
expect_fail "compress a directory" "$elves" compress "$tmp" "$tmp/x.elv"

echo "== bad ranges"
expect_fail "cat B < A" "$elves" cat --range 10-5 "$good"
expect_fail "cat start past the end" "$elves" cat --range "$osize-$((osize + 10))" "$good"
expect_fail "cat A- past the end" "$elves" cat --range "$((osize + 1))-" "$good"
expect_fail "cat -0" "$elves" cat --range -0 "$good"
expect_fail "cat no dash" "$elves" cat --range 5 "$good"
expect_fail "cat not a number" "$elves" cat --range a-b "$good"
expect_fail "cat negative" "$elves" cat --range 5--3 "$good"
expect_fail "cat overflow" "$elves" cat --range 99999999999999999999999-1 "$good"
expect_fail "cat without --range" "$elves" cat "$good"

echo "== not a container"
expect_fail "decompress a checkpoint" "$elves" decompress "$orig" "$tmp/x"
expect_fail "cat a checkpoint" "$elves" cat --range 0-10 "$orig"
: >"$tmp/empty"
expect_fail "decompress an empty file" "$elves" decompress "$tmp/empty" "$tmp/x"
head -c 8 "$good" >"$tmp/magic-only"
expect_fail "decompress the magic alone" "$elves" decompress "$tmp/magic-only" "$tmp/x"
[ ! -e "$tmp/x" ] || fail "a failed decompress left output"

echo "== truncated containers"
for keep in 20 100 $((size / 2)) $((size - 33)) $((size - 1)); do
  head -c "$keep" "$good" >"$tmp/trunc.elv"
  expect_fail "decompress truncated to $keep of $size bytes" \
    "$elves" decompress "$tmp/trunc.elv" "$tmp/x"
  expect_fail "inspect truncated to $keep bytes" "$elves" inspect "$tmp/trunc.elv"
  [ ! -e "$tmp/x" ] || fail "truncated container produced output"
done

echo "== corrupted containers"
cp "$good" "$tmp/bad.elv"
flip_byte "$tmp/bad.elv" $((8 + 20 + 1000)) # inside the first block's payload
expect_fail "decompress with a flipped byte in a block" \
  "$elves" decompress "$tmp/bad.elv" "$tmp/x"
[ ! -e "$tmp/x" ] && [ ! -e "$tmp/x.tmp" ] || fail "corrupt container produced output"
expect_fail "cat over a flipped byte" "$elves" cat --range 0-5000 "$tmp/bad.elv"
for off in 0 8 $((size - 8)) $((size - 20)) $((size - 40)); do
  cp "$good" "$tmp/bad.elv"
  flip_byte "$tmp/bad.elv" "$off"
  expect_fail "decompress with byte $off flipped" "$elves" decompress "$tmp/bad.elv" "$tmp/x"
  [ ! -e "$tmp/x" ] || fail "corrupt container produced output"
done
# A sweep over the whole container: any flipped byte must either fail or
# still give the original bytes (e.g. a flag bit the decoder never reads).
failed=0 same=0
for i in $(seq 0 59); do
  off=$((i * (size - 1) / 59))
  cp "$good" "$tmp/bad.elv"
  flip_byte "$tmp/bad.elv" "$off"
  rc=0
  "$elves" decompress -q "$tmp/bad.elv" "$tmp/x" 2>"$tmp/err" || rc=$?
  [ "$rc" -lt 128 ] || fail "flip at $off: exit $rc (crash?)"
  if [ "$rc" -ne 0 ]; then
    [ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "flip at $off: not one line: $(cat "$tmp/err")"
    [ ! -e "$tmp/x" ] || fail "flip at $off: failed but left output"
    failed=$((failed + 1))
  else
    cmp -s "$tmp/x" "$orig" || fail "flip at $off: decompress succeeded with wrong output"
    same=$((same + 1))
    rm -f "$tmp/x"
  fi
done
echo "ok: byte-flip sweep: $failed rejected, $same harmless, none wrong"
checks=$((checks + 1))

echo "== bad command lines"
expect_fail "no command" "$elves"
expect_fail "unknown command" "$elves" frobnicate
expect_fail "unknown top-level option" "$elves" --bogus
expect_fail "unknown option" "$elves" compress --bogus "$orig" "$tmp/x.elv"
expect_fail "unknown short option" "$elves" decompress -Z "$good" "$tmp/x"
expect_fail "missing option value" "$elves" compress "$orig" "$tmp/x.elv" --threads
expect_fail "bad --threads" "$elves" compress --threads lots "$orig" "$tmp/x.elv"
expect_fail "bad --mode" "$elves" compress --mode lossy "$orig" "$tmp/x.elv"
expect_fail "bad --block-size" "$elves" compress --block-size 1G "$orig" "$tmp/x.elv"
expect_fail "compress with one argument" "$elves" compress "$orig"
expect_fail "decompress with three arguments" "$elves" decompress "$good" a b
expect_fail "inspect without a file" "$elves" inspect
expect_fail "bench without a file" "$elves" bench
[ ! -e "$tmp/x.elv" ] || fail "a bad command line wrote output"

echo "== help and version succeed"
"$elves" --version | grep '^elves ' >/dev/null || fail "--version"
"$elves" --help >/dev/null || fail "--help"
for c in compress decompress cat inspect bench; do
  "$elves" "$c" --help | grep "^usage: elves $c" >/dev/null || fail "$c --help"
done
checks=$((checks + 1))

echo "PASS: $checks checks"
