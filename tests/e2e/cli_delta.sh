#!/usr/bin/env bash
# cli_delta.sh - `elves compress/decompress/cat --base` on the model family
# of tests/data/family (a base transformer and three fine-tunes of it, F32
# and BF16): every fine-tune round trips bit-exact (sha256) through a
# container coded against its base, smaller than coded alone; ranges read
# through `cat --base` match the original; `inspect` names the base; a base
# given as a container works; a missing base, a wrong base, a base that is
# itself delta-coded are one-line errors, never wrong bytes.
set -euo pipefail

elves=${ELVES_BUILD:?ELVES_BUILD not set}/elves
family=${ELVES_SRC:?ELVES_SRC not set}/tests/data/family
[ -x "$elves" ] || { echo "FAIL: $elves not built" >&2; exit 1; }
(cd "$family" && sha256sum -c --quiet SHA256SUMS) || { echo "FAIL: family data damaged" >&2; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/elves-cli-delta.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
checks=0

fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; checks=$((checks + 1)); }
sha() { sha256sum "$1" | cut -d' ' -f1; }
size() { stat -c %s "$1"; }

expect_fail() { # description pattern command...
  local what=$1 pat=$2 rc=0; shift 2
  "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
  [ "$rc" -ne 0 ] && [ "$rc" -lt 128 ] || fail "$what: exit $rc"
  [ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "$what: not one line: $(cat "$tmp/err")"
  grep -q "$pat" "$tmp/err" || fail "$what: message lacks '$pat': $(cat "$tmp/err")"
  ok "$what: $(cat "$tmp/err")"
}

for dt in bf16 f32; do
  base=$family/base.$dt.safetensors
  for ft in ft-a ft-b ft-frozen; do
    in=$family/$ft.$dt.safetensors
    "$elves" compress -q "$in" "$tmp/alone.elv"
    "$elves" compress -q --base "$base" "$in" "$tmp/$ft.$dt.elv"
    [ "$(size "$tmp/$ft.$dt.elv")" -lt "$(size "$tmp/alone.elv")" ] ||
      fail "$ft $dt: delta $(size "$tmp/$ft.$dt.elv") not below alone $(size "$tmp/alone.elv")"
    "$elves" decompress -q --base "$base" "$tmp/$ft.$dt.elv" "$tmp/out.st"
    [ "$(sha "$tmp/out.st")" = "$(sha "$in")" ] || fail "$ft $dt: round trip differs"
    ok "$ft $dt: $(size "$in") -> $(size "$tmp/$ft.$dt.elv") against the base (alone $(size "$tmp/alone.elv")), sha256 equal"
  done
done

# Ranges: straddling tensors, inside one, the last bytes.
c=$tmp/ft-a.bf16.elv
in=$family/ft-a.bf16.safetensors
base=$family/base.bf16.safetensors
for r in 0-99 1000-300000 123456-123999 -5000; do
  "$elves" cat --base "$base" --range "$r" "$c" >"$tmp/range"
  case $r in
    -*) tail -c "${r#-}" "$in" >"$tmp/want" ;;
    *) a=${r%-*} z=${r#*-}
       dd if="$in" of="$tmp/want" bs=64K iflag=skip_bytes,count_bytes skip="$a" \
         count=$((z - a + 1)) status=none ;;
  esac
  cmp -s "$tmp/range" "$tmp/want" || fail "cat --range $r differs"
done
ok "cat --base: four ranges byte-exact"

# inspect names the base file's sha256 and counts delta blocks.
"$elves" inspect "$c" >"$tmp/inspect"
grep -q "delta-coded against the base with sha256 $(sha "$base")" "$tmp/inspect" ||
  fail "inspect does not name the base: $(head -5 "$tmp/inspect")"
"$elves" inspect --json "$c" >"$tmp/inspect.json"
python3 - "$tmp/inspect.json" "$(sha "$base")" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["base_sha256"] == sys.argv[2], d["base_sha256"]
assert d["delta_segments"] > 0
assert any(s["base"] and s["delta_blocks"] > 0 for s in d["segments"])
EOF
ok "inspect: base sha256 and delta blocks, text and JSON"

# The base given as a container of itself.
"$elves" compress -q "$base" "$tmp/base.elv"
"$elves" decompress -q --base "$tmp/base.elv" "$c" "$tmp/out.st"
[ "$(sha "$tmp/out.st")" = "$(sha "$in")" ] || fail "container base: round trip differs"
ok "a base given as a container decodes the same bytes"

expect_fail "no base" "delta-coded against a base with sha256 $(sha "$base")" \
  "$elves" decompress "$c" "$tmp/x.st"
[ ! -e "$tmp/x.st" ] || fail "an output file was left behind"
expect_fail "wrong base" "wrong base" \
  "$elves" decompress --base "$family/base.f32.safetensors" "$c" "$tmp/x.st"
expect_fail "cat without base" "give it with --base" "$elves" cat --range 0-10 "$c"
expect_fail "a delta-coded base" "itself delta-coded" \
  "$elves" decompress --base "$tmp/ft-b.bf16.elv" "$c" "$tmp/x.st"
expect_fail "missing base file" "No such file" \
  "$elves" compress --base "$tmp/nope.st" "$in" "$tmp/x.elv"

echo "cli_delta: $checks checks passed"
