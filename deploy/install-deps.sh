#!/usr/bin/env bash
# Installs the Debian 12 packages elves-hub needs, skipping what is already
# there.  Run as root (or with sudo available).
#
#   deploy/install-deps.sh          what it takes to build and run elvesd and
#                                   the elves CLI (the README's first command)
#   deploy/install-deps.sh --test   that, plus every program the test suite
#                                   runs (tests/run-all.sh calls it this way)
#
# The lists were found by running the suite in a bare `debootstrap
# --variant=minbase bookworm` chroot (tests/fresh-machine.sh does that in CI),
# not by what a developer's machine happens to ship.
set -euo pipefail

# build and run: compiler, cmake, the libraries elvesd links, cmocka (the
# default build makes the unit test programs too), and curl for the
# README's examples
packages=(
  build-essential cmake pkg-config ca-certificates
  libmicrohttpd-dev libsqlite3-dev libjansson-dev libcurl4-openssl-dev
  libzstd-dev libxxhash-dev libssl-dev libcmocka-dev libpq-dev libyaml-dev
  curl
)

# the test suite on top:
#   clang libclang-rt-14-dev     fuzz targets and the ASan+UBSan build's runtime
#   python3                      JSON and hashing helpers of the e2e tests, and
#                                tests/tools/call-cycles.py (stdlib only; its nm
#                                comes with build-essential's binutils)
#   nodejs npm                   @huggingface/hub + transformers.js clients, dockerfilelint
#   nginx                        the reverse-proxy test
#   aria2                        parallel-range downloads as hfd does them
#   zstd sqlite3 xxd bc procps   baselines, poking at the database, byte dumps, arithmetic, ps
#   podman buildah runc debootstrap   the container test (no Docker engine here)
#   git                          tests/fresh-machine.sh copies the checkout with it
#   postgresql                   the unit.*.postgres tests and e2e.scaleout start a
#                                throwaway PostgreSQL 15 (tests/tools/pg-up.sh)
#   radosgw ceph-mon ceph-osd ceph-common   a single-node Ceph RGW for the S3
#                                chunk store tests and e2e.scaleout (tests/tools/rgw-up.sh)
# An entry PKG:CMD counts as there when CMD is on PATH, whichever package
# brought it (Node.js from another repository ships its own npm).
test_packages=(
  clang libclang-rt-14-dev
  python3 nodejs:node npm:npm nginx aria2
  zstd sqlite3 xxd bc procps
  podman buildah runc debootstrap
  git postgresql
  radosgw ceph-mon ceph-osd ceph-common
)

case "${1:-}" in
  "") ;;
  --test) packages+=("${test_packages[@]}") ;;
  *) echo "usage: $0 [--test]" >&2; exit 2 ;;
esac

missing=()
for entry in "${packages[@]}"; do
  p=${entry%%:*}
  [ "$p" != "$entry" ] && command -v "${entry#*:}" >/dev/null 2>&1 && continue
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi
