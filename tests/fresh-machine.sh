#!/usr/bin/env bash
# fresh-machine.sh - the README's two commands on a bare Debian 12, so that a
# missing install step cannot hide behind what this machine's image ships.
#
#   1. a minbase root file system (tests/tools/minbase-rootfs.sh), made once
#      and kept in $ELVES_FRESH_DIR (default build-fresh/) as a pristine copy;
#   2. a throw-away copy of it with this checkout (git's tracked and
#      untracked-but-not-ignored files) at /work/elves-hub and ../shared
#      beside it, plus this machine's network settings for apt and npm
#      (resolv.conf, hosts, apt.conf.d, npmrc, trusted CAs) and nothing else;
#   3. in a private mount namespace (proc, sys, devpts and /dev/shm mounted
#      there vanish with it) chroot into it and, with a clean environment:
#      - the README's first command as written, ELVES_LISTEN=127.0.0.1:0;
#        it must answer /readyz, store an upload and give it back
#        byte-exact, then stop on SIGTERM;
#      - the README's second command as written, with ELVES_SUITE=quick
#        (installer, release build, every ctest test, the container test
#        too; the sanitizer and fuzz steps run on the host only).
#        ELVES_FRESH_EXCLUDE=REGEX leaves ctest tests out, said in the output
#        (default: most PostgreSQL twins and e2e.scaleout, see below).
# The container test's base image is made from a copy of the same pristine
# root file system (its cache), not by a second debootstrap.
# Network traffic: apt and npm registries only; every server is on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD
DATA=$(cd "${ELVES_SHARED_DATA:-$SRC/../shared/data}" 2>/dev/null && pwd) ||
  { echo "fresh-machine: no ../shared/data beside the checkout (or ELVES_SHARED_DATA)" >&2; exit 1; }
WORK=${ELVES_FRESH_DIR:-$SRC/build-fresh}
PRISTINE=$WORK/minbase
ROOT=$WORK/root
# The tests on PostgreSQL and RGW ran on the host a moment before; in the
# chroot unit.test_meta.postgres, unit.test_meta_copy.postgres and
# unit.s3_rgw prove that those engines install from the installer and start
# (about 80 s); the other twins and e2e.scaleout (150 s) are left out there.
# e2e.server_delta (40 s) needs nothing the other server tests do not, and
# is left out there too.
EXCLUDE=${ELVES_FRESH_EXCLUDE-'^unit\.test_(chunkstore_s3|reader|spool_s3|store_[a-z_]+)\.postgres$|^e2e\.(scaleout|server_delta)$'}
t0=$(date +%s)
say() { echo "[fresh $(( $(date +%s) - t0 ))s] $*"; }

[ "$(id -u)" = 0 ] || { echo "fresh-machine: needs root (debootstrap, chroot, mount)" >&2; exit 1; }
for tool in unshare chroot mount git tar; do
  command -v "$tool" >/dev/null ||
    { echo "fresh-machine: missing tool: $tool (deploy/install-deps.sh --test installs it)" >&2; exit 1; }
done

say "minbase root file system ($PRISTINE)"
tests/tools/minbase-rootfs.sh "$PRISTINE"

# Nothing is ever mounted under $ROOT outside the namespace below, so
# removing it cannot reach into the host's /dev or /proc; check anyway.
grep -q " $ROOT/" /proc/mounts && { echo "fresh-machine: something is mounted under $ROOT" >&2; exit 1; }
rm -rf "$ROOT"
cp -a "$PRISTINE" "$ROOT"
cp /etc/resolv.conf /etc/hosts "$ROOT/etc/"
cp -a /etc/apt/apt.conf.d/. "$ROOT/etc/apt/apt.conf.d/"
for f in /etc/npmrc "$HOME/.npmrc"; do [ -f "$f" ] && cp "$f" "$ROOT$f"; done
# The authorities this machine trusts, as a local addition that the
# chroot's ca-certificates package folds into its bundle when installed
# (as an administrator adds a company's CA): a network that inspects TLS
# needs them for npm, and they change nothing elsewhere.
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  mkdir -p "$ROOT/usr/local/share/ca-certificates"
  cp /etc/ssl/certs/ca-certificates.crt "$ROOT/usr/local/share/ca-certificates/host-trust.crt"
