#!/usr/bin/env bash
# hf_mirror.sh - two elvesd: an upstream holding repositories and a mirror
# started with --upstream pointing at it.  Through the mirror: repo info,
# tree, HEAD and ranged/whole GETs (bytes compared by SHA-256), a private
# repo through --upstream-token, upstream 404s passed through with their
# X-Error-Code, a branch re-resolved after --upstream-ttl, a fine-tune
# delta-coded against a base the mirror fetched before.  Then the
# upstream stops: what was fetched is still served (by branch and by commit
# id), and what was never fetched is a 504.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
e2e_init hf_mirror 300

code() { header X-Error-Code; }
b64() { base64 -w0 "$1"; }
big=$DATA/human-handlandmark-lite.safetensors
small=$DATA/human-antispoof.safetensors

# ---- the upstream ------------------------------------------------------------------
start_server "$T/up"
UP=$BASE; UP_PID=$PID; UP_LOG=$LOG
TOK=$("$ELVESD" token create --data "$T/up" --name mirror --write)
A=(-H "Authorization: Bearer $TOK")
s=$(req POST "$UP/api/repos/create" "${A[@]}" --data '{"name":"up/model"}')
expect_status "$s" 200 "upstream repo"
s=$(req PUT "$UP/api/v1/repos/up/model/files/w/model.safetensors" "${A[@]}" -T "$big")
expect_status "$s" 201 "upstream upload (LFS-style file)"
echo '{"model_type":"bert"}' >"$T/config.json"
printf '{"key":"header","value":{"summary":"cfg"}}\n{"key":"file","value":{"content":"%s","path":"config.json","encoding":"base64"}}\n' \
  "$(b64 "$T/config.json")" >"$T/c.ndjson"
s=$(req POST "$UP/api/models/up/model/commit/main" "${A[@]}" --data-binary "@$T/c.ndjson")
expect_status "$s" 200 "upstream commit (regular file)"
c1=$(jget "$T/body" commitOid)
s=$(req POST "$UP/api/repos/create" "${A[@]}" --data '{"name":"up/secret","private":true}')
expect_status "$s" 200 "upstream private repo"
s=$(req PUT "$UP/api/v1/repos/up/secret/files/s.safetensors" "${A[@]}" -T "$small")
expect_status "$s" 201 "upstream private upload"

# ---- the mirror --------------------------------------------------------------------------
start_server "$T/mirror" --upstream "$UP" --upstream-token "$TOK" --upstream-ttl 1
M=$BASE; M_PID=$PID

s=$(req GET "$M/api/models/up/model")
expect_status "$s" 200 "info through the mirror"
[ "$(jget "$T/body" sha)" = "$c1" ] || fail "mirror sha is not the upstream's commit"
s=$(req GET "$M/api/models/up/model/tree/main?recursive=true")
expect_status "$s" 200 "tree through the mirror"
grep -q xetHash "$T/body" && fail "xetHash in the mirror's tree"
[ "$(jget "$T/body" 2 lfs oid)" = "$(sha "$big")" ] || fail "mirror tree lfs oid: $(cat "$T/body")"
s=$(req HEAD "$M/up/model/resolve/main/w/model.safetensors")
expect_status "$s" 200 "HEAD of a file not fetched yet"
[ "$(header X-Repo-Commit)" = "$c1" ] || fail "X-Repo-Commit"
[ "$(header X-Linked-Size)" = "$(fsize "$big")" ] || fail "X-Linked-Size"
[ "$(header X-Linked-Etag)" = "\"$(sha "$big")\"" ] || fail "X-Linked-Etag"
s=$(req GET "$M/up/model/resolve/main/w/model.safetensors" -H 'Range: bytes=0-0')
expect_status "$s" 206 "a range of a file not fetched yet (relayed)"
[ "$(header Content-Range)" = "bytes 0-0/$(fsize "$big")" ] || fail "relayed Content-Range"
s=$(req GET "$M/up/model/resolve/main/w/model.safetensors")
expect_status "$s" 200 "first GET (streamed from the upstream)"
[ "$(sha "$T/body")" = "$(sha "$big")" ] || fail "first GET bytes"
s=$(req GET "$M/up/model/resolve/main/config.json")
expect_status "$s" 200 "regular file through the mirror"
cmp -s "$T/body" "$T/config.json" || fail "config.json bytes"
s=$(req GET "$M/up/secret/resolve/main/s.safetensors")
expect_status "$s" 200 "private upstream repo through --upstream-token"
[ "$(sha "$T/body")" = "$(sha "$small")" ] || fail "private bytes"
s=$(req GET "$M/api/models/up/nothing")
[ "$s" = 404 ] && [ "$(code)" = RepoNotFound ] || fail "upstream 404 not passed through: $s $(code)"; pass
s=$(req GET "$M/up/model/resolve/nobranch/config.json")
[ "$s" = 404 ] && [ "$(code)" = RevisionNotFound ] || fail "RevisionNotFound not passed through: $s $(code)"; pass
s=$(req HEAD "$M/up/model/resolve/main/missing.bin")
[ "$s" = 404 ] && [ "$(code)" = EntryNotFound ] || fail "EntryNotFound: $s $(code)"; pass

# the cached copy is a real file version: compressed like an upload
for i in $(seq 1 100); do
  n=$(curl -s "$M/api/v1/stats" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["chunk_bytes"])')
  [ "$n" -gt 0 ] && break; sleep 0.1
done
[ "$n" -gt 0 ] || fail "nothing compressed on the mirror"; pass

# a new commit upstream shows through the mirror once the ttl has passed
echo '{"model_type":"bert","v":2}' >"$T/config2.json"
printf '{"key":"header","value":{"summary":"cfg2"}}\n{"key":"file","value":{"content":"%s","path":"config.json","encoding":"base64"}}\n' \
  "$(b64 "$T/config2.json")" >"$T/c2.ndjson"
