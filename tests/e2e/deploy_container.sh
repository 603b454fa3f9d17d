#!/usr/bin/env bash
# deploy_container.sh - the Dockerfile, built and run the way CI can without
# a Docker engine or a registry:
#   1. lint: npx dockerfilelint (npm) must find nothing;
#   2. base: debootstrap --variant=minbase bookworm from the apt mirror
#      (cached in $ELVES_CACHE_DIR, default ~/.cache/elves-hub), slimmed,
#      imported with podman as debian:bookworm-slim;
#   3. podman build --isolation=chroot (image size printed);
#   4. podman run (runc, cgroupfs, ulimits from a CONTAINERS_CONF file; host
#      network, a free 127.0.0.1 port): non-root, healthy, upload/download
#      smoke test by SHA-256; podman stop must end elvesd by SIGTERM (exit
#      0, "stopped" logged); a new container on the same volume still
#      serves the file;
#   5. the docker client against `podman system service`, when installed.
# podman, buildah, debootstrap, runc and npm come from
# deploy/install-deps.sh --test; a missing one fails at once.  Only a machine that cannot run containers at all (not root and
# no user namespaces) makes it SKIP, with the reason; everything else that
# goes wrong fails.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
e2e_init container 720
t_start=$(date +%s)
SRC=${ELVES_SRC:?}
CACHE=${ELVES_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/elves-hub}
TAG=localhost/elves-hub-test:$$
BASE_TAG=debian:bookworm-slim
BASE_MARK=elves-minbase-slim-1 # bump when the base recipe changes
NAME=elves-test-$$
VOL=elves-test-$$
step() { echo "[$(( $(date +%s) - t_start ))s] $*"; }
skip() { echo "SKIP: $*"; exit 77; } # ctest: skipped, shown in its summary

# ---- can this machine run containers? --------------------------------------------
if [ "$(id -u)" != 0 ]; then
  unshare -U true 2>/dev/null || skip "not root and the kernel refuses user namespaces (unshare -U failed): podman cannot run here"
  grep -q "^$(id -un):" /etc/subuid 2>/dev/null || skip "not root and no /etc/subuid entry for $(id -un): rootless podman cannot map users"
fi
need podman buildah debootstrap runc npx
export PATH=$PATH:/usr/sbin:/sbin
export CONTAINERS_CONF=$T/containers.conf
cat >"$CONTAINERS_CONF" <<'CONF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=1000:1000"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
CONF

cleanup_containers() {
  podman rm -f -t 5 "$NAME" "$NAME-2" "$NAME-d" >/dev/null 2>&1 || true
  podman volume rm -f "$VOL" >/dev/null 2>&1 || true
  podman rmi -f "$TAG" >/dev/null 2>&1 || true
  [ -n "${SVC:-}" ] && kill "$SVC" 2>/dev/null || true
}
trap 'cleanup_containers; e2e_cleanup' EXIT

# ---- 1. lint -----------------------------------------------------------------------
step "dockerfilelint"
(cd "$SRC" && timeout 180 npx --yes dockerfilelint Dockerfile) >"$T/lint.log" 2>&1 ||
  { cat "$T/lint.log" >&2; fail "dockerfilelint found problems in the Dockerfile (or npx failed)"; }
pass

