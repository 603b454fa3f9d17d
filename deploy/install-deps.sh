#!/usr/bin/env bash
# Installs the Debian 12 packages elves-hub needs to build, test and run,
# skipping what is already there.  Run as root (or with sudo available).
set -euo pipefail

packages=(
  build-essential cmake pkg-config clang libclang-rt-14-dev
  libmicrohttpd-dev libsqlite3-dev libjansson-dev libcurl4-openssl-dev
  libzstd-dev libxxhash-dev libssl-dev libcmocka-dev
  zstd curl sqlite3 xxd nginx aria2
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
