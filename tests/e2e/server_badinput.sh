#!/usr/bin/env bash
# server_badinput.sh - hostile and broken requests against a real elvesd:
# truncated uploads (client killed mid-body; Content-Length larger than the
# body, then close), wrong or malformed X-Content-Sha256, malformed
# safetensors (stored as opaque bytes, downloadable bit-exact), path
# traversal in every spelling, invalid repo names, oversized headers, bad
# JSON bodies, unknown routes and methods.  Each must be a 4xx with a JSON
# {"error": ...} body, nothing half-stored may show up, and the server must
# go on serving the good file uploaded first.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
e2e_init badinput 600

REPO=bad/input
F=$DATA/faceapi-face-landmark-68-tiny.safetensors
BIG=$DATA/human-movenet-lightning.safetensors

still_serving() {
  download "$REPO" good.safetensors "$T/good"
  [ "$(sha "$T/good")" = "$(sha "$F")" ] || fail "good file changed"
  pass
}

# A path that must not exist (nothing was stored under it).
expect_absent() { # path
  local s
  s=$(req GET "$BASE/api/v1/repos/$REPO/files/$1")
  expect_json_error "$s" 404 "GET $1 after a failed upload"
}

start_server
create_repo "$REPO"
upload "$REPO" good.safetensors "$F" >/dev/null
logical_before=

# ---- truncated uploads -------------------------------------------------------
# the client dies mid-body
"${CURL[@]}" -T "$BIG" --limit-rate 200k -o /dev/null \
  "$BASE/api/v1/repos/$REPO/files/killed.bin" 2>/dev/null &
cpid=$!
sleep 1.5
kill -9 "$cpid" 2>/dev/null || true
wait "$cpid" 2>/dev/null || true
# Content-Length promises more than is sent, then the connection closes
"$PY" - "$PORT" "$REPO" <<'EOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(("PUT /api/v1/repos/%s/files/short.bin HTTP/1.1\r\nHost: x\r\n"
           "Content-Length: 1000000\r\n\r\n" % sys.argv[2]).encode() + b"x" * 5000)
s.shutdown(socket.SHUT_WR)
s.settimeout(10)
try:
    s.recv(100)
except OSError:
    pass
s.close()
EOF
# a chunked body that stops before its last chunk
"$PY" - "$PORT" "$REPO" <<'EOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(("PUT /api/v1/repos/%s/files/chunky.bin HTTP/1.1\r\nHost: x\r\n"
           "Transfer-Encoding: chunked\r\n\r\n" % sys.argv[2]).encode()
          + b"1000\r\n" + b"y" * 4096 + b"\r\n" + b"1000\r\n" + b"y" * 100)
s.close()
EOF
sleep 0.5
expect_absent killed.bin
expect_absent short.bin
expect_absent chunky.bin
still_serving

# ---- checksums ----------------------------------------------------------------
s=$(req PUT "$BASE/api/v1/repos/$REPO/files/wrongsum.bin" -T "$F" \
  -H "X-Content-Sha256: $(printf '0%.0s' $(seq 1 64))")
expect_json_error "$s" 400 "wrong X-Content-Sha256"
expect_absent wrongsum.bin
s=$(req PUT "$BASE/api/v1/repos/$REPO/files/badsum.bin" -T "$F" -H "X-Content-Sha256: xyz")
expect_json_error "$s" 400 "malformed X-Content-Sha256"
expect_absent badsum.bin
s=$(req PUT "$BASE/api/v1/repos/$REPO/files/upper.bin" -T "$F" \
  -H "X-Content-Sha256: $(sha "$F" | tr a-f A-F)")
expect_status "$s" 201 "X-Content-Sha256 in capitals"

