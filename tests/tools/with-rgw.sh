#!/usr/bin/env bash
# with-rgw.sh CMD [ARG...] - runs CMD with a throwaway Ceph RGW up
# (rgw-up.sh) and its settings in the environment: ELVES_TEST_S3 (the
# s3:// URL of a test bucket), ELVES_S3_ACCESS_KEY, ELVES_S3_SECRET_KEY,
# ELVES_TEST_S3_ENDPOINT.  Stops RGW afterwards and exits with CMD's code.
# Without the ceph binaries it fails (exit 1) and says what to install:
# the S3 tests are never skipped silently.  The RGW's files go in
# $ELVES_RGW_DIR (default: a new temporary directory, removed afterwards).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[ $# -gt 0 ] || { echo "usage: with-rgw.sh CMD [ARG...]" >&2; exit 2; }
for b in ceph-mon ceph-osd radosgw radosgw-admin ceph; do
  command -v "$b" >/dev/null || {
    echo "with-rgw: $b not found: the S3 tests need a Ceph RGW; install the Debian" \
      "packages radosgw ceph-mon ceph-osd ceph-common (deploy/install-deps.sh --test)" >&2
    exit 1
  }
done
dir=${ELVES_RGW_DIR:-}
own=0
if [ -z "$dir" ]; then dir=$(mktemp -d "${TMPDIR:-/tmp}/elves-rgw-XXXXXX"); own=1; fi
t0=$(date +%s.%N)
if ! "$here/rgw-up.sh" "$dir" >/dev/null; then
  echo "with-rgw: RGW did not start (logs in $dir/log)" >&2
  "$here/rgw-down.sh" "$dir"
  exit 1
fi
echo "with-rgw: RGW up in $(echo "$(date +%s.%N) - $t0" | bc | cut -c1-5) s" >&2
set -a
. "$dir/env"
set +a
"$@"
rc=$?
"$here/rgw-down.sh" "$dir"
[ "$own" = 1 ] && [ "$rc" = 0 ] && rm -rf "$dir"
exit "$rc"
