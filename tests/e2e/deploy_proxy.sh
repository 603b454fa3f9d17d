#!/usr/bin/env bash
# deploy_proxy.sh - elvesd behind real nginx (Debian package) configured by
# deploy/nginx.conf (paths and ports rewritten into a temp dir):
#   - a 1 GB upload streams through: nginx's client_body_temp stays empty
#     during the whole upload and elvesd's spool grows while it runs;
#   - full and ranged downloads through nginx match by SHA-256;
#   - absolute URLs (Location of an upload, LFS batch hrefs when the HF
#     routes exist) point at the proxy; forged X-Forwarded-Prefix/Proto
#     from the client are replaced by nginx;
#   - the request log shows the forwarded client address;
#   - a peer outside --trusted-proxy has its X-Forwarded-* ignored;
#     --public-url overrides everything.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
e2e_init deploy_proxy 600
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
need "$NGINX" bc
SIZE_MB=${DEPLOY_PROXY_MB:-1024}

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_server "$T/data"
EPORT=$PORT
NPORT=$(free_port)
NG=$T/nginx
nginx_up "$NG" "$NPORT" "$EPORT"
PROXY=http://127.0.0.1:$NPORT
[ "$(req GET "$PROXY/readyz")" = 200 ] || fail "readyz through nginx: $(cat "$T/body")"
pass
[ -d "$NG/body" ] || fail "nginx did not create its client_body_temp dir $NG/body"

# ---- 1 GB streaming upload ----------------------------------------------------
BASE=$PROXY create_repo org/big
BIG=$T/big.bin
head -c "$((SIZE_MB * 1024 * 1024))" /dev/urandom >"$BIG"
BIGSHA=$(sha "$BIG")

watch_spool() { # records the largest client_body_temp and spool seen
  local maxbody=0 maxspool=0 b s
  while [ ! -f "$T/upload.done" ]; do
    b=$(find "$NG/body" -type f -printf '%s\n' 2>/dev/null | awk '{s += $1} END {print s + 0}')
    s=$(du -sb "$T/data/spool" 2>/dev/null | cut -f1)
    [ "${b:-0}" -gt "$maxbody" ] && maxbody=$b
    [ "${s:-0}" -gt "$maxspool" ] && maxspool=$s
    echo "$maxbody $maxspool" >"$T/watch.out"
    sleep 0.05
  done
}
watch_spool &
WPID=$!
t0=$(date +%s.%N)
s=$("${CURL[@]}" --max-time 300 -X PUT -T "$BIG" -o "$T/body" -D "$T/headers" -w '%{http_code}' \
  -H 'X-Forwarded-For: 203.0.113.7' "$PROXY/api/v1/repos/org/big/files/big.bin" || true)
t1=$(date +%s.%N)
touch "$T/upload.done"
wait "$WPID"
[ "$s" = 201 ] || fail "1 GB upload through nginx: $s $(cat "$T/body")"
[ "$(jget "$T/body" sha256)" = "$BIGSHA" ] || fail "1 GB upload: sha256 differs"
read -r maxbody maxspool <"$T/watch.out"
[ "$maxbody" = 0 ] || fail "nginx spooled the request body ($maxbody bytes in client_body_temp)"
[ "$(find "$NG/body" -type f | wc -l)" = 0 ] || fail "client_body_temp not empty after the upload"
[ "$maxspool" -gt 0 ] || fail "elvesd's spool never grew during the upload (not streamed?)"
secs=$(echo "$t1 - $t0" | bc)
echo "1 GB-class upload through nginx: ${SIZE_MB} MiB in ${secs}s (client_body_temp max $maxbody B, elvesd spool max $maxspool B during upload)"
pass

# ---- absolute URLs point at the proxy -------------------------------------------
loc=$(header Location)
[ "$loc" = "$PROXY/api/v1/repos/org/big/files/big.bin" ] || fail "Location '$loc' does not point at the proxy $PROXY"
pass
echo small >"$T/small.txt"
s=$(req PUT "$PROXY/api/v1/repos/org/big/files/dir/a%20b.txt" -T "$T/small.txt" \
  -H 'Host: hub.example:8443' -H 'X-Forwarded-Proto: https' -H 'X-Forwarded-Prefix: /evil')
[ "$s" = 201 ] || fail "small upload via nginx with Host: $s $(cat "$T/body")"
loc=$(header Location)
[ "$loc" = "http://hub.example:8443/api/v1/repos/org/big/files/dir/a%20b.txt" ] ||
  fail "Location '$loc': wanted the client's Host, nginx's scheme, no forged prefix"
pass

