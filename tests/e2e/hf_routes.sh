#!/usr/bin/env bash
# hf_routes.sh - every Hugging Face compatible route of elvesd with curl:
# its success case and each error it documents (X-Error-Code where the Hub
# has one), tokens (open writes until a token exists, then write tokens
# only; private repos need a token), LFS upload with a signed URL, atomic
# NDJSON commits, and old commits staying downloadable.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
e2e_init hf_routes 300

start_server
ELVESD_DATA_DIR=$T/data
code() { header X-Error-Code; }
expect_code() { # status want_status want_code what
  [ "$1" = "$2" ] || fail "$4: status $1, wanted $2: $(head -c 300 "$T/body")"
  [ "$(code)" = "$3" ] || fail "$4: X-Error-Code '$(code)', wanted '$3'"
  [ -n "$(header X-Error-Message)" ] || fail "$4: no X-Error-Message"
  pass
}
b64() { base64 -w0 "$1"; }
next_url() { local l; l=$(header Link); l=${l#<}; echo "${l%%>*}"; } # of the last answer

# ---- open writes (no token exists yet) -------------------------------------
s=$(req POST "$BASE/api/repos/create" --data '{"name":"m1","organization":"acme","type":"model"}')
expect_status "$s" 200 "repos/create without tokens"
[ "$(jget "$T/body" url)" = "$BASE/acme/m1" ] || fail "create url: $(cat "$T/body")"
s=$(req POST "$BASE/api/repos/create" --data '{"name":"acme/m1"}')
expect_json_error "$s" 409 "repos/create of an existing repo"
# create_repo(exist_ok=True), which `hf upload` calls first, reads "url" of the 409
[ "$(jget "$T/body" url)" = "$BASE/acme/m1" ] || fail "409 without the repo's url: $(cat "$T/body")"
[ -n "$(header X-Error-Message)" ] || fail "409 without X-Error-Message"
s=$(req POST "$BASE/api/repos/create" --data '{"name":"noorg"}')
expect_json_error "$s" 400 "repos/create without an organization"
s=$(req POST "$BASE/api/repos/create" --data 'not json')
expect_json_error "$s" 400 "repos/create with a bad body"

# tokens: from now on writes need a write token
WT=$("$ELVESD" token create --data "$ELVESD_DATA_DIR" --name writer --write)
RT=$("$ELVESD" token create --data "$ELVESD_DATA_DIR" --name reader)
case $WT in hf_*) pass ;; *) fail "token create printed '$WT'" ;; esac
W=(-H "Authorization: Bearer $WT")
R=(-H "Authorization: Bearer $RT")
need sqlite3
hashes=$(sqlite3 "$ELVESD_DATA_DIR/elves.db" "SELECT hash FROM tokens") || fail "reading the tokens table"
[ "$(grep -c . <<<"$hashes")" -ge 2 ] || fail "tokens table holds no hashes: '$hashes'"
grep -q "$WT" <<<"$hashes" && fail "token stored in clear"

s=$(req POST "$BASE/api/repos/create" --data '{"name":"acme/m2"}')
expect_json_error "$s" 401 "repos/create without a token"
s=$(req POST "$BASE/api/repos/create" "${R[@]}" --data '{"name":"acme/m2"}')
expect_json_error "$s" 403 "repos/create with a read token"
s=$(req POST "$BASE/api/repos/create" -H "Authorization: Bearer hf_nope" --data '{"name":"acme/m2"}')
expect_json_error "$s" 401 "repos/create with an unknown token"
s=$(req PUT "$BASE/api/v1/repos/acme/m1/files/x.bin" -T /dev/null)
expect_json_error "$s" 401 "native upload without a token once tokens exist"

s=$(req GET "$BASE/api/whoami-v2" "${W[@]}")
expect_status "$s" 200 whoami
[ "$(jget "$T/body" name)" = writer ] || fail "whoami name"
[ "$(jget "$T/body" auth accessToken role)" = write ] || fail "whoami role"
s=$(req GET "$BASE/api/whoami-v2")
expect_json_error "$s" 401 "whoami without a token"
s=$(req POST "$BASE/api/validate-yaml" --data '{"content":"---\n---","repoType":"model"}')
expect_status "$s" 200 validate-yaml
[ "$(jget "$T/body" errors)" = "[]" ] || fail "validate-yaml errors"