s=$(req POST "$UP/api/models/up/model/commit/main" "${A[@]}" --data-binary "@$T/c2.ndjson")
c2=$(jget "$T/body" commitOid)
sleep 1.2
s=$(req GET "$M/up/model/resolve/main/config.json")
expect_status "$s" 200 "GET after the upstream moved"
cmp -s "$T/body" "$T/config2.json" || fail "the mirror did not re-resolve main after the ttl"
[ "$(header X-Repo-Commit)" = "$c2" ] || fail "X-Repo-Commit after the move"

# ---- a model family through the mirror ------------------------------------------------
# The mirror detects that a fine-tune it fetches is one of a base it fetched
# before (no local repository declares anything), codes it as a delta, and
# serves it byte-exact, online and (below) offline.
FAM=$ELVES_SRC/tests/data/family
for r in fam-base fam-ft; do
  s=$(req POST "$UP/api/repos/create" "${A[@]}" --data "{\"name\":\"up/$r\"}")
  expect_status "$s" 200 "upstream repo up/$r"
done
s=$(req PUT "$UP/api/v1/repos/up/fam-base/files/model.safetensors" "${A[@]}" -T "$FAM/base.bf16.safetensors")
expect_status "$s" 201 "upstream base upload"
s=$(req PUT "$UP/api/v1/repos/up/fam-ft/files/model.safetensors" "${A[@]}" -T "$FAM/ft-a.bf16.safetensors")
expect_status "$s" 201 "upstream fine-tune upload"
mirror_idle() { # waits for every job the mirror has made
  local id=1
  while [ "$(req GET "$M/api/v1/jobs/$id")" = 200 ]; do
    BASE=$M wait_job "$id" 60; id=$((id + 1))
  done
}
chunk_bytes() { curl -s "$M/api/v1/stats" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["chunk_bytes"])'; }
s=$(req GET "$M/up/fam-base/resolve/main/model.safetensors")
expect_status "$s" 200 "base through the mirror"
[ "$(sha "$T/body")" = "$(sha "$FAM/base.bf16.safetensors")" ] || fail "base bytes"
mirror_idle
before=$(chunk_bytes)
s=$(req GET "$M/up/fam-ft/resolve/main/model.safetensors")
expect_status "$s" 200 "fine-tune through the mirror"
[ "$(sha "$T/body")" = "$(sha "$FAM/ft-a.bf16.safetensors")" ] || fail "fine-tune bytes"
mirror_idle
grew=$(( $(chunk_bytes) - before )); ftsize=$(fsize "$FAM/ft-a.bf16.safetensors")
echo "mirrored fine-tune: $ftsize bytes stored in $grew"
grep -q "base detection: model:up/fam-base .*delta-coded against it" "$LOG" ||
  fail "the mirror did not detect the mirrored base: $(grep 'base detection' "$LOG")"
# coded alone this file takes 0.67 of its size, as a delta 0.43 (server_delta)
[ $((grew * 100)) -lt $((ftsize * 55)) ] || fail "the mirrored fine-tune was not delta-coded: $grew of $ftsize"
pass
# a local repository of the mirror's is detected against the mirrored base too
create_repo loc/ft
wait_job "$(upload loc/ft model.safetensors "$FAM/ft-b.bf16.safetensors")"
s=$(req GET "$M/api/v1/repos/loc/ft/files")
expect_status "$s" 200 "local listing"
[ "$(jget "$T/body" 0 delta base)" = model:up/fam-base ] || fail "the listing does not name the mirrored base: $(cat "$T/body")"
download loc/ft model.safetensors "$T/ftb"
[ "$(sha "$T/ftb")" = "$(sha "$FAM/ft-b.bf16.safetensors")" ] || fail "local fine-tune bytes"
s=$(req GET "$M/up/fam-ft/resolve/main/model.safetensors" -H 'Range: bytes=100000-299999')
expect_status "$s" 206 "range of the delta-coded fine-tune"
cmp -s "$T/body" <(tail -c +100001 "$FAM/ft-a.bf16.safetensors" | head -c 200000) || fail "fine-tune range bytes"

# ---- the upstream goes away ------------------------------------------------------------
PID=$UP_PID; LOG=$UP_LOG; stop_server
PID=$M_PID
sleep 1.2 # the pin of main is stale now: the upstream cannot be asked
s=$(req GET "$M/up/model/resolve/main/w/model.safetensors")
expect_status "$s" 200 "cached file by branch, upstream down"
[ "$(sha "$T/body")" = "$(sha "$big")" ] || fail "offline bytes"
s=$(req GET "$M/up/fam-ft/resolve/main/model.safetensors")
expect_status "$s" 200 "cached delta-coded fine-tune, upstream down"
[ "$(sha "$T/body")" = "$(sha "$FAM/ft-a.bf16.safetensors")" ] || fail "offline fine-tune bytes"
s=$(req GET "$M/up/model/resolve/$c1/config.json")
expect_status "$s" 200 "cached file by commit id, upstream down"
cmp -s "$T/body" "$T/config.json" || fail "offline old config.json"
s=$(req GET "$M/up/model/resolve/main/w/model.safetensors" -H 'Range: bytes=100-199')
expect_status "$s" 206 "cached range, upstream down"
s=$(req GET "$M/api/models/up/model/tree/main")
expect_status "$s" 200 "tree, upstream down"
s=$(req GET "$M/api/models/up/other")
expect_json_error "$s" 504 "a repo never fetched, upstream down"
s=$(req GET "$M/up/model/resolve/$c2/nope.bin")
expect_status "$s" 404 "a missing file of a known commit is still a 404"

stop_server
finish
