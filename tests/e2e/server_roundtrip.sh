#!/usr/bin/env bash
# server_roundtrip.sh - uploads every real checkpoint in $ELVES_SHARED_DATA
# and synthetic F32/BF16/F16 files (gen_checkpoint, when built) to a real
# elvesd with `curl -T`, then checks the bytes that come back:
#   - whole downloads by SHA-256, first while the file may still be served
#     from the spool, again once its job is done, and after a restart;
#   - 50+ random ranges per file (a-b, a-, -n) against dd of the original;
#   - HEAD headers (Content-Length, ETag, Accept-Ranges, Last-Modified);
#   - 304 (If-None-Match, If-Modified-Since), 416, If-Range (tag and date),
#     multipart/byteranges, a chunked upload, X-Content-Sha256 accepted.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
e2e_init roundtrip 840
RANDOM=4242

REPO=test/roundtrip

range_check() { # file name range first last
  local f=$1 name=$2 range=$3 first=$4 last=$5 s
  s=$("${CURL[@]}" -o "$T/r.got" -D "$T/r.h" -w '%{http_code}' -H "Range: bytes=$range" \
    "$BASE/api/v1/repos/$REPO/files/$name" || true)
  [ "$s" = 206 ] || fail "$name range $range: status $s"
  dd if="$f" of="$T/r.want" bs=1M iflag=skip_bytes,count_bytes skip="$first" \
    count=$((last - first + 1)) status=none
  cmp -s "$T/r.got" "$T/r.want" || fail "$name range $range: bytes differ"
  grep -qi "^Content-Range: bytes $first-$last/$(fsize "$f")" "$T/r.h" \
    || fail "$name range $range: Content-Range $(grep -i content-range "$T/r.h")"
  pass
}

random_ranges() { # file name count
  local f=$1 name=$2 n=$3 size a b len i
  size=$(fsize "$f")
  range_check "$f" "$name" "0-0" 0 0
  range_check "$f" "$name" "$((size - 1))-" $((size - 1)) $((size - 1))
  for i in $(seq 1 "$n"); do
    a=$(rand_below "$size")
    len=$(( $(rand_below 4) == 0 ? $(rand_below 3000000) + 1 : $(rand_below 70000) + 1 ))
    b=$((a + len - 1))
    case $((i % 5)) in
      0) range_check "$f" "$name" "$a-" "$a" $((size - 1)) ;;
      1) n2=$(( len < size ? len : size ))
         range_check "$f" "$name" "-$len" $((size - n2)) $((size - 1)) ;;
      *) range_check "$f" "$name" "$a-$b" "$a" $((b < size ? b : size - 1)) ;;
    esac
  done
}

head_check() { # file name
  local f=$1 name=$2 s
  s=$(req HEAD "$BASE/api/v1/repos/$REPO/files/$name")
  expect_status "$s" 200 "HEAD $name"
  [ "$(header Content-Length)" = "$(fsize "$f")" ] || fail "HEAD $name: Content-Length $(header Content-Length)"
  [ "$(header ETag)" = "\"$(sha "$f")\"" ] || fail "HEAD $name: ETag $(header ETag)"
  [ "$(header Accept-Ranges)" = bytes ] || fail "HEAD $name: Accept-Ranges"
  date -d "$(header Last-Modified)" +%s >/dev/null 2>&1 || fail "HEAD $name: Last-Modified '$(header Last-Modified)'"
  pass
}

whole_check() { # file name
  download "$REPO" "$2" "$T/whole"
  [ "$(sha "$T/whole")" = "$(sha "$1")" ] || fail "download of $2 differs"
  pass
}