# ---- malformed checkpoints: stored as opaque bytes, served bit-exact ---------
"$PY" - "$F" "$T" <<'EOF'
import os, struct, sys
src, out = sys.argv[1], sys.argv[2]
data = open(src, 'rb').read()
n = struct.unpack('<Q', data[:8])[0]
cases = {
    'hugeheader': struct.pack('<Q', 1 << 60) + data[8:],
    'truncated': data[:len(data) // 2],
    'badjson': data[:8] + b'{"a": [' + data[15:],
    'overlap': data[:8] + data[8:8 + n].replace(b'"data_offsets":[0,', b'"data_offsets":[1,', 1) + data[8 + n:],
    'trailing': data + b'\0' * 13,
    'tiny': b'\x05\0\0',
    'empty': b'',
    'random': os.urandom(300000),
}
for k, v in cases.items():
    open(os.path.join(out, 'mal-' + k + '.safetensors'), 'wb').write(v)
EOF
declare -A mjob
for m in "$T"/mal-*.safetensors; do
  mjob[$m]=$(upload "$REPO" "mal/$(basename "$m")" "$m")
done
for m in "${!mjob[@]}"; do
  wait_job "${mjob[$m]}"
  download "$REPO" "mal/$(basename "$m")" "$T/mal.out"
  cmp -s "$T/mal.out" "$m" || fail "malformed $(basename "$m") not served bit-exact"
  pass
done
s=$(req GET "$BASE/api/v1/repos/$REPO/files/mal/mal-empty.safetensors" -H "Range: bytes=0-0")
expect_status "$s" 200 "range on an empty file"

# ---- path traversal and bad paths (PUT and GET) ------------------------------
long=$(printf 'a%.0s' $(seq 1 1100))
for p in '../escape' '..' 'a/../../b' '%2e%2e/x' '%2E%2E%2Fx' 'x/%2e%2e' '.' 'a/./b' \
  '/etc/passwd' '%2Fetc%2Fpasswd' 'a//b' 'dir/' '..%5Cx' 'a%5Cb' 'a\b' \
  'a%00b' '%00' 'a%0Ab' 'a%zz' 'a%' "$long" '%FF%FE'; do
  # --data-binary, not -T: curl -T appends the file name to URLs ending in / or /.
  s=$(req PUT "$BASE/api/v1/repos/$REPO/files/$p" --path-as-is --data-binary @"$F")
  case $s in 4??) ;; *) fail "PUT '$p': status $s" ;; esac
  expect_json_error "$s" "$s" "PUT '$p'"
  s=$(req GET "$BASE/api/v1/repos/$REPO/files/$p" --path-as-is)
  case $s in 4??) ;; *) fail "GET '$p': status $s" ;; esac
  expect_json_error "$s" "$s" "GET '$p'"
done
s=$(req GET "$BASE/api/v1/repos/$REPO/../../../etc/passwd" --path-as-is)
expect_json_error "$s" 404 "traversal out of the API"
s=$(req GET "$BASE/api/v1/repos/$REPO/files/good.safetensors?revision=%zz")
expect_json_error "$s" 400 "bad query encoding"
s=$(req GET "$BASE/api/v1/repos/$REPO/files/good.safetensors?revision=no-such-branch")
expect_json_error "$s" 404 "unknown revision"
# An upload to a branch that does not exist is refused on its headers: curl
# sends "Expect: 100-continue" for bodies over 1 MB and never sends this one.
out=$("${CURL[@]}" -o "$T/body" -w '%{http_code} %{size_upload}' -T "$BIG" \
  "$BASE/api/v1/repos/$REPO/files/nobranch.bin?revision=no-such-branch" || true)
expect_json_error "${out% *}" 404 "upload to a missing branch"
[ "${out#* }" -lt "$(fsize "$BIG")" ] ||
  fail "upload to a missing branch: the whole body was sent (${out#* } bytes)"
s=$(req GET "$BASE/api/v1/repos/$REPO/files/missing.bin")
expect_json_error "$s" 404 "missing file"

# ---- repository names --------------------------------------------------------
long96=$(printf 'n%.0s' $(seq 1 97))
for n in 'noslash' 'a/b/c' '../x' 'a/..' '.a/b' '-a/b' 'a/-b' 'a b/c' 'a/b c' '/a' 'a/' \
  "$long96/x" 'a/\u00e9' 'a/b%00' ''; do
  s=$(req POST "$BASE/api/v1/repos" --data "{\"name\":\"$n\"}")
  expect_json_error "$s" 400 "create repo '$n'"
done
s=$(req POST "$BASE/api/v1/repos" --data "{\"name\":\"$REPO\"}")
expect_json_error "$s" 409 "existing repo"
for n in '.a/b' 'a/..' 'a%2Fb/c' 'a/b%00'; do
  s=$(req GET "$BASE/api/v1/repos/$n" --path-as-is)
  case $s in 400|404) ;; *) fail "GET repo '$n': $s" ;; esac
  expect_json_error "$s" "$s" "GET repo '$n'"
done
s=$(req PUT "$BASE/api/v1/repos/no/such/files/x.bin" -T "$F")
expect_json_error "$s" 404 "upload to a missing repo"
s=$(req GET "$BASE/api/v1/repos/no/such")
expect_json_error "$s" 404 "missing repo"

# ---- bad JSON bodies -----------------------------------------------------------
for b in '' '{' '[]' '"x"' '{"name":5}' '{"name":"ok/name","mode":"zip"}' \
  '{"name":"ok/name","mode":7}' '{"name":"ok/name","name":"ok/other"}' 'null'; do
  s=$(req POST "$BASE/api/v1/repos" -H 'Content-Type: application/json' --data-raw "$b")
  expect_json_error "$s" 400 "body '$b'"
