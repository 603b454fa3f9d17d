#!/usr/bin/env bash
# rgw-up.sh DIR - a throwaway single-node Ceph RGW on 127.0.0.1 for the S3
# tests: one monitor, one memstore OSD, one radosgw (beast), auth none
# between the daemons (`ms mon client mode = crc`, or radosgw waits 300 s
# for the monitor).  The mon and the S3 endpoint get free ports, so several
# can run at once.  Creates user "elves" (access key / secret below) and the
# bucket "elves-test", prints the endpoint URL on stdout and writes
# DIR/env (shell assignments: ELVES_TEST_S3, ELVES_TEST_S3_VHOST (the same
# bucket addressed virtual-hosted style), ELVES_S3_ACCESS_KEY,
# ELVES_S3_SECRET_KEY, ELVES_TEST_S3_ENDPOINT).  rgw-down.sh DIR stops it.
# Needs the Debian packages radosgw ceph-mon ceph-osd ceph-common.
set -euo pipefail
D=${1:?usage: rgw-up.sh DIR}
for b in ceph-mon ceph-osd radosgw radosgw-admin ceph ceph-authtool monmaptool curl python3; do
  command -v "$b" >/dev/null || {
    echo "rgw-up: $b is missing: install radosgw ceph-mon ceph-osd ceph-common" \
      "(deploy/install-deps.sh --test)" >&2
    exit 1
  }
done
ACCESS=ELVESTESTKEY0000
SECRET=elves-test-secret-0000000000000000
BUCKET=elves-test
REGION=us-east-1

rm -rf "$D"
mkdir -p "$D"/{run,log,mon.a,osd0,rgw}
D=$(cd "$D" && pwd)
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
MON_PORT=$(free_port)
RGW_PORT=$(free_port)
while [ "$RGW_PORT" = "$MON_PORT" ]; do RGW_PORT=$(free_port); done
FSID=$(cat /proc/sys/kernel/random/uuid)
cat >"$D/ceph.conf" <<EOC
[global]
fsid = $FSID
mon host = v2:127.0.0.1:$MON_PORT
public addr = 127.0.0.1
auth cluster required = none
auth service required = none
auth client required = none
ms mon client mode = crc
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
mon max pg per osd = 1000
mon allow pool size one = true
osd crush chooseleaf type = 0
run dir = $D/run
log file = $D/log/\$name.log
admin socket = $D/run/\$name.asok
pid file = $D/run/\$name.pid
keyring = $D/keyring
mon data = $D/mon.\$id
osd data = $D/osd\$id
osd objectstore = memstore
memstore device bytes = 1073741824
mon cluster log file = $D/log/cluster.log
[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:$RGW_PORT
rgw data = $D/rgw
# virtual-hosted requests: Host BUCKET.localhost (curl resolves *.localhost
# to loopback); path-style ones to 127.0.0.1 work as before
rgw dns name = localhost
EOC
C=(-c "$D/ceph.conf")
fail() { echo "rgw-up: $*; logs in $D/log" >&2; exit 1; }
ceph-authtool --create-keyring "$D/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
monmaptool --create --addv a "[v2:127.0.0.1:$MON_PORT]" --fsid "$FSID" "$D/monmap" >/dev/null
ceph-mon "${C[@]}" --mkfs -i a --monmap "$D/monmap" --keyring "$D/keyring" || fail "ceph-mon --mkfs failed"
ceph-mon "${C[@]}" -i a || fail "ceph-mon did not start"
U=$(cat /proc/sys/kernel/random/uuid)
ID=$(timeout 30 ceph "${C[@]}" osd new "$U") || fail "ceph osd new failed"
ceph-osd "${C[@]}" -i "$ID" --mkfs --osd-uuid "$U" 2>/dev/null || fail "ceph-osd --mkfs failed"
ceph-osd "${C[@]}" -i "$ID" 2>/dev/null || fail "ceph-osd did not start"
timeout 60 radosgw-admin "${C[@]}" user create --uid=elves --display-name=elves \
  --access-key="$ACCESS" --secret-key="$SECRET" >/dev/null || fail "radosgw-admin user create failed"
radosgw "${C[@]}" -n client.rgw.a || fail "radosgw did not start"
EP=http://127.0.0.1:$RGW_PORT
up=0
for _ in $(seq 1 150); do
  curl -s -o /dev/null "$EP/" && { up=1; break; }
  sleep 0.2
done
[ "$up" = 1 ] || fail "radosgw does not answer on $EP after 30 s"
# the bucket, through a signed request as any S3 client makes it
empty=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
code=$(curl -s -o "$D/log/mkbucket.out" -w '%{http_code}' -X PUT --user "$ACCESS:$SECRET" \
  --aws-sigv4 "aws:amz:$REGION:s3" -H "x-amz-content-sha256: $empty" "$EP/$BUCKET")
[ "$code" = 200 ] || fail "creating bucket $BUCKET answered $code: $(cat "$D/log/mkbucket.out")"
cat >"$D/env" <<EOV
ELVES_TEST_S3='s3://$BUCKET/t?endpoint=$EP&region=$REGION&path_style=1'
ELVES_TEST_S3_ENDPOINT=$EP
ELVES_TEST_S3_VHOST='s3://$BUCKET/vh?endpoint=http://localhost:$RGW_PORT&region=$REGION&path_style=0'
ELVES_S3_ACCESS_KEY=$ACCESS
ELVES_S3_SECRET_KEY=$SECRET
EOV
echo "$EP"
