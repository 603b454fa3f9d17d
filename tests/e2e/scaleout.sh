#!/usr/bin/env bash
# scaleout.sh - two elvesd replicas on one real PostgreSQL 15 and one real
# Ceph RGW bucket (both started here, loopback only), behind real nginx:
#   - a start with a wrong S3 secret, a missing bucket, an unreachable
#     endpoint or a database that refuses the login exits non-zero with one
#     clear line;
#   - a repo created on A is seen on B; an upload through A is downloaded
#     byte-exact through B while it is still spooled (B reads the bucket's
#     copy) and after it is stored; a commit on A moves main on B at once
#     (the Hub's revision API on both answers the same sha);
#   - a fine-tune declaring its base, uploaded through B, is delta-coded
#     against the base stored through A and served by A byte-exact;
#   - through nginx (round robin over A and B) every download is
#     byte-exact and both replicas served some;
#   - kill -9 of the replica running a job: the other takes the job over
#     once its lease expires and stores the file byte-exact; no job stays
#     running and no block names a missing chunk;
#   - a token made with `elvesd token create --database` works on both;
#   - PostgreSQL restarted under a replica: the next requests succeed
#     without restarting elvesd, and what was stored before is intact;
#   - PostgreSQL restarted while an upload's body arrives: a 201 only for a
#     file that is then stored byte-exact;
#   - delete + GC on one replica leaves the other's files byte-exact;
#   - GC on one replica racing an ingest on the other that dedups against
#     the tensors being collected: every file byte-exact, no dangling row;
#   - `elvesd migrate` copies a single-node store (repos, an HF commit, a
#     spooled upload, a token) into its own database and bucket prefix,
#     completes a cut copy on a second run, and one replica on the copy
#     serves every file byte-exact.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
e2e_init scaleout 600
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
need "$NGINX" psql
TOOLS=$ELVES_SRC/tests/tools
chmod o+x "$T" # the postgres user runs PostgreSQL in $T/pg

PGDIR=$T/pg RGWDIR=$T/rgw
cleanup_all() {
  nginx_stop
  for p in "${servers[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  "$TOOLS/pg-down.sh" "$PGDIR" >/dev/null 2>&1 || true
  "$TOOLS/rgw-down.sh" "$RGWDIR" >/dev/null 2>&1 || true
  e2e_cleanup
}
trap cleanup_all EXIT
t0=$(date +%s.%N)
PGURL=$("$TOOLS/pg-up.sh" "$PGDIR") || fail "PostgreSQL did not start"
q() { psql "$PGURL" -XAtq -c "$1"; }
t1=$(date +%s.%N)
"$TOOLS/rgw-up.sh" "$RGWDIR" >/dev/null || fail "Ceph RGW did not start"
t2=$(date +%s.%N)
echo "engines: PostgreSQL up in $(echo "$t1 - $t0" | bc) s, RGW in $(echo "$t2 - $t1" | bc) s"
source "$RGWDIR/env"
export ELVES_S3_ACCESS_KEY ELVES_S3_SECRET_KEY
EP=$ELVES_TEST_S3_ENDPOINT
CS="s3://elves-test/scaleout?endpoint=$EP&region=us-east-1&path_style=1"
FLAGS=(--database "$PGURL" --chunk-store "$CS" --job-lease 6 --gc-grace 1)

