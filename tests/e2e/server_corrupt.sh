#!/usr/bin/env bash
# server_corrupt.sh - a damaged chunk is never served over HTTP.  The
# download path does not hash chunks in the chunk store (the block
# decoder checks each decoded block's own checksum instead), so this checks
# the whole way through: after one byte is flipped in every record of
# every pack, a whole-file GET and a Range GET both fail (an error status,
# or a connection cut short once the 200's headers are out) and never
# deliver the original length of wrong bytes; the log says CORRUPT.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
e2e_init corrupt 300

F=$DATA/human-movenet-lightning.safetensors
start_server
create_repo t/c
wait_job "$(upload t/c m.safetensors "$F")"
download t/c m.safetensors "$T/good"
cmp -s "$T/good" "$F" || fail "intact download differs"
pass
stop_server

# one byte flipped in the middle of every record's bytes
"$PY" - "$T/data/packs" <<'EOF'
import os, struct, sys
n = 0
for name in sorted(os.listdir(sys.argv[1])):
    if not name.startswith("pack-"):
        continue
    path = os.path.join(sys.argv[1], name)
    with open(path, "r+b") as f:
        data = f.read()
        at = 0
        while at + 16 <= len(data):
            length = struct.unpack_from("<I", data, at + 4)[0]
            mid = at + 16 + length // 2
            f.seek(mid)
            f.write(bytes([data[mid] ^ 0x10]))
            n += 1
            at += 16 + length
assert n > 0, "no records found"
EOF

start_server
size=$(fsize "$F")
got=0
rc=0
s=$("${CURL[@]}" -o "$T/bad" -w '%{http_code}' "$BASE/api/v1/repos/t/c/files/m.safetensors") || rc=$?
[ -f "$T/bad" ] && got=$(fsize "$T/bad")
if [ "$s" = 200 ] && [ "$rc" = 0 ]; then
  fail "damaged file served whole (200, $got bytes)"
fi
[ "$got" -lt "$size" ] || [ "$s" != 200 ] || fail "damaged file: $got bytes delivered"
pass

rc=0
s=$("${CURL[@]}" -o "$T/badr" -w '%{http_code}' -r 1000000-1100000 "$BASE/api/v1/repos/t/c/files/m.safetensors") || rc=$?
if [ "$s" = 206 ] && [ "$rc" = 0 ]; then
  fail "damaged range served whole"
fi
pass
grep -q CORRUPT "$LOG" || fail "no CORRUPT line in the log"
pass
stop_server
finish