# ---- upload: native PUT, then an HF commit with inline + LFS files ---------
big=$DATA/human-handlandmark-lite.safetensors
cfg=$T/config.json
echo '{"model_type":"bert","hidden_size":8}' >"$cfg"
s=$(req PUT "$BASE/api/v1/repos/acme/m1/files/native.safetensors" "${W[@]}" -T "$DATA/human-facemesh.safetensors")
expect_status "$s" 201 "native upload with a write token"

s=$(req POST "$BASE/api/models/acme/m1/preupload/main" "${W[@]}" \
  --data "{\"files\":[{\"path\":\"config.json\",\"size\":40,\"sample\":\"\"},{\"path\":\"w/big.safetensors\",\"size\":$(fsize "$big"),\"sample\":\"\"}]}")
expect_status "$s" 200 preupload
[ "$(jget "$T/body" files 0 uploadMode)" = regular ] || fail "small file not regular"
[ "$(jget "$T/body" files 1 uploadMode)" = lfs ] || fail "big file not lfs"
[ "$(jget "$T/body" files 1 shouldIgnore)" = False ] || fail "shouldIgnore"
s=$(req POST "$BASE/api/models/acme/nope/preupload/main" "${W[@]}" --data '{"files":[]}')
expect_code "$s" 404 RepoNotFound "preupload of a missing repo"

oid=$(sha "$big"); size=$(fsize "$big")
# an lfsFile that was never uploaded: rejected, no commit made
head0=$(curl -s "$BASE/api/models/acme/m1" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["sha"])')
printf '{"key":"header","value":{"summary":"x"}}\n{"key":"lfsFile","value":{"path":"w/big.safetensors","algo":"sha256","oid":"%s","size":%s}}\n' "$oid" "$size" >"$T/c0.ndjson"
s=$(req POST "$BASE/api/models/acme/m1/commit/main" "${W[@]}" -H 'Content-Type: application/x-ndjson' --data-binary "@$T/c0.ndjson")
expect_json_error "$s" 400 "commit naming an object never uploaded"
head1=$(curl -s "$BASE/api/models/acme/m1" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["sha"])')
[ "$head0" = "$head1" ] || fail "a rejected commit moved main"; pass

s=$(req POST "$BASE/acme/m1.git/info/lfs/objects/batch" "${W[@]}" -H 'Content-Type: application/vnd.git-lfs+json' \
  --data "{\"operation\":\"upload\",\"transfers\":[\"basic\"],\"objects\":[{\"oid\":\"$oid\",\"size\":$size},{\"oid\":\"bad\",\"size\":1}],\"hash_algo\":\"sha256\"}")
expect_status "$s" 200 "lfs batch"
href=$(jget "$T/body" objects 0 actions upload href)
verify=$(jget "$T/body" objects 0 actions verify href)
[ "$(jget "$T/body" objects 1 error code)" = 422 ] || fail "bad oid not refused per object"
s=$(req POST "$BASE/acme/m1.git/info/lfs/objects/batch" --data '{"operation":"upload","objects":[]}')
expect_json_error "$s" 401 "lfs batch without a token"
case $href in *0) tampered=${href%?}1 ;; *) tampered=${href%?}0 ;; esac # its last character changed
s=$(req PUT "$tampered" -T "$big")
expect_json_error "$s" 403 "lfs PUT with a tampered signature"
s=$(req PUT "$href" -T "$cfg")
expect_json_error "$s" 400 "lfs PUT of other bytes"
s=$(req POST "$verify" "${W[@]}" --data "{\"oid\":\"$oid\",\"size\":$size}")
expect_json_error "$s" 404 "verify before the PUT"
s=$(req PUT "$href" -T "$big")
expect_status "$s" 200 "lfs PUT (no auth header: the URL is the capability)"
s=$(req POST "$verify" "${W[@]}" --data "{\"oid\":\"$oid\",\"size\":$size}")
expect_status "$s" 200 "verify after the PUT"
s=$(req POST "$BASE/acme/m1.git/info/lfs/objects/batch" "${W[@]}" \
  --data "{\"operation\":\"upload\",\"objects\":[{\"oid\":\"$oid\",\"size\":$size}]}")
[ "$(jget "$T/body" objects 0)" = "{\"oid\": \"$oid\", \"size\": $size}" ] ||
  fail "batch still asks for an object it has: $(cat "$T/body")"; pass