# ---- 2. base image -------------------------------------------------------------------
ROOTFS=$CACHE/rootfs-bookworm
if [ "$(podman image inspect --format '{{index .Labels "elves.base"}}' "$BASE_TAG" 2>/dev/null)" != "$BASE_MARK" ]; then
  step "minbase root file system in $ROOTFS"
  "$SRC/tests/tools/minbase-rootfs.sh" "$ROOTFS" || fail "debootstrap"
  if [ ! -f "$ROOTFS/.elves-slim" ]; then
    # what the official -slim image leaves out: docs, man pages, locales
    rm -rf "$ROOTFS"/usr/share/doc/* "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/info/* \
      "$ROOTFS"/usr/share/locale/* "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/*
    cat >"$ROOTFS/etc/dpkg/dpkg.cfg.d/slim" <<'DPKG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
DPKG
    touch "$ROOTFS/.elves-slim"
  fi
  step "podman import $BASE_TAG"
  tar -C "$ROOTFS" --exclude=./.elves-slim -c . |
    podman import --change "LABEL elves.base=$BASE_MARK" --change 'CMD ["/bin/bash"]' - "$BASE_TAG" \
      >"$T/import.log" 2>&1 || { cat "$T/import.log" >&2; fail "podman import"; }
fi
pass

# ---- 3. build ------------------------------------------------------------------------------
step "podman build --isolation=chroot"
b0=$(date +%s)
podman build --isolation=chroot --pull=never --format docker -t "$TAG" -f "$SRC/Dockerfile" "$SRC" \
  >"$T/build.log" 2>&1 || { tail -30 "$T/build.log" >&2; fail "podman build"; }
size=$(podman image inspect --format '{{.Size}}' "$TAG")
step "image built in $(( $(date +%s) - b0 ))s, $(( size / 1000000 )) MB"
[ "$(podman image inspect --format '{{.Config.User}}' "$TAG")" = elves ] || fail "image does not run as the elves user"
podman image inspect --format '{{json .Config.Volumes}}' "$TAG" | grep -q '"/data"' || fail "no VOLUME /data"
podman image inspect --format '{{json .Config.ExposedPorts}}' "$TAG" | grep -q '8080/tcp' || fail "no EXPOSE 8080"
podman image inspect --format '{{json .Config.Healthcheck}}' "$TAG" | grep -q healthz || fail "no HEALTHCHECK on /healthz"
pass

# ---- 4. run, smoke test, stop, run again on the same volume --------------------------
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
CPORT=$(free_port)
BASE=http://127.0.0.1:$CPORT
podman volume create "$VOL" >/dev/null
run_container() { # name
  # (podman warns it cannot reach systemd for healthcheck timers: noise)
  podman run -d --name "$1" --network host -e "ELVES_LISTEN=127.0.0.1:$CPORT" \
    -v "$VOL:/data" "$TAG" >"$T/run.log" 2>&1 || { cat "$T/run.log" >&2; fail "podman run $1"; }
  local i
  for i in $(seq 1 150); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$BASE/readyz")" = 200 ] && return 0
    [ "$(podman inspect --format '{{.State.Running}}' "$1")" = true ] ||
      { podman logs "$1" >&2; fail "container $1 exited"; }
    sleep 0.2
  done
  podman logs "$1" >&2
  fail "container $1 not ready on $BASE"
}
stop_container() { # name: SIGTERM must reach elvesd and stop it cleanly
  podman stop -t 20 "$1" >"$T/stop.log" 2>&1 || { cat "$T/stop.log" >&2; fail "podman stop $1"; }
  local code
  code=$(podman inspect --format '{{.State.ExitCode}}' "$1")
  [ "$code" = 0 ] || { podman logs "$1" | tail -5 >&2; fail "elvesd in $1 exited $code on podman stop (SIGTERM not handled?)"; }
  podman logs "$1" 2>&1 | grep -q 'stopped' || fail "no 'stopped' in the logs of $1"
}

step "podman run on 127.0.0.1:$CPORT"
run_container "$NAME"
[ "$(podman exec "$NAME" id -u)" != 0 ] || fail "elvesd runs as root in the container"
podman healthcheck run "$NAME" >"$T/hc.log" 2>&1 || { cat "$T/hc.log" >&2; fail "the image's HEALTHCHECK fails"; }
pass
F=$DATA/faceapi-age-gender.safetensors
create_repo org/c
wait_job "$(upload org/c m.safetensors "$F")" 120
download org/c m.safetensors "$T/d1"
[ "$(sha "$T/d1")" = "$(sha "$F")" ] || fail "download from the container differs"
pass
step "podman stop (SIGTERM)"
stop_container "$NAME"
pass
step "a new container on the same volume"
run_container "$NAME-2"
download org/c m.safetensors "$T/d2"
[ "$(sha "$T/d2")" = "$(sha "$F")" ] || fail "data did not survive on the volume"
pass
stop_container "$NAME-2"

# ---- 5. the docker client against podman's API ----------------------------------------
if command -v docker >/dev/null 2>&1; then
  step "docker client via podman system service"
  podman system service --time=0 "unix://$T/podman.sock" >"$T/service.log" 2>&1 &
  SVC=$!
  for _ in $(seq 1 50); do [ -S "$T/podman.sock" ] && break; sleep 0.1; done
  export DOCKER_HOST=unix://$T/podman.sock
  timeout 20 docker version >"$T/docker.log" 2>&1 || { cat "$T/docker.log" >&2; fail "docker version against podman"; }
  timeout 60 docker run -d --name "$NAME-d" --network host -e "ELVES_LISTEN=127.0.0.1:$CPORT" \
    -v "$VOL:/data" "$TAG" >/dev/null || fail "docker run"
  for _ in $(seq 1 150); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$BASE/readyz")" = 200 ] && break
    sleep 0.2
  done
  download org/c m.safetensors "$T/d3"
  [ "$(sha "$T/d3")" = "$(sha "$F")" ] || fail "download via the docker-run container differs"
  timeout 40 docker stop -t 20 "$NAME-d" >/dev/null || fail "docker stop"
  [ "$(docker inspect --format '{{.State.ExitCode}}' "$NAME-d")" = 0 ] || fail "docker stop: elvesd did not exit 0"
  unset DOCKER_HOST
  pass
else
  echo "note: no docker client installed: the docker-via-podman step was not run"
fi
step "done: image $(( size / 1000000 )) MB"
finish