fi
mkdir -p "$ROOT/work/elves-hub"
git -C "$SRC" ls-files -z --cached --others --exclude-standard |
  tar -C "$SRC" --null --no-recursion -T - -c | tar -C "$ROOT/work/elves-hub" -x
mkdir -p "$ROOT/work/shared"
cp -a "$DATA" "$ROOT/work/shared/data"
mkdir -p "$ROOT/root/.cache/elves-hub"
cp -a "$PRISTINE" "$ROOT/root/.cache/elves-hub/rootfs-bookworm"

cat >"$ROOT/work/fresh-inside.sh" <<'INSIDE'
set -euo pipefail
cd /work/elves-hub
say() { echo "[fresh, inside] $*"; }
block() { # N: line N of the README's first sh block (the two commands)
  awk -v n="$1" '/^```sh$/ { inb = 1; next } inb && ++i == n { print; exit }' README.md
}
first=$(block 1)
second=$(block 2)

say "first command: $first"
log=/work/first.log
ELVES_LISTEN=127.0.0.1:0 setsid bash -c "$first" >"$log" 2>&1 &
pid=$!
port=
for _ in $(seq 1 1800); do # apt, then a build from scratch: up to 15 min
  port=$(grep -o 'listening on [^ "]*' "$log" | head -1 | sed 's/.*://' || true)
  [ -n "$port" ] && break
  kill -0 "$pid" 2>/dev/null || { tail -30 "$log"; echo "FAIL: the first command ended without starting elvesd"; exit 1; }
  sleep 0.5
done
[ -n "$port" ] || { tail -30 "$log"; echo "FAIL: elvesd did not start in 15 min"; exit 1; }
base=http://127.0.0.1:$port
for _ in $(seq 1 100); do curl -fs -o /dev/null "$base/readyz" && break; sleep 0.1; done
curl -fsS -o /dev/null "$base/readyz" || { tail -30 "$log"; echo "FAIL: /readyz"; exit 1; }
f=/work/shared/data/faceapi-age-gender.safetensors
curl -fsS -o /dev/null -X POST "$base/api/v1/repos" -d '{"name":"fresh/m"}'
curl -fsS -o /dev/null -T "$f" "$base/api/v1/repos/fresh/m/files/m.safetensors"
curl -fsS -o /work/back.bin "$base/api/v1/repos/fresh/m/files/m.safetensors"
[ "$(sha256sum <"$f")" = "$(sha256sum </work/back.bin)" ] ||
  { echo "FAIL: the upload came back different"; exit 1; }
kill -TERM -- "-$pid" # the whole session: bash and elvesd
for _ in $(seq 1 200); do grep -q stopped "$log" && break; sleep 0.1; done
grep -q stopped "$log" || { tail -30 "$log"; echo "FAIL: elvesd did not stop on SIGTERM"; exit 1; }
wait "$pid" || true
say "first command ok: installed, built, served and stored on a bare system"

say "second command: $second (ELVES_SUITE=quick)"
ELVES_SUITE=quick bash -c "$second"
INSIDE

# Whatever is still running inside the chroot when this ends is ended.
chroot_procs() {
  local d
  for d in /proc/[0-9]*; do
    [ "$(readlink "$d/root" 2>/dev/null)" = "$ROOT" ] && echo "${d#/proc/}"
  done
  return 0
}
end_leftovers() {
  local left
  left=$(chroot_procs)
  [ -z "$left" ] && return 0
  echo "fresh-machine: ending what was left running in the chroot: $(echo $left)" >&2
  kill -9 $left 2>/dev/null || true
}
trap end_leftovers EXIT

say "chroot: the README's commands"
rc=0
# / must be a mount point and the cgroup hierarchy visible for podman.
unshare --mount --propagation private bash -euo pipefail -c '
  root=$1 exclude=$2
  mount --bind "$root" "$root"
  mount -t proc proc "$root/proc"
  mount -t sysfs sys "$root/sys"
  [ -d /sys/fs/cgroup ] && mount --rbind /sys/fs/cgroup "$root/sys/fs/cgroup"
  mount -t devpts -o newinstance,ptmxmode=0666 devpts "$root/dev/pts"
  mount -t tmpfs -o mode=1777 shm "$root/dev/shm"
  exec chroot "$root" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 CI="${CI:-}" \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    ELVES_CTEST_EXCLUDE="$exclude" bash /work/fresh-inside.sh
' _ "$ROOT" "$EXCLUDE" || rc=$?
say "done (exit $rc)"
exit "$rc"
