#!/usr/bin/env bash
# minbase-rootfs.sh DIR - a bare Debian 12 root file system in DIR:
# `debootstrap --variant=minbase bookworm` from the mirror apt uses on this
# machine.  Nothing is done when DIR already holds one; a half-made one is
# never left at DIR (it is built beside it and moved there when complete).
# Used by tests/fresh-machine.sh (the README's commands on a bare system)
# and tests/e2e/deploy_container.sh (the image's base).
set -euo pipefail
dir=${1:?usage: minbase-rootfs.sh DIR}
[ -f "$dir/etc/debian_version" ] && exit 0
export PATH=$PATH:/usr/sbin:/sbin
command -v debootstrap >/dev/null || {
  echo "minbase-rootfs: missing tool: debootstrap (deploy/install-deps.sh --test installs it)" >&2
  exit 1
}

mirror() { # the Debian mirror apt uses here
  local m
  m=$(grep -hsE '^(deb |URIs:)' /etc/apt/sources.list /etc/apt/sources.list.d/* |
      grep -oE 'https?://[^ ]+/debian/?( |$)' | grep -v security | head -1 | tr -d ' ')
  echo "${m:-http://deb.debian.org/debian}"
}

tmp=$dir.tmp.$$
mkdir -p "$(dirname "$dir")"
rm -rf "$tmp"
echo "minbase-rootfs: debootstrap --variant=minbase bookworm from $(mirror)" >&2
if ! debootstrap --variant=minbase bookworm "$tmp" "$(mirror)" >"$tmp.log" 2>&1; then
  tail -20 "$tmp.log" >&2
  rm -rf "$tmp" "$tmp.log"
  echo "minbase-rootfs: debootstrap failed" >&2
  exit 1
fi
rm -rf "$dir" "$tmp.log"
mv "$tmp" "$dir"