printf '{"key":"header","value":{"summary":"first","description":"d"}}\n{"key":"file","value":{"content":"%s","path":"config.json","encoding":"base64"}}\n{"key":"lfsFile","value":{"path":"w/big.safetensors","algo":"sha256","oid":"%s","size":%s}}' \
  "$(b64 "$cfg")" "$oid" "$size" >"$T/c1.ndjson"
s=$(req POST "$BASE/api/models/acme/m1/commit/main" "${W[@]}" -H 'Content-Type: application/x-ndjson' --data-binary "@$T/c1.ndjson")
expect_status "$s" 200 "commit (inline + lfs, no final newline)"
c1=$(jget "$T/body" commitOid)
[[ $c1 =~ ^[0-9a-f]{40}$ ]] || fail "commitOid $c1"
[ "$(jget "$T/body" commitUrl)" = "$BASE/acme/m1/commit/$c1" ] || fail "commitUrl"
printf '{"key":"header","value":{"summary":"x","parentCommit":"%s"}}\n' "$head0" >"$T/c2.ndjson"
s=$(req POST "$BASE/api/models/acme/m1/commit/main" "${W[@]}" --data-binary "@$T/c2.ndjson")
expect_json_error "$s" 412 "commit on a stale parentCommit"
s=$(req POST "$BASE/api/models/acme/m1/commit/main" "${W[@]}" --data-binary '{"key":"bogus","value":{}}')
expect_json_error "$s" 400 "commit with an unknown operation"
s=$(req POST "$BASE/api/models/acme/m1/commit/nobranch" "${W[@]}" --data-binary '{"key":"header","value":{"summary":"x"}}')
expect_json_error "$s" 404 "commit to a missing branch"

# second commit: new config.json, delete a file; the first commit keeps both
echo '{"model_type":"bert","hidden_size":16}' >"$T/config2.json"
printf '{"key":"header","value":{"summary":"second"}}\n{"key":"file","value":{"content":"%s","path":"config.json","encoding":"base64"}}\n{"key":"deletedFile","value":{"path":"native.safetensors"}}\n' \
  "$(b64 "$T/config2.json")" >"$T/c3.ndjson"
s=$(req POST "$BASE/api/models/acme/m1/commit/main" "${W[@]}" --data-binary "@$T/c3.ndjson")
expect_status "$s" 200 "second commit"
c2=$(jget "$T/body" commitOid)
printf '{"key":"header","value":{"summary":"x"}}\n{"key":"deletedFolder","value":{"path":"nope"}}\n' >"$T/c4.ndjson"
s=$(req POST "$BASE/api/models/acme/m1/commit/main" "${W[@]}" --data-binary "@$T/c4.ndjson")
expect_json_error "$s" 404 "deletedFolder of a missing folder"

# ---- repo info ------------------------------------------------------------------
s=$(req GET "$BASE/api/models/acme/m1")
expect_status "$s" 200 "model info"
[ "$(jget "$T/body" sha)" = "$c2" ] || fail "info sha is not main's head"
[ "$(jget "$T/body" id)" = acme/m1 ] || fail "info id"
[[ $(jget "$T/body" lastModified) =~ ^[0-9-]{10}T[0-9:.]{12}Z$ ]] || fail "lastModified format"
[ "$(jget "$T/body" private)" = False ] || fail "private"
"$PY" - "$T/body" "$oid" <<'EOF' || fail "siblings: $(cat "$T/body")"
import json, sys
v = json.load(open(sys.argv[1]))
s = {x["rfilename"]: x for x in v["siblings"]}
assert set(s) == {"config.json", "w/big.safetensors"}, s
assert s["w/big.safetensors"]["lfs"]["sha256"] == sys.argv[2]
assert "lfs" not in s["config.json"]
EOF
pass
for rev in HEAD main "$c1" refs%2Fheads%2Fmain; do
  s=$(req GET "$BASE/api/models/acme/m1/revision/$rev")
  expect_status "$s" 200 "info at revision $rev"
done
[ "$(jget "$T/body" sha)" = "$c2" ] || fail "refs/heads/main"
s=$(req GET "$BASE/api/models/acme/m1/revision/$c1")
[ "$(jget "$T/body" sha)" = "$c1" ] || fail "info at a commit id"
s=$(req GET "$BASE/api/models/acme/nope")
expect_code "$s" 404 RepoNotFound "info of a missing repo"
s=$(req GET "$BASE/api/models/acme/m1/revision/v9")
expect_code "$s" 404 RevisionNotFound "info at a missing revision"
s=$(req GET "$BASE/api/datasets/acme/m1")
expect_code "$s" 404 RepoNotFound "a model is not a dataset"