# the HF LFS batch flow, when the HF routes are there
s=$(req POST "$PROXY/org/big.git/info/lfs/objects/batch" -H 'Content-Type: application/vnd.git-lfs+json' \
  -H 'Accept: application/vnd.git-lfs+json' \
  --data "{\"operation\":\"upload\",\"transfers\":[\"basic\"],\"objects\":[{\"oid\":\"$(printf %064d 7)\",\"size\":5}]}")
if [ "$s" = 200 ]; then
  hrefs=$("$PY" - "$T/body" <<'PYEOF'
import json, sys
v = json.load(open(sys.argv[1]))
for o in v.get("objects", []):
    for a in (o.get("actions") or {}).values():
        print(a["href"])
PYEOF
)
  [ -n "$hrefs" ] || fail "LFS batch answered without hrefs: $(cat "$T/body")"
  while read -r h; do
    case $h in "$PROXY"/*) ;; *) fail "LFS href '$h' does not point at the proxy $PROXY" ;; esac
  done <<<"$hrefs"
  echo "LFS batch hrefs point at the proxy"
  pass
else
  echo "note: no HF LFS batch route yet ($s): checked Location instead"
fi

# ---- downloads through nginx --------------------------------------------------------
"${CURL[@]}" --max-time 300 -o "$T/full.bin" "$PROXY/api/v1/repos/org/big/files/big.bin" || fail "full download"
[ "$(sha "$T/full.bin")" = "$BIGSHA" ] || fail "full download through nginx differs"
rm -f "$T/full.bin"
pass
total=$((SIZE_MB * 1024 * 1024))
for r in "0-0" "0-65535" "$((total - 100))-" "$((total / 3))-$((total / 3 + 5000000))" \
         "$(rand_below $total)-$(( $(rand_below $total) % 1000000 + total / 2 ))"; do
  start=${r%-*}; end=${r#*-}
  [ -z "$end" ] && end=$((total - 1))
  [ "$end" -ge "$total" ] && end=$((total - 1))
  [ "$start" -gt "$end" ] && { t=$start; start=$end; end=$t; }
  s=$("${CURL[@]}" -o "$T/part" -D "$T/headers" -w '%{http_code}' -r "$start-$end" \
    "$PROXY/api/v1/repos/org/big/files/big.bin" || true)
  [ "$s" = 206 ] || fail "range $start-$end through nginx: $s"
  want=$(dd if="$BIG" iflag=skip_bytes,count_bytes skip="$start" count=$((end - start + 1)) bs=1M status=none |
    sha256sum | cut -d' ' -f1)
  [ "$(sha "$T/part")" = "$want" ] || fail "range $start-$end differs"
  header Content-Range | grep -q "^bytes $start-$end/$total$" || fail "Content-Range for $start-$end: $(header Content-Range)"
  pass
done

# ---- the log shows the forwarded client --------------------------------------------
grep -E 'PUT /api/v1/repos/org/big/files/big.bin 201 .* 203\.0\.113\.7' "$LOG" >/dev/null ||
  fail "no log line with the forwarded client 203.0.113.7: $(grep big.bin "$LOG" | head -3)"
pass
[ "$(req GET "$PROXY/metrics")" = 200 ] || fail "/metrics from loopback through nginx"
pass
nginx_stop
stop_server

# ---- untrusted peer: forwarded headers ignored ---------------------------------
start_server "$T/data2" --trusted-proxy 10.0.0.0/8
BASE_U=$BASE
create_repo org/u
s=$(req PUT "$BASE_U/api/v1/repos/org/u/files/x.txt" -T "$T/small.txt" \
  -H 'X-Forwarded-Host: evil.example' -H 'X-Forwarded-Proto: https' \
  -H 'X-Forwarded-For: 203.0.113.9' -H 'Forwarded: for=203.0.113.10;host=evil2.example')
[ "$s" = 201 ] || fail "upload direct: $s"
[ "$(header Location)" = "$BASE_U/api/v1/repos/org/u/files/x.txt" ] || fail "untrusted peer moved Location: $(header Location)"
grep -E 'PUT /api/v1/repos/org/u/files/x.txt 201 .* 127\.0\.0\.1$' "$LOG" >/dev/null ||
  fail "untrusted peer's X-Forwarded-For was logged: $(grep x.txt "$LOG")"
pass
stop_server

# ---- --public-url wins -------------------------------------------------------------
start_server "$T/data3" --public-url https://pub.example/hub/
create_repo org/p
s=$(req PUT "$BASE/api/v1/repos/org/p/files/x.txt" -T "$T/small.txt" -H 'X-Forwarded-Host: other.example')
[ "$(header Location)" = "https://pub.example/hub/api/v1/repos/org/p/files/x.txt" ] || fail "--public-url ignored: $(header Location)"
pass
stop_server
finish