conditional_checks() { # file name
  local f=$1 name=$2 url="$BASE/api/v1/repos/$REPO/files/$2" etag lm s size
  etag="\"$(sha "$f")\""
  size=$(fsize "$f")
  s=$(req GET "$url" -H "If-None-Match: $etag")
  expect_status "$s" 304 "If-None-Match"
  [ ! -s "$T/body" ] || fail "304 with a body"
  [ "$(header ETag)" = "$etag" ] || fail "304 without the ETag"
  s=$(req GET "$url" -H "If-None-Match: \"nope\", W/$etag")
  expect_status "$s" 304 "If-None-Match list, weak"
  s=$(req GET "$url" -H 'If-None-Match: "nope"')
  expect_status "$s" 200 "If-None-Match other tag"
  lm=$(header Last-Modified)
  s=$(req GET "$url" -H "If-Modified-Since: $lm")
  expect_status "$s" 304 "If-Modified-Since"
  s=$(req GET "$url" -H "If-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT")
  expect_status "$s" 200 "If-Modified-Since long ago"

  s=$(req GET "$url" -H "Range: bytes=$size-")
  expect_json_error "$s" 416 "range past the end"
  [ "$(header Content-Range)" = "bytes */$size" ] || fail "416 Content-Range: $(header Content-Range)"
  s=$(req GET "$url" -H "Range: bytes=-0")
  expect_json_error "$s" 416 "empty suffix range"
  s=$(req GET "$url" -H "Range: bytes=5-1")
  expect_status "$s" 200 "invalid range ignored"
  s=$(req GET "$url" -H "Range: items=0-1")
  expect_status "$s" 200 "unknown range unit ignored"

  s=$(req GET "$url" -H "Range: bytes=10-19" -H "If-Range: $etag")
  expect_status "$s" 206 "If-Range with the ETag"
  s=$(req GET "$url" -H "Range: bytes=10-19" -H 'If-Range: "stale"')
  expect_status "$s" 200 "If-Range with another ETag"
  [ "$(fsize "$T/body")" = "$size" ] || fail "If-Range mismatch did not send the whole file"
  s=$(req GET "$url" -H "Range: bytes=10-19" -H "If-Range: $lm")
  expect_status "$s" 206 "If-Range with the date"
  s=$(req GET "$url" -H "Range: bytes=10-19" -H "If-Range: Thu, 01 Jan 1970 00:00:00 GMT")
  expect_status "$s" 200 "If-Range with another date"

  s=$(req GET "$url" -H "Range: bytes=0-9,100-199,-5")
  expect_status "$s" 206 "multiple ranges"
  "$PY" - "$T/headers" "$T/body" "$f" <<'EOF' || fail "multipart/byteranges body wrong"
import re, sys
heads = open(sys.argv[1], 'rb').read().decode()
body = open(sys.argv[2], 'rb').read()
orig = open(sys.argv[3], 'rb').read()
m = re.search(r'(?im)^content-type: multipart/byteranges; boundary=(\S+)', heads)
assert m, heads
delim = b'--' + m.group(1).encode()
parts = body.split(b'\r\n' + delim)
assert parts[0] == b'', parts[0][:50]
assert parts[-1] == b'--\r\n', parts[-1]
want = [(0, 9), (100, 199), (len(orig) - 5, len(orig) - 1)]
got = []
for p in parts[1:-1]:
    hdr, data = p.split(b'\r\n\r\n', 1)
    r = re.search(rb'Content-Range: bytes (\d+)-(\d+)/(\d+)', hdr)
    a, b, n = map(int, r.groups())
    assert n == len(orig) and data == orig[a:b + 1], (a, b)
    got.append((a, b))
assert got == want, got
EOF
  pass
}

start_server
create_repo "$REPO"

files=("$DATA"/*.safetensors)
for spec in "F32 24M 1" "BF16 64M 2" "F16 16M 3"; do
  g=$(gen_file $spec)
  [ -n "$g" ] && files+=("$g")
done
[ "${#files[@]}" -gt 0 ] || fail "no input files"
[ -x "$GEN" ] || echo "note: $GEN not built; synthetic files skipped"

declare -A job
for f in "${files[@]}"; do
  name=models/$(basename "$f")
  job[$f]=$(upload "$REPO" "$name" "$f" -H "X-Content-Sha256: $(sha "$f")")
  whole_check "$f" "$name" # likely still from the spool
  random_ranges "$f" "$name" 26
done

# a chunked upload (curl reads stdin: no Content-Length)
f=${files[0]}
s=$(req PUT "$BASE/api/v1/repos/$REPO/files/chunked.bin" -T - <"$f")
expect_status "$s" 201 "chunked upload"
[ "$(jget "$T/body" sha256)" = "$(sha "$f")" ] || fail "chunked upload sha256"
job[chunked]=$(jget "$T/body" job_id)
# the request log counts the 201's JSON body (bytes is the 5th field)
body_len=$(stat -c %s "$T/body")
logged=$(grep " PUT /api/v1/repos/$REPO/files/chunked.bin 201 " "$LOG" | tail -1 | awk '{print $5}')
[ "$logged" = "$body_len" ] || fail "upload log line counts $logged body bytes, sent $body_len"
pass

for k in "${!job[@]}"; do wait_job "${job[$k]}"; done

for f in "${files[@]}"; do
  name=models/$(basename "$f")
  whole_check "$f" "$name" # from the chunk store
  head_check "$f" "$name"
  random_ranges "$f" "$name" 26
done
download "$REPO" chunked.bin "$T/chunked"
[ "$(sha "$T/chunked")" = "$(sha "${files[0]}")" ] || fail "chunked upload round trip"
conditional_checks "${files[0]}" "models/$(basename "${files[0]}")"

# the listing shows every file, stored
s=$(req GET "$BASE/api/v1/repos/$REPO/files")
expect_status "$s" 200 "file listing"
"$PY" - "$T/body" "${#files[@]}" <<'EOF' || fail "listing: $(head -c 400 "$T/body")"
import json, sys
v = json.load(open(sys.argv[1]))
files = v if isinstance(v, list) else v["files"]
assert len(files) == int(sys.argv[2]) + 1, len(files)
for e in files:
    assert e["state"] == "stored", e
    assert len(e["sha256"]) == 64 and e["size"] >= 0
EOF
pass

# a clean stop and a restart keep everything
stop_server
start_server "$T/data"
for f in "${files[@]}"; do whole_check "$f" "models/$(basename "$f")"; done
stop_server
finish