# ---- tree, paths-info ---------------------------------------------------------------
s=$(req GET "$BASE/api/models/acme/m1/tree/main?recursive=True&expand=False")
expect_status "$s" 200 "tree recursive"
"$PY" - "$T/body" <<'EOF' || fail "tree: $(cat "$T/body")"
import json, sys
v = json.load(open(sys.argv[1]))
assert [e["path"] for e in v] == ["config.json", "w", "w/big.safetensors"], v
assert all("oid" in e and "xetHash" not in e for e in v)
assert v[1]["type"] == "directory" and v[2]["lfs"]["size"] == v[2]["size"]
EOF
pass
s=$(req GET "$BASE/api/models/acme/m1/tree/main?limit=1")
expect_status "$s" 200 "tree page 1"
link=$(header Link)
[[ $link == "<$BASE/api/models/acme/m1/tree/main?"*'cursor=1>; rel="next"' ]] || fail "Link: $link"
next=${link#<}; next=${next%%>*}
s=$(req GET "$next")
expect_status "$s" 200 "tree page 2"
[ "$(jget "$T/body" 0 path)" = w ] || fail "page 2"
[ -z "$(header Link)" ] || fail "Link on the last page"
s=$(req GET "$BASE/api/models/acme/m1/tree/$c1/w")
expect_status "$s" 200 "tree of a folder at a commit"
[ "$(jget "$T/body" 0 path)" = w/big.safetensors ] || fail "tree folder"
s=$(req GET "$BASE/api/models/acme/m1/tree/main/nope")
expect_code "$s" 404 EntryNotFound "tree of a missing folder"
s=$(req GET "$BASE/api/models/acme/m1/tree/nope")
expect_code "$s" 404 RevisionNotFound "tree of a missing revision"
s=$(req GET "$BASE/api/models/acme/m1/tree/main?limit=x")
expect_json_error "$s" 400 "tree with a bad limit"

s=$(req POST "$BASE/api/models/acme/m1/paths-info/main" --data 'paths=config.json&paths=w&paths=missing&expand=False')
expect_status "$s" 200 "paths-info (form)"
[ "$(jget "$T/body" 1 type)" = directory ] || fail "paths-info form: $(cat "$T/body")"
s=$(req POST "$BASE/api/models/acme/m1/paths-info/main" -H 'Content-Type: application/json' --data '{"paths":["w/big.safetensors"],"expand":true}')
expect_status "$s" 200 "paths-info (JSON)"
[ "$(jget "$T/body" 0 lfs oid)" = "$oid" ] || fail "paths-info json"
s=$(req POST "$BASE/api/models/acme/m1/paths-info/main" -H 'Content-Type: application/json' --data '{"paths":"x"}')
expect_json_error "$s" 400 "paths-info with a bad body"

# ---- resolve / raw ---------------------------------------------------------------------
s=$(req HEAD "$BASE/acme/m1/resolve/main/w/big.safetensors")
expect_status "$s" 200 "HEAD resolve"
[ "$(header X-Repo-Commit)" = "$c2" ] || fail "X-Repo-Commit"
[ "$(header ETag)" = "\"$oid\"" ] || fail "ETag"
[ "$(header X-Linked-Etag)" = "\"$oid\"" ] || fail "X-Linked-Etag"
[ "$(header X-Linked-Size)" = "$size" ] || fail "X-Linked-Size"
[ "$(header Accept-Ranges)" = bytes ] || fail "Accept-Ranges"
[ -z "$(header Content-Encoding)" ] || fail "Content-Encoding"
[ "$(header Access-Control-Allow-Origin)" = "*" ] || fail "CORS"
s=$(req GET "$BASE/acme/m1/resolve/main/w/big.safetensors" -H 'Range: bytes=0-0')
expect_status "$s" 206 "Range bytes=0-0"
[ "$(header Content-Range)" = "bytes 0-0/$size" ] || fail "Content-Range $(header Content-Range)"
s=$(req GET "$BASE/acme/m1/resolve/main/w/big.safetensors" -H "Range: bytes=$size-")
expect_json_error "$s" 416 "unsatisfiable range"
s=$(req GET "$BASE/acme/m1/resolve/HEAD/w/big.safetensors")
expect_status "$s" 200 "GET resolve"
[ "$(sha "$T/body")" = "$oid" ] || fail "resolve bytes"
s=$(req GET "$BASE/acme/m1/raw/$c1/config.json")
expect_status "$s" 200 "raw at the first commit"
cmp -s "$T/body" "$cfg" || fail "old config.json not served at the first commit"
s=$(req GET "$BASE/acme/m1/resolve/$c1/native.safetensors")
expect_status "$s" 200 "a file deleted on main, at an old commit"
[ "$(sha "$T/body")" = "$(sha "$DATA/human-facemesh.safetensors")" ] || fail "old file bytes"
s=$(req GET "$BASE/acme/m1/resolve/main/config.json")
cmp -s "$T/body" "$T/config2.json" || fail "new config.json on main"; pass
s=$(req HEAD "$BASE/acme/m1/resolve/main/native.safetensors")
expect_code "$s" 404 EntryNotFound "resolve of a deleted file"
[ "$(header X-Repo-Commit)" = "$c2" ] || fail "X-Repo-Commit on EntryNotFound"
s=$(req HEAD "$BASE/acme/m1/resolve/zzz/config.json")
expect_code "$s" 404 RevisionNotFound "resolve at a missing revision"
s=$(req HEAD "$BASE/acme/none/resolve/main/config.json")
expect_code "$s" 404 RepoNotFound "resolve in a missing repo"
s=$(req OPTIONS "$BASE/acme/m1/resolve/main/config.json" -H 'Origin: http://x' -H 'Access-Control-Request-Method: GET')
expect_status "$s" 204 "CORS preflight"
[[ $(header Access-Control-Allow-Headers) == *Range* ]] || fail "preflight allows Range"

# ---- a private dataset ----------------------------------------------------------------
s=$(req POST "$BASE/api/repos/create" "${W[@]}" --data '{"name":"acme/d1","type":"dataset","private":true}')
expect_status "$s" 200 "create a private dataset"
[ "$(jget "$T/body" url)" = "$BASE/datasets/acme/d1" ] || fail "dataset url"
printf '{"key":"header","value":{"summary":"data"}}\n{"key":"file","value":{"content":"%s","path":"data/train.json","encoding":"base64"}}\n' \
  "$(b64 "$cfg")" >"$T/d1.ndjson"
s=$(req POST "$BASE/api/datasets/acme/d1/commit/main" "${W[@]}" --data-binary "@$T/d1.ndjson")
expect_status "$s" 200 "commit to a dataset"
s=$(req GET "$BASE/api/datasets/acme/d1")
expect_code "$s" 401 RepoNotFound "private dataset without a token"
s=$(req GET "$BASE/datasets/acme/d1/resolve/main/data/train.json")
expect_code "$s" 401 RepoNotFound "private file without a token"
s=$(req GET "$BASE/api/datasets/acme/d1" "${R[@]}")
expect_status "$s" 200 "private dataset with a read token"
[ "$(jget "$T/body" private)" = True ] || fail "private flag"
s=$(req GET "$BASE/datasets/acme/d1/resolve/main/data/train.json" "${R[@]}")
expect_status "$s" 200 "dataset file with a read token"
cmp -s "$T/body" "$cfg" || fail "dataset bytes"
s=$(req GET "$BASE/api/models/acme/d1" "${R[@]}")
expect_code "$s" 404 RepoNotFound "a dataset is not a model"
s=$(req GET "$BASE/api/v1/repos/acme/d1/files/data/train.json")
expect_json_error "$s" 401 "native download of a private file without a token"
s=$(req GET "$BASE/api/v1/repos/acme/d1/files" "${R[@]}")
expect_status "$s" 200 "native listing of a private repo with a token"
# the repository list names a private repo only to a request that may read it
s=$(req GET "$BASE/api/v1/repos")
expect_status "$s" 200 "native repo list without a token"
grep -q '"acme/d1"' "$T/body" && fail "repo list shows a private repo without a token"
pass
s=$(req GET "$BASE/api/v1/repos" "${R[@]}")
expect_status "$s" 200 "native repo list with a read token"
grep -q '"acme/d1"' "$T/body" || fail "repo list hides a private repo from a read token"
pass

# ---- the Hub's own API as huggingface_hub calls it (hf_api.py) ---------------------------
API=$BASE/api/models/acme/m1
# jfield KEY: the first "KEY": value of the last answer (elvesd writes compact JSON)
jfield() { grep -o "\"$1\":[^,}]*" "$T/body" | head -1 | cut -d: -f2- | tr -d '"'; }
# create_commit with a CommitOperationCopy: an lfsFile with the oid and no size
printf '{"key":"header","value":{"summary":"copy"}}\n{"key":"lfsFile","value":{"path":"w/copy.safetensors","algo":"sha256","oid":"%s"}}\n' "$oid" >"$T/cp.ndjson"
s=$(req POST "$API/commit/main" "${W[@]}" -H 'Content-Type: application/x-ndjson' --data-binary "@$T/cp.ndjson")
expect_status "$s" 200 "commit with a copy (lfsFile without size)"
c3=$(jfield commitOid)
s=$(req GET "$BASE/acme/m1/resolve/main/w/copy.safetensors")
[ "$s" = 200 ] && [ "$(sha "$T/body")" = "$oid" ] || fail "copied file: $s"; pass
printf '{"key":"header","value":{"summary":"x"}}\n{"key":"lfsFile","value":{"path":"z.bin","algo":"sha256","oid":"%064d"}}\n' 0 >"$T/cp0.ndjson"
s=$(req POST "$API/commit/main" "${W[@]}" --data-binary "@$T/cp0.ndjson")
expect_json_error "$s" 400 "copy of an object never uploaded"

# create_branch / create_tag (exist_ok needs the 409), downloads at them
s=$(req POST "$API/branch/dev" "${W[@]}" --data '{}')
expect_status "$s" 200 "create_branch"
s=$(req POST "$API/branch/dev" "${W[@]}" --data '{}')
expect_json_error "$s" 409 "create_branch of an existing branch"
s=$(req POST "$API/branch/feat%2Fold" "${W[@]}" --data "{\"startingPoint\":\"$c1\"}")
expect_status "$s" 200 "create_branch at a commit (name with a slash)"
s=$(req GET "$BASE/acme/m1/resolve/feat%2Fold/config.json")
[ "$s" = 200 ] && cmp -s "$T/body" "$cfg" || fail "download at the new branch: $s"; pass
s=$(req POST "$API/branch/x" "${W[@]}" --data '{"startingPoint":"nope"}')
expect_code "$s" 404 RevisionNotFound "create_branch from a missing revision"
s=$(req POST "$API/branch/x" "${R[@]}" --data '{}')
expect_json_error "$s" 403 "create_branch with a read token"
s=$(req POST "$API/tag/$c1" "${W[@]}" --data '{"tag":"v1","message":"first"}')
expect_status "$s" 200 "create_tag"
s=$(req POST "$API/tag/main" "${W[@]}" --data '{"tag":"v1"}')
expect_json_error "$s" 409 "create_tag of an existing tag"
s=$(req GET "$BASE/acme/m1/resolve/v1/config.json")
[ "$s" = 200 ] && cmp -s "$T/body" "$cfg" || fail "download at the tag: $s"; pass

# list_repo_refs, list_repo_commits (Link paging, X-Total-Count as the JS client counts)
s=$(req GET "$API/refs")
expect_status "$s" 200 "list_repo_refs"
"$PY" - "$T/body" "$c3" "$c1" <<'EOF2' || fail "refs: $(cat "$T/body")"
import json, sys
v = json.load(open(sys.argv[1]))
b = {x["name"]: x for x in v["branches"]}
assert sorted(b) == ["dev", "feat/old", "main"], b
assert b["main"] == {"name": "main", "ref": "refs/heads/main", "targetCommit": sys.argv[2]}
assert b["feat/old"]["targetCommit"] == sys.argv[3]
assert v["tags"] == [{"name": "v1", "ref": "refs/tags/v1", "targetCommit": sys.argv[3]}]
assert v["converts"] == [] and v["pullRequests"] == []
EOF2
pass
s=$(req GET "$API/commits/main")
expect_status "$s" 200 "list_repo_commits"
[ "$(header X-Total-Count)" = 5 ] || fail "X-Total-Count $(header X-Total-Count)"
"$PY" - "$T/body" "$c3" "$c2" "$c1" <<'EOF2' || fail "commits: $(cat "$T/body")"
import json, re, sys
v = json.load(open(sys.argv[1]))
assert [c["id"] for c in v[:3]] == sys.argv[2:5], v
assert v[2]["title"] == "first" and v[2]["message"] == "d", v[2]
assert all(c["authors"] == [] and re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", c["date"]) for c in v)
EOF2
pass
s=$(req GET "$API/commits/main?limit=3")
link=$(header Link)
[[ $link == "<$API/commits/main?limit=3&p=1>; rel=\"next\"" ]] || fail "commits Link: $link"
s=$(req GET "$(next_url)")
[ "$s" = 200 ] && [ "$(grep -o '"title":"[^"]*"' "$T/body" | tail -1)" = '"title":"Initial commit"' ] &&
  [ -z "$(header Link)" ] ||
  fail "commits page 2: $s $(cat "$T/body")"; pass
s=$(req GET "$API/commits/nope")
expect_code "$s" 404 RevisionNotFound "list_repo_commits of a missing revision"

# delete_tag / delete_branch
s=$(req DELETE "$API/tag/v1" "${W[@]}")
expect_status "$s" 200 "delete_tag"
s=$(req DELETE "$API/tag/v1" "${W[@]}")
expect_code "$s" 404 RevisionNotFound "delete_tag of a missing tag"
s=$(req GET "$BASE/acme/m1/resolve/v1/config.json")
expect_code "$s" 404 RevisionNotFound "download at a deleted tag"
s=$(req DELETE "$API/branch/feat%2Fold" "${W[@]}")
expect_status "$s" 200 "delete_branch"
s=$(req DELETE "$API/branch/main" "${W[@]}")
expect_json_error "$s" 400 "delete_branch of main"

# auth_check, update_repo_settings (gated, visibility)
s=$(req GET "$API/auth-check")
expect_status "$s" 200 "auth_check"
s=$(req GET "$API/auth-check/write" "${R[@]}")
expect_json_error "$s" 403 "auth_check(write=True) with a read token"
s=$(req GET "$API/auth-check/write" "${W[@]}")
expect_status "$s" 200 "auth_check(write=True)"
s=$(req GET "$BASE/api/datasets/acme/d1/auth-check")
expect_code "$s" 401 RepoNotFound "auth_check of a private repo without a token"
s=$(req GET "$BASE/api/models/acme/none/auth-check")
expect_code "$s" 404 RepoNotFound "auth_check of a missing repo"
s=$(req PUT "$API/settings" "${W[@]}" --data '{"gated":"auto"}')
expect_status "$s" 200 "update_repo_settings(gated=auto)"
s=$(req GET "$API")
[ "$(jfield gated)" = auto ] || fail "gated in model_info: $(cat "$T/body")"; pass
s=$(req GET "$BASE/acme/m1/resolve/main/config.json")
expect_code "$s" 401 GatedRepo "a gated file without a token"
s=$(req GET "$API/auth-check")
expect_code "$s" 401 GatedRepo "auth_check of a gated repo without a token"
s=$(req GET "$BASE/acme/m1/resolve/main/config.json" "${R[@]}")
expect_status "$s" 200 "a gated file with a token"
s=$(req PUT "$API/settings" "${W[@]}" --data '{"gated":false,"visibility":"private"}')
expect_status "$s" 200 "update_repo_settings(visibility=private)"
s=$(req GET "$API")
expect_code "$s" 401 RepoNotFound "a repo made private, without a token"
s=$(req GET "$API" "${R[@]}")
[ "$(jfield private)" = true ] && [ "$(jfield gated)" = false ] || fail "settings: $(cat "$T/body")"; pass
s=$(req PUT "$API/settings" "${W[@]}" --data '{"private":false,"gated":"sometimes"}')
expect_json_error "$s" 400 "update_repo_settings with a bad gated"
s=$(req PUT "$API/settings" "${R[@]}" --data '{"private":false}')
expect_json_error "$s" 403 "update_repo_settings with a read token"
s=$(req PUT "$API/settings" "${W[@]}" --data '{"private":false}')
expect_status "$s" 200 "update_repo_settings(private=False)"

# list_models / list_datasets: search, author, sort, limit, Link paging; private ones hidden
s=$(req POST "$BASE/api/repos/create" "${W[@]}" --data '{"name":"acme/m3"}')
expect_status "$s" 200 "create acme/m3"
s=$(req GET "$BASE/api/models?author=acme&sort=createdAt&direction=-1&limit=1")
expect_status "$s" 200 "list_models page 1"
[ "$(jfield id)" = acme/m3 ] || fail "list_models newest first: $(cat "$T/body")"
link=$(header Link)
[[ $link == "<$BASE/api/models?author=acme&sort=createdAt&direction=-1&limit=1&cursor=1>; rel=\"next\"" ]] ||
  fail "list_models Link: $link"
s=$(req GET "$(next_url)")
[ "$(jfield id)" = acme/m1 ] && [ -z "$(header Link)" ] || fail "list_models page 2: $(cat "$T/body")"
"$PY" - "$T/body" <<'EOF2' || fail "list_models entry: $(cat "$T/body")"
import json, sys
e = json.load(open(sys.argv[1]))[0]
for k in ("_id", "id", "author", "sha", "lastModified", "createdAt", "private", "gated", "downloads", "likes", "tags"):
    assert k in e, k
assert e["private"] is False and "siblings" not in e
EOF2
pass
s=$(req GET "$BASE/api/models?search=M3")
[ "$(grep -o '"id":"[^"]*"' "$T/body")" = '"id":"acme/m3"' ] ||
  fail "list_models(search=): $(cat "$T/body")"; pass
s=$(req GET "$BASE/api/models?author=nobody")
[ "$s" = 200 ] && [ "$(cat "$T/body")" = "[]" ] || fail "list_models(author=nobody): $(cat "$T/body")"; pass
s=$(req GET "$BASE/api/models?sort=bogus")
expect_json_error "$s" 400 "list_models with an unknown sort"
s=$(req GET "$BASE/api/datasets")
grep -q acme/d1 "$T/body" && fail "list_datasets shows a private dataset without a token"; pass
s=$(req GET "$BASE/api/datasets" "${R[@]}")
[ "$(jfield id)" = acme/d1 ] || fail "list_datasets with a token: $(cat "$T/body")"; pass

# move_repo, delete_repo (missing_ok needs RepoNotFound)
s=$(req POST "$BASE/api/repos/move" "${W[@]}" --data '{"fromRepo":"acme/m3","toRepo":"acme/m4","type":"model"}')
expect_status "$s" 200 "move_repo"
s=$(req GET "$BASE/api/models/acme/m4")
expect_status "$s" 200 "info under the new name"
s=$(req GET "$BASE/api/models/acme/m3")
expect_code "$s" 404 RepoNotFound "info under the old name"
s=$(req POST "$BASE/api/repos/move" "${W[@]}" --data '{"fromRepo":"acme/m4","toRepo":"acme/m1","type":"model"}')
expect_json_error "$s" 409 "move_repo onto an existing repo"
s=$(req POST "$BASE/api/repos/move" "${W[@]}" --data '{"fromRepo":"acme/m4","toRepo":"acme/m5","type":"dataset"}')
expect_code "$s" 404 RepoNotFound "move_repo of a model named as a dataset"
s=$(req DELETE "$BASE/api/repos/delete" "${R[@]}" --data '{"name":"m4","organization":"acme","type":"model"}')
expect_json_error "$s" 403 "delete_repo with a read token"
s=$(req DELETE "$BASE/api/repos/delete" "${W[@]}" --data '{"name":"m4","organization":"acme","type":"model"}')
expect_status "$s" 200 "delete_repo"
s=$(req DELETE "$BASE/api/repos/delete" "${W[@]}" --data '{"name":"m4","organization":"acme","type":"model"}')
expect_code "$s" 404 RepoNotFound "delete_repo of a missing repo"

# super_squash_history: one commit with main's files; old commits stay downloadable
s=$(req GET "$API/tree/main?recursive=true")
cp "$T/body" "$T/tree.before"
s=$(req POST "$API/super-squash/main" "${W[@]}" --data '{"message":"Squashed"}')
expect_status "$s" 200 "super_squash_history"
s=$(req GET "$API/commits/main")
[ "$(header X-Total-Count)" = 1 ] && [ "$(jfield title)" = Squashed ] || fail "history after a squash: $(cat "$T/body")"; pass
s=$(req GET "$API/tree/main?recursive=true")
[ -s "$T/body" ] && cmp -s "$T/tree.before" "$T/body" || fail "files changed by the squash"; pass
s=$(req GET "$BASE/acme/m1/resolve/$c1/config.json")
[ "$s" = 200 ] && cmp -s "$T/body" "$cfg" || fail "old commit after a squash: $s"; pass

# Hub routes elvesd does not implement: the Hub's error shape, no X-Error-Code
s=$(req GET "$API/discussions")
expect_json_error "$s" 404 "an unimplemented Hub route"
[ -z "$(code)" ] && [ -n "$(header X-Error-Message)" ] || fail "unimplemented route headers"; pass
s=$(req POST "$BASE/api/spaces/acme/s/secrets" "${W[@]}" --data '{}')
expect_json_error "$s" 404 "an unimplemented Spaces route"

stop_server
finish
