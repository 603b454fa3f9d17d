#!/usr/bin/env bash
# server_dedup.sh - deduplication and reference counting through the API:
#   - the same file in two repositories: stored bytes grow once;
#   - two files sharing tensors (the second is the first plus one tensor):
#     the second adds only about what is new;
#   - deletes in either order keep the survivor downloadable bit-exact,
#     GC frees nothing still referenced, and once everything is deleted the
#     stats return to zero after GC; a re-upload after that works.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
e2e_init dedup 600

F=$DATA/human-facemesh.safetensors
G=$DATA/human-emotion.safetensors

stat_of() { # [repo] key: a figure from /api/v1/stats or the repo's stats
  local url=$BASE/api/v1/stats key
  if [ $# -eq 2 ]; then url=$BASE/api/v1/repos/$1/stats; key=$2; else key=$1; fi
  [ "$(req GET "$url")" = 200 ] || fail "stats: $(cat "$T/body")"
  jget "$T/body" "$key"
}

gc() {
  [ "$(req POST "$BASE/api/v1/gc")" = 200 ] || fail "gc: $(cat "$T/body")"
}

delete_file() { # repo path
  local s
  s=$(req DELETE "$BASE/api/v1/repos/$1/files/$2")
  expect_status "$s" 200 "delete $1/$2"
  s=$(req GET "$BASE/api/v1/repos/$1/files/$2")
  expect_json_error "$s" 404 "GET $1/$2 after delete"
}

same_bytes() { # repo path original
  download "$1" "$2" "$T/dl"
  cmp -s "$T/dl" "$3" || fail "$1/$2 differs from $3"
  pass
}

put_and_wait() { # repo path file
  wait_job "$(upload "$@")"
}

start_server
create_repo dedup/one
create_repo dedup/two

# ---- the same file twice ---------------------------------------------------------
[ "$(stat_of stored_bytes)" = 0 ] || fail "a new store is not empty"
put_and_wait dedup/one f.safetensors "$F"
c1=$(stat_of chunk_bytes)
[ "$c1" -gt 0 ] || fail "nothing stored after the first upload"
[ "$(stat_of spool_bytes)" = 0 ] || fail "spool not emptied after the job"
put_and_wait dedup/two copy.safetensors "$F"
c2=$(stat_of chunk_bytes)
[ "$c2" = "$c1" ] || fail "same file stored twice: chunk bytes $c1 -> $c2"
[ "$(stat_of logical_bytes)" = $((2 * $(fsize "$F"))) ] || fail "logical bytes"
[ "$(stat_of dedup_saved_bytes)" -ge "$c1" ] || fail "dedup_saved_bytes < $c1"
[ "$(stat_of dedup/two chunk_bytes)" = "$c1" ] || fail "repo stats of the copy"
pass

# ---- two files sharing tensors ------------------------------------------------------
# G2 = G plus one small new tensor at the end of the buffer: every tensor of
# G is in G2, the header differs.
"$PY" - "$G" "$T/g2.safetensors" <<'EOF'
import json, os, struct, sys
data = open(sys.argv[1], 'rb').read()
n = struct.unpack('<Q', data[:8])[0]
hdr = json.loads(data[8:8 + n])
body = data[8 + n:]
extra = os.urandom(4096)
hdr['zz_extra'] = {'dtype': 'F32', 'shape': [1024],
                   'data_offsets': [len(body), len(body) + len(extra)]}
h = json.dumps(hdr, separators=(',', ':')).encode()
h += b' ' * (-len(h) % 8)
open(sys.argv[2], 'wb').write(struct.pack('<Q', len(h)) + h + body + extra)
EOF
before=$(stat_of chunk_bytes)
put_and_wait dedup/one g.safetensors "$G"
grow_g=$(( $(stat_of chunk_bytes) - before ))
before=$(stat_of chunk_bytes)
put_and_wait dedup/two g2.safetensors "$T/g2.safetensors"
grow_g2=$(( $(stat_of chunk_bytes) - before ))
echo "G stored $grow_g bytes; G2 (G + 4 KiB tensor) added $grow_g2 bytes"
[ "$grow_g" -gt 0 ] || fail "G stored nothing"
[ "$grow_g2" -gt 0 ] || fail "G2 added nothing (its new tensor must be stored)"
[ "$grow_g2" -lt $((grow_g / 4)) ] || fail "G2 shares G's tensors but added $grow_g2 of $grow_g"
pass

# ---- deletes, in both orders ------------------------------------------------------
# F: the original first; the copy must survive it, and GC must not free it
delete_file dedup/one f.safetensors
gc
same_bytes dedup/two copy.safetensors "$F"
delete_file dedup/two copy.safetensors
# G/G2: the file that was uploaded second goes first this time
delete_file dedup/two g2.safetensors
gc
same_bytes dedup/one g.safetensors "$G"
[ "$(stat_of chunk_bytes)" -le "$((grow_g + 4096))" ] || fail "G2's own chunks not freed"
delete_file dedup/one g.safetensors
gc
for k in logical_bytes stored_bytes chunk_bytes spool_bytes files; do
  [ "$(stat_of "$k")" = 0 ] || fail "after deleting everything and GC: $k = $(stat_of "$k")"
done
pass

# ---- re-upload after everything was freed, then delete the repo -------------------
put_and_wait dedup/one f.safetensors "$F"
[ "$(stat_of chunk_bytes)" = "$c1" ] || fail "re-upload stored $(stat_of chunk_bytes), first time $c1"
same_bytes dedup/one f.safetensors "$F"
put_and_wait dedup/two g.safetensors "$G"
s=$(req DELETE "$BASE/api/v1/repos/dedup/one")
expect_status "$s" 200 "delete repo"
s=$(req GET "$BASE/api/v1/repos/dedup/one")
expect_json_error "$s" 404 "deleted repo"
gc
same_bytes dedup/two g.safetensors "$G"
s=$(req DELETE "$BASE/api/v1/repos/dedup/two")
expect_status "$s" 200 "delete repo"
gc
for k in logical_bytes stored_bytes chunk_bytes; do
  [ "$(stat_of "$k")" = 0 ] || fail "after deleting the repos and GC: $k = $(stat_of "$k")"
done
pass

# ---- restart: the empty state persists -----------------------------------------
stop_server
start_server "$T/data"
[ "$(stat_of stored_bytes)" = 0 ] || fail "stats after restart"
stop_server
finish