done
printf '{"name":"\xff\xfe/x"}' >"$T/nonutf8.json"
s=$(req POST "$BASE/api/v1/repos" --data-binary @"$T/nonutf8.json")
expect_json_error "$s" 400 "non-UTF-8 body"
head -c 2000000 /dev/zero | tr '\0' ' ' >"$T/big.json"
s=$(req POST "$BASE/api/v1/repos" --data-binary @"$T/big.json")
expect_json_error "$s" 413 "body too large (Content-Length)"
s=$(req POST "$BASE/api/v1/repos" -H 'Transfer-Encoding: chunked' --data-binary @"$T/big.json")
expect_json_error "$s" 413 "body too large (chunked)"

# ---- headers ---------------------------------------------------------------------
big=$(head -c 40000 /dev/zero | tr '\0' 'h')
s=$(req GET "$BASE/healthz" -H "X-Big: $big")
expect_json_error "$s" 431 "header block over --max-header-bytes"
many=()
for i in $(seq 1 400); do many+=(-H "X-H$i: $(printf 'v%.0s' $(seq 1 80))"); done
s=$(req GET "$BASE/healthz" "${many[@]}")
expect_json_error "$s" 431 "many headers"
# far past the connection's memory: libmicrohttpd answers by itself (4xx)
{ printf 'X-Huge: '; head -c 600000 /dev/zero | tr '\0' 'h'; echo; } >"$T/huge.hdr"
s=$(req GET "$BASE/healthz" -H @"$T/huge.hdr")
case $s in 4??|000) pass ;; *) fail "huge header: $s" ;; esac
s=$(req GET "$BASE/api/v1/repos/$REPO/files/$(printf 'p%.0s' $(seq 1 5000))")
case $s in 4??) expect_json_error "$s" "$s" "long URL" ;; *) fail "long URL: $s" ;; esac

# ---- unknown routes and methods ---------------------------------------------
s=$(req GET "$BASE/nope")
expect_json_error "$s" 404 "unknown route"
s=$(req GET "$BASE/api/v1/repos/")
expect_json_error "$s" 404 "trailing slash"
s=$(req DELETE "$BASE/healthz")
expect_json_error "$s" 405 "DELETE /healthz"
[ "$(header Allow)" = "GET, HEAD" ] || fail "Allow: $(header Allow)"
s=$(req PATCH "$BASE/api/v1/stats")
expect_json_error "$s" 405 "PATCH /api/v1/stats"
s=$(req BREW "$BASE/api/v1/stats")
expect_json_error "$s" 501 "unknown method"
s=$(req GET "$BASE/api/v1/jobs/abc")
expect_json_error "$s" 400 "job id not a number"
s=$(req GET "$BASE/api/v1/jobs/-1")
expect_json_error "$s" 400 "negative job id"
s=$(req GET "$BASE/api/v1/jobs/99999999")
expect_json_error "$s" 404 "missing job"
s=$(req GET "$BASE/api/v1/jobs/99999999999999999999999")
expect_json_error "$s" 400 "job id overflow"

# garbage on the wire: the server drops or answers it, and keeps serving
"$PY" - "$PORT" <<'EOF'
import socket, sys
for junk in [b"\x00\x01\x02\r\n\r\n", b"GET\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n",
             b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
             b"PUT /api/v1/repos/bad/input/files/x HTTP/1.1\r\nHost: x\r\n"
             b"Content-Length: -5\r\n\r\n",
             b"PUT /api/v1/repos/bad/input/files/x HTTP/1.1\r\nHost: x\r\n"
             b"Transfer-Encoding: chunked\r\n\r\nzz\r\n"]:
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    s.settimeout(5)
    s.sendall(junk)
    try:
        s.recv(1000)
    except OSError:
        pass
    s.close()
EOF
pass
expect_absent x

# the listing holds only what was acknowledged
s=$(req GET "$BASE/api/v1/repos/$REPO/files")
expect_status "$s" 200 "listing"
"$PY" - "$T/body" <<'EOF' || fail "listing has unexpected files: $(cat "$T/body")"
import json, sys
v = json.load(open(sys.argv[1]))
files = v if isinstance(v, list) else v["files"]
names = sorted(f["path"] for f in files)
extra = [n for n in names if not (n in ("good.safetensors", "upper.bin") or n.startswith("mal/"))]
assert not extra, extra
assert len(names) == 10, names
EOF
pass
still_serving
stop_server
finish