# ---- elvesd migrate: a single-node store into PostgreSQL + S3 -----------------
# Made on a plain --data dir: a native repo (one upload stored, one left
# spooled by killing the server right after its 201), a Hub repo with an
# inline file committed through the commit API, a token.  Copied into a
# database and a bucket prefix of its own on the engines above, twice (the
# second time after the rows of the last stage and half the chunks were taken
# out, as a cut run leaves them: only those chunks go up again), then served
# by one replica on the copy.  (A run over a complete copy copying nothing:
# unit.test_meta_copy.postgres.)
MD=$T/single MDB=${PGURL%/*}/migrated
MCS="s3://elves-test/migrated?endpoint=$EP&region=us-east-1&path_style=1"
psql "$PGURL" -XAtq -c 'CREATE DATABASE migrated' || fail "create database migrated"
MTOK=$("$ELVESD" token create --data "$MD" --name migrated --write) || fail "token create"
MA=(-H "Authorization: Bearer $MTOK")
start_server "$MD"
M1=$DATA/human-facemesh.safetensors M2=$DATA/human-antispoof.safetensors
[ "$(req POST "$BASE/api/repos/create" "${MA[@]}" --data '{"name":"org/native"}')" = 200 ] &&
  [ "$(req POST "$BASE/api/repos/create" "${MA[@]}" --data '{"name":"hub/model","private":true}')" = 200 ] ||
  fail "repos: $(cat "$T/body")"
J1=$(upload org/native w/one.safetensors "$M1" "${MA[@]}")
echo '{"model_type":"bert"}' >"$T/m-config.json"
printf '{"key":"header","value":{"summary":"cfg"}}\n{"key":"file","value":{"content":"%s","path":"config.json","encoding":"base64"}}\n' \
  "$(base64 -w0 "$T/m-config.json")" >"$T/m.ndjson"
[ "$(req POST "$BASE/api/models/hub/model/commit/main" "${MA[@]}" --data-binary "@$T/m.ndjson")" = 200 ] || fail "hub commit: $(cat "$T/body")"
J2=$(upload hub/model w/two.safetensors "$M2" "${MA[@]}")
wait_job "$J1" 60; wait_job "$J2" 60
MBIG=$(gen_file BF16 12M 3)
s=$(req PUT "$BASE/api/v1/repos/org/native/files/w/spooled.safetensors" -T "$MBIG" "${MA[@]}")
kill_server # right after the 201: its job has not stored it yet
[ "$s" = 201 ] || fail "upload to leave spooled: $s"
mig() { "$ELVESD" migrate --data "$MD" --to-database "$MDB" --to-chunk-store "$MCS" "$@"; }
mig >"$T/mig1.out" 2>"$T/mig1.err" || fail "migrate: $(cat "$T/mig1.err")"
cat "$T/mig1.out"
grep -qE '^migrate: 2 repos, 4 file versions .* 1 tokens .*; 4/4 verified by SHA-256' "$T/mig1.out" || fail "migrate report: $(cat "$T/mig1.out")"
grep -q "(3 stored, 1 spooled, 0 failed)" "$T/mig1.out" || fail "the upload was not left spooled: $(cat "$T/mig1.out")"
pass
# a cut run: the manifests and half the chunks missing from the target
mq() { psql "$MDB" -XAtq -c "$1"; }
cut=$(mq "SELECT count(*) FROM chunks WHERE id > (SELECT max(id) / 2 FROM chunks)")
mq "DELETE FROM file_blocks; DELETE FROM file_segments; DELETE FROM tensor_blocks;
    DELETE FROM chunks WHERE id > (SELECT max(id) / 2 FROM chunks)" || fail "cut"
mig >"$T/mig2.out" 2>"$T/mig2.err" || fail "second migrate: $(cat "$T/mig2.err")"
cat "$T/mig2.out"
grep -qE " $cut new chunks .*; 4/4 verified" "$T/mig2.out" || fail "second run did not upload just the $cut cut chunks: $(cat "$T/mig2.out")"
[ "$(mq "SELECT count(*) FROM chunks c WHERE refcount <> (SELECT count(*) FROM file_blocks b WHERE b.chunk_id = c.id)")" = 0 ] || fail "chunk refcounts off after the re-runs"
pass
# refused: a missing store, a store in use, a target holding another's data
"$ELVESD" migrate --data "$T/nothing" --to-database "$MDB" --to-chunk-store "$MCS" 2>"$T/mig4.err" && fail "migrate of a missing store"
grep -q 'no store in' "$T/mig4.err" || fail "missing store: $(cat "$T/mig4.err")"
"$ELVESD" token create --data "$T/other" --name other >/dev/null || fail "token create (other)"
exec 9<"$T/other/elves.db" # as a running elvesd holds it
"$ELVESD" migrate --data "$T/other" --to-database "$MDB" --to-chunk-store "$MCS" 2>"$T/mig5.err" && fail "migrate of a store in use"
grep -q 'is open in process' "$T/mig5.err" || fail "store in use: $(cat "$T/mig5.err")"
exec 9<&-
"$ELVESD" migrate --data "$T/other" --to-database "$MDB" --to-chunk-store "$MCS" 2>"$T/mig5.err" && fail "migrate into another store's database"
grep -q 'holds other data' "$T/mig5.err" || fail "other data: $(cat "$T/mig5.err")"
pass
# one replica on the copy serves every file byte-exact and takes the token
start_server "$T/mig-replica" --database "$MDB" --chunk-store "$MCS"
for f in "org/native w/one.safetensors $M1" "org/native w/spooled.safetensors $MBIG" \
         "hub/model w/two.safetensors $M2" "hub/model config.json $T/m-config.json"; do
  read -r repo path src <<<"$f"
  s=$("${CURL[@]}" -o "$T/m.bin" -w '%{http_code}' "${MA[@]}" "$BASE/api/v1/repos/$repo/files/$path")
  [ "$s" = 200 ] && [ "$(sha "$T/m.bin")" = "$(sha "$src")" ] || fail "migrated $repo/$path: $s"
done
[ "$(req GET "$BASE/api/whoami-v2" "${MA[@]}")" = 200 ] || fail "migrated token: $(cat "$T/body")"
upload org/native w/new.safetensors "$M2" "${MA[@]}" >/dev/null # ids past the copied ones
stop_server
nstarts=0 # the replicas below count their logs from 1
pass
echo "migrate: store made, copied twice, served in $(echo "$(date +%s.%N) - $t2" | bc) s"

# ---- refused at start, with one clear line -----------------------------------
refused() { # what pattern flags...
  local what=$1 pat=$2 rc=0; shift 2
  timeout 60 "$ELVESD" --data "$T/refused" --listen 127.0.0.1:0 "$@" 2>"$T/refused.log" &
  local p=$!
  wait "$p" || rc=$?
  [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || fail "$what: elvesd started anyway (rc $rc)"
  grep -qiE "$pat" "$T/refused.log" || fail "$what: log lacks /$pat/: $(cat "$T/refused.log")"
  pass
}
ELVES_S3_SECRET_KEY=wrong refused "wrong S3 secret" 'SignatureDoesNotMatch|credentials' \
  "${FLAGS[@]}"
refused "missing bucket" 'NoSuchBucket' --database "$PGURL" \
  --chunk-store "s3://no-such-bucket/x?endpoint=$EP&path_style=1"
refused "unreachable endpoint" 'unreachable|connect' --database "$PGURL" \
  --chunk-store "s3://elves-test/x?endpoint=http://127.0.0.1:1&path_style=1"
refused "database login refused" 'nosuchrole|role|database' \
  --database "${PGURL/app@/nosuchrole@}" --chunk-store "$CS"

# ---- two replicas ---------------------------------------------------------------
start_server "$T/a" "${FLAGS[@]}"; A=$BASE APID=$PID
start_server "$T/b" "${FLAGS[@]}"; B=$BASE BPID=$PID
[ "$(req GET "$A/readyz")" = 200 ] || fail "A not ready: $(cat "$T/body")"
[ "$(req GET "$B/readyz")" = 200 ] || fail "B not ready: $(cat "$T/body")"
BASE=$A create_repo org/shared
[ "$(req GET "$B/api/v1/repos/org/shared")" = 200 ] || fail "B does not see the repo A made"
pass

SMALL=$(ls "$DATA"/*.safetensors | head -1)
BIG=$(gen_file BF16 160M 7)
[ -n "$BIG" ] || fail "gen_checkpoint not built"
BASE=$A upload org/shared big.safetensors "$BIG" >"$T/job.big"
JOB=$(cat "$T/job.big")
[ "$(req GET "$B/api/v1/jobs/$JOB")" = 200 ] || fail "B does not see A's job"
state=$(jget "$T/body" state)
s=$("${CURL[@]}" -o "$T/b-early.bin" -w '%{http_code}' "$B/api/v1/repos/org/shared/files/big.safetensors")
[ "$s" = 200 ] || fail "download through B right after the upload: $s"
[ "$(sha "$T/b-early.bin")" = "$(sha "$BIG")" ] || fail "B's early download differs"
echo "download through B began with the job $state"
case $state in queued | running) pass ;; *) fail "the job was already $state: not a download of a spooled file" ;; esac
BASE=$B wait_job "$JOB" 300
for R in "$A" "$B"; do
  s=$("${CURL[@]}" -o "$T/dl.bin" -w '%{http_code}' "$R/api/v1/repos/org/shared/files/big.safetensors")
  [ "$s" = 200 ] && [ "$(sha "$T/dl.bin")" = "$(sha "$BIG")" ] || fail "stored download through $R: $s"
  s=$("${CURL[@]}" -o "$T/range.bin" -w '%{http_code}' -r 1000000-1999999 "$R/api/v1/repos/org/shared/files/big.safetensors")
  [ "$s" = 206 ] || fail "range through $R: $s"
  cmp -s "$T/range.bin" <(tail -c +1000001 "$BIG" | head -c 1000000) || fail "range through $R differs"
  pass
done

# a commit on A moves main on B at once
[ "$(req GET "$B/api/models/org/shared/revision/main")" = 200 ] || fail "B revision: $(cat "$T/body")"
before=$(jget "$T/body" sha)
BASE=$A upload org/shared small.safetensors "$SMALL" >/dev/null
[ "$(req GET "$A/api/models/org/shared/revision/main")" = 200 ] || fail "A revision"
sha_a=$(jget "$T/body" sha)
[ "$(req GET "$B/api/models/org/shared/revision/main")" = 200 ] || fail "B revision"
sha_b=$(jget "$T/body" sha)
[ "$sha_a" = "$sha_b" ] && [ "$sha_a" != "$before" ] || fail "main on B ($sha_b) is not A's ($sha_a, was $before)"
pass

# ---- a model family across the replicas ------------------------------------------
# The base stored through A, a fine-tune that declares it uploaded through B:
# B codes it against the base's blocks in the bucket, the delta references
# are rows in PostgreSQL, and A serves the fine-tune (whole and a range)
# byte-exact by reading the base blocks it needs.
FAM=$ELVES_SRC/tests/data/family
BASE=$A create_repo fam/base
BASE=$A wait_job "$(BASE=$A upload fam/base model.safetensors "$FAM/base.bf16.safetensors")"
s=$(req POST "$B/api/v1/repos" -H 'Content-Type: application/json' --data '{"name":"fam/ft","base":"fam/base"}')
[ "$s" = 201 ] || fail "create fam/ft with a base through B: $s $(cat "$T/body")"
BASE=$B wait_job "$(BASE=$B upload fam/ft model.safetensors "$FAM/ft-a.bf16.safetensors")"
[ "$(q "SELECT count(*) FROM tensors WHERE base_id IS NOT NULL")" -gt 0 ] || fail "no tensor names a base in PostgreSQL"
[ "$(req GET "$A/api/v1/repos/fam/ft/stats")" = 200 ] || fail "fam/ft stats through A: $(cat "$T/body")"
dl=$(jget "$T/body" delta_logical_bytes) ds=$(jget "$T/body" delta_stored_bytes)
[ "$dl" -gt 0 ] && [ "$((ds * 2))" -lt "$dl" ] || fail "fam/ft through A: delta-coded $dl -> $ds"
echo "fam/ft on PostgreSQL + RGW: delta-coded $dl bytes -> $ds"
s=$("${CURL[@]}" -o "$T/ft.bin" -w '%{http_code}' "$A/api/v1/repos/fam/ft/files/model.safetensors")
[ "$s" = 200 ] && [ "$(sha "$T/ft.bin")" = "$(sha "$FAM/ft-a.bf16.safetensors")" ] || fail "fine-tune through A: $s"
s=$("${CURL[@]}" -o "$T/ft-range.bin" -w '%{http_code}' -r 100000-299999 "$A/api/v1/repos/fam/ft/files/model.safetensors")
[ "$s" = 206 ] || fail "fine-tune range through A: $s"
cmp -s "$T/ft-range.bin" <(tail -c +100001 "$FAM/ft-a.bf16.safetensors" | head -c 200000) || fail "fine-tune range through A differs"
pass

# ---- behind nginx ---------------------------------------------------------------
NPORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
nginx_up "$T/nginx" "$NPORT" "${A##*:}" "${B##*:}"
P=http://127.0.0.1:$NPORT
na0=$(grep -c 'files/small.safetensors 200' "$T/elvesd.1.log" || true)
nb0=$(grep -c 'files/small.safetensors 200' "$T/elvesd.2.log" || true)
for i in $(seq 1 8); do
  s=$("${CURL[@]}" -o "$T/p.bin" -w '%{http_code}' "$P/api/v1/repos/org/shared/files/small.safetensors")
  [ "$s" = 200 ] && [ "$(sha "$T/p.bin")" = "$(sha "$SMALL")" ] || fail "download $i through nginx: $s"
done
na=$(( $(grep -c 'files/small.safetensors 200' "$T/elvesd.1.log" || true) - na0 ))
nb=$(( $(grep -c 'files/small.safetensors 200' "$T/elvesd.2.log" || true) - nb0 ))
echo "through nginx: A served $na, B served $nb of 8"
[ "$na" -gt 0 ] && [ "$nb" -gt 0 ] || fail "nginx did not spread the downloads (A $na, B $nb)"
pass

# ---- kill -9 the replica running a job ------------------------------------------
PID=$BPID stop_server # only A may take the next job
BIG2=$(gen_file BF16 160M 8)
BASE=$A upload org/shared big2.safetensors "$BIG2" >"$T/job.big2"
JOB=$(cat "$T/job.big2")
for _ in $(seq 1 100); do
  [ "$(req GET "$A/api/v1/jobs/$JOB")" = 200 ] || fail "job $JOB on A"
  [ "$(jget "$T/body" state)" = running ] && break
  sleep 0.05
done
[ "$(jget "$T/body" state)" = running ] || fail "A did not start job $JOB"
kill -9 "$APID"; wait "$APID" 2>/dev/null || true
killed=$(date +%s.%N)
start_server "$T/b" "${FLAGS[@]}"; B=$BASE BPID=$PID
BASE=$B wait_job "$JOB" 300
took=$(echo "$(date +%s.%N) - $killed" | bc)
echo "job $JOB taken over and stored by B ${took} s after A was killed (lease 6 s)"
s=$("${CURL[@]}" -o "$T/dl2.bin" -w '%{http_code}' "$B/api/v1/repos/org/shared/files/big2.safetensors")
[ "$s" = 200 ] && [ "$(sha "$T/dl2.bin")" = "$(sha "$BIG2")" ] || fail "taken-over file through B: $s"
pass
[ "$(q "SELECT count(*) FROM jobs WHERE state IN ('running','queued')")" = 0 ] || fail "jobs left running or queued"
[ "$(q "SELECT count(*) FROM file_blocks b LEFT JOIN chunks c ON c.id = b.chunk_id WHERE c.id IS NULL")" = 0 ] || fail "a block names a missing chunk"
pass

# ---- PostgreSQL restarted under a replica ---------------------------------------
"$TOOLS/pg-restart.sh" "$PGDIR" >/dev/null || fail "pg-restart"
ok=
for _ in $(seq 1 20); do
  [ "$(req GET "$B/api/v1/repos/org/shared")" = 200 ] && { ok=1; break; }
  sleep 0.25
done
[ -n "$ok" ] || fail "B did not reconnect to PostgreSQL: $(cat "$T/body")"
BASE=$B upload org/shared after-restart.safetensors "$SMALL" >"$T/job.ar"
BASE=$B wait_job "$(cat "$T/job.ar")" 120
s=$("${CURL[@]}" -o "$T/dl3.bin" -w '%{http_code}' "$B/api/v1/repos/org/shared/files/big.safetensors")
[ "$s" = 200 ] && [ "$(sha "$T/dl3.bin")" = "$(sha "$BIG")" ] || fail "stored file after the restart: $s"
pass

# ---- PostgreSQL restarted while an upload's body arrives --------------------------
# The body takes ~4 s (curl --limit-rate); PostgreSQL goes down and comes back
# meanwhile.  The upload is either acknowledged (201) and then stored
# byte-exact, or refused with a JSON error and recorded nowhere: never a 201
# for a file that is not there.
MID=$(gen_file BF16 96M 9)
"${CURL[@]}" --limit-rate 24M -o "$T/mid.body" -w '%{http_code}' -T "$MID" \
  "$B/api/v1/repos/org/shared/files/mid-upload.safetensors" >"$T/mid.code" &
cpid=$!
sleep 1
"$TOOLS/pg-restart.sh" "$PGDIR" >/dev/null || fail "pg-restart during the upload"
wait "$cpid" || true
code=$(cat "$T/mid.code")
echo "upload across a PostgreSQL restart: $code $(head -c 200 "$T/mid.body")"
if [ "$code" = 201 ]; then
  BASE=$B wait_job "$(jget "$T/mid.body" job_id)" 300
  s=$("${CURL[@]}" -o "$T/mid.bin" -w '%{http_code}' "$B/api/v1/repos/org/shared/files/mid-upload.safetensors")
  [ "$s" = 200 ] && [ "$(sha "$T/mid.bin")" = "$(sha "$MID")" ] || fail "the acknowledged upload: $s"
else
  case $code in 5*) ;; *) fail "upload across the restart: $code" ;; esac
  jget "$T/mid.body" error >/dev/null || fail "no JSON error: $(cat "$T/mid.body")"
  [ "$(req GET "$B/api/v1/repos/org/shared/files/mid-upload.safetensors")" = 404 ] ||
    fail "a refused upload is listed"
fi
pass

# ---- delete + GC on one replica, the other's files stay -------------------------
start_server "$T/a" "${FLAGS[@]}"; A=$BASE
[ "$(req DELETE "$A/api/v1/repos/org/shared/files/big2.safetensors")" = 200 ] || fail "delete: $(cat "$T/body")"
sleep 2 # past --gc-grace
[ "$(req POST "$A/api/v1/gc")" = 200 ] || fail "gc: $(cat "$T/body")"
freed=$(jget "$T/body" chunks_freed)
echo "gc on A freed $freed chunks"
[ "$freed" -gt 0 ] || fail "gc freed nothing after a delete: $(cat "$T/body"); dead chunks: $(q "SELECT count(*), min(dead_since), max(dead_since), extract(epoch from now())::bigint FROM chunks WHERE refcount = 0"); files: $(q "SELECT id, state FROM files")"
for f in big small after-restart; do
  src=$BIG; [ "$f" = big ] || src=$SMALL
  s=$("${CURL[@]}" -o "$T/g.bin" -w '%{http_code}' "$B/api/v1/repos/org/shared/files/$f.safetensors")
  [ "$s" = 200 ] && [ "$(sha "$T/g.bin")" = "$(sha "$src")" ] || fail "$f through B after GC on A: $s"
done
pass

# ---- GC on A while B dedups against the tensors it collects ----------------------
# Each round: a file stored through A is deleted (its tensors and chunks are
# now unreferenced), the grace time passes, then B stores the same bytes
# again (dedup against those tensors, ingest.c holds them) while A collects.
# Whatever the order, B's file is stored and reads back byte-exact from a
# replica with an empty block cache, and no block names a missing chunk.
RACE=$(ls -S "$DATA"/*.safetensors | head -1)
for r in 1 2 3 4; do
  BASE=$A wait_job "$(BASE=$A upload org/shared race.safetensors "$RACE")" 120
  [ "$(req DELETE "$A/api/v1/repos/org/shared/files/race.safetensors")" = 200 ] || fail "race delete"
  sleep 1.1
  BASE=$B upload org/shared "race-$r.safetensors" "$RACE" >"$T/race.job" &
  upid=$!
  "${CURL[@]}" -o "$T/race.gc" -X POST "$A/api/v1/gc" >/dev/null 2>&1 &
  gcpid=$!
  wait "$upid" || fail "upload race-$r through B"
  wait "$gcpid" || true
  BASE=$B wait_job "$(cat "$T/race.job")" 120
done
# (no block names a missing chunk, no segment a missing tensor, every
# chunk row's pack is in the bucket, counts agree: elvesd fsck)
fsck_clean "of PostgreSQL + RGW after the GC races" --data "$T/c" "${FLAGS[@]}"
start_server "$T/c" "${FLAGS[@]}"; C=$BASE CPID=$PID
for r in 1 2 3 4; do
  s=$("${CURL[@]}" -o "$T/race.bin" -w '%{http_code}' "$C/api/v1/repos/org/shared/files/race-$r.safetensors")
  [ "$s" = 200 ] && [ "$(sha "$T/race.bin")" = "$(sha "$RACE")" ] || fail "race-$r through a fresh replica: $s"
done
PID=$CPID stop_server
pass

# a token made against the shared database works on both replicas
TOKEN=$("$ELVESD" token create --database "$PGURL" --name ci --write) || fail "token create --database"
for R in "$A" "$B"; do
  [ "$(req GET "$R/api/whoami-v2" -H "Authorization: Bearer $TOKEN")" = 200 ] || fail "whoami on $R: $(cat "$T/body")"
done
pass # (writes need a token from here on)
finish
