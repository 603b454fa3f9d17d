# lib.sh - shared helpers for the end-to-end tests that run a real elvesd
# (sourced, not run: CMakeLists.txt leaves it out of the e2e tests).
#
#   e2e_init NAME [SECONDS]   temp dir $T, cleanup trap, a watchdog that
#                             ends the test after SECONDS (default 600)
#   start_server [DATA] [FLAGS...]
#                             elvesd on a free port (--listen 127.0.0.1:0,
#                             port read from its "listening on" line), data
#                             in DATA (default $T/data); waits for /healthz;
#                             sets $PID, $PORT, $BASE, $LOG
#   stop_server / kill_server SIGTERM (clean stop, checked) / SIGKILL
#   req METHOD URL [CURL ARGS...]
#                             prints the status; body in $T/body, headers
#                             in $T/headers
#   create_repo NAME [MODE], upload REPO PATH FILE [CURL ARGS...] (prints
#   the job id), wait_job ID, wait_idle REPO
#   jget FILE KEY...          a JSON value (python3), e.g. jget f size
#   expect_json_error STATUS WHAT   the last req answered STATUS with a
#                             JSON {"error": "..."} body
#   sha FILE, fail MSG, pass, finish
#   need TOOL...              fails at once, naming a tool not on PATH
#   nginx_up DIR PORT ELVESD_PORT... / nginx_stop
#                             real nginx (deploy/nginx.conf) in front
#
# Every curl call has a time limit; every server started is stopped on exit.

# Runs only when sourced; executed directly it says so and does nothing.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  echo "lib.sh: helpers only"
  exit 0
fi

ELVESD=${ELVES_BUILD:?ELVES_BUILD not set}/elvesd
DATA=${ELVES_SHARED_DATA:?ELVES_SHARED_DATA not set}
GEN=$ELVES_BUILD/gen_checkpoint
PY=${PYTHON:-python3}
CURL=(curl -sS --max-time 120)
checks=0
PID=
servers=()

fail() {
  echo "FAIL: $*" >&2
  [ -n "${LOG:-}" ] && [ -f "$LOG" ] && { echo "--- server log (tail)" >&2; tail -20 "$LOG" >&2; }
  exit 1
}
pass() { checks=$((checks + 1)); }
# need TOOL...: fails at once, naming the first tool that is not on PATH.
need() {
  local t
  for t; do
    command -v "$t" >/dev/null 2>&1 || [ -x "/usr/sbin/$t" ] ||
      fail "missing tool: $t (deploy/install-deps.sh --test installs it)"
  done
}
finish() { echo "ok: $checks checks"; }
sha() { sha256sum "$1" | cut -d' ' -f1; }
fsize() { stat -c %s "$1"; }

e2e_cleanup() {
  local p
  nginx_stop
  for p in "${servers[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  [ -n "${watchdog:-}" ] && kill "$watchdog" 2>/dev/null || true
  [ -n "${T:-}" ] && [ -z "${E2E_KEEP:-}" ] && rm -rf "$T"
}

e2e_init() { # name [seconds]
  need curl sha256sum pkill "$PY"
  [ -x "$ELVESD" ] || { echo "FAIL: $ELVESD not built" >&2; exit 1; }
  T=$(mktemp -d "${TMPDIR:-/tmp}/elves-$1.XXXXXX")
  trap e2e_cleanup EXIT
  trap 'exit 1' TERM INT
  local self=$$
  # The watchdog waits with bash's own `read -t` on a FIFO nobody writes,
  # so it is one process with no child: killing it leaves nothing behind
  # (a `sleep` child outlived it and held ctest's output pipe open).
  mkfifo "$T/.watchdog"
  (
    exec 3<>"$T/.watchdog"
    read -r -t "${2:-600}" -u 3 _ || true
    echo "FAIL: $1 ran out of time" >&2
    kill -TERM "$self"
    # and what it waits for (this watchdog included), so the test's EXIT
    # trap runs now rather than when its current command would end
    pkill -TERM -P "$self"
  ) &
  watchdog=$!
  disown "$watchdog" 2>/dev/null || true
  nstarts=0
}

start_server() { # [datadir] [flags...]
  local data=${1:-$T/data}
  [ $# -gt 0 ] && shift
  nstarts=$((nstarts + 1))
  LOG=$T/elvesd.$nstarts.log
  ${ELVESD_WRAP:-} "$ELVESD" --data "$data" --listen 127.0.0.1:0 "$@" 2>"$LOG" &
  PID=$!
  servers+=("$PID")
  local i line
  for i in $(seq 1 200); do
    line=$(grep -o 'listening on [^ "]*' "$LOG" 2>/dev/null | head -1 || true)
    [ -n "$line" ] && break
    kill -0 "$PID" 2>/dev/null || fail "elvesd exited at start"
    sleep 0.05
  done
  [ -n "$line" ] || fail "elvesd did not report its port"
  PORT=${line##*:}
  BASE=http://127.0.0.1:$PORT
  for i in $(seq 1 100); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$BASE/healthz")" = 200 ] && return 0
    sleep 0.05
  done
  fail "elvesd not healthy"
}

# SIGTERM: the server must stop by itself, cleanly, within 20 s.
stop_server() {
  local i rc=0
  kill -TERM "$PID"
  for i in $(seq 1 200); do
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$PID" 2>/dev/null && { kill -9 "$PID"; fail "elvesd ignored SIGTERM"; }
  wait "$PID" || rc=$?
  [ "$rc" -eq 0 ] || fail "elvesd exited with $rc after SIGTERM"
  grep -q 'stopped' "$LOG" || fail "no 'stopped' line in the log"
}

# fsck_clean WHAT [fsck flags...]: elvesd fsck must find nothing wrong
# (the flags name the store: --data DIR, or --database/--chunk-store).
fsck_clean() {
  local what=$1 rc=0
  shift
  "$ELVESD" fsck "$@" >"$T/fsck.out" 2>&1 || rc=$?
  [ "$rc" = 0 ] && grep -q '^fsck: clean' "$T/fsck.out" ||
    fail "fsck $what (exit $rc): $(cat "$T/fsck.out")"
  echo "fsck $what: $(tail -1 "$T/fsck.out")"
  pass
}

kill_server() {
  kill -9 "$PID" 2>/dev/null || true
  wait "$PID" 2>/dev/null || true
}

req() { # method url [curl args...]
  local m=$1 u=$2; shift 2
  local head=()
  [ "$m" = HEAD ] && head=(-I) || head=(-X "$m")
  : >"$T/body" # curl writes nothing for an empty body
  "${CURL[@]}" "${head[@]}" -o "$T/body" -D "$T/headers" -w '%{http_code}' "$@" "$u" || true
}

# header NAME: value of a header in $T/headers (last response), CR removed.
header() {
  grep -i "^$1:" "$T/headers" | tail -1 | cut -d' ' -f2- | tr -d '\r'
}

jget() { # file key [key...]: prints the value (JSON for objects/lists)
  "$PY" - "$@" <<'EOF'
import json, sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2:]:
    v = v[int(k)] if isinstance(v, list) else v[k]
print(json.dumps(v) if isinstance(v, (dict, list)) else v)
EOF
}

expect_json_error() { # status what  (for the last req)
  local got=$1 want=$2 what=$3
  [ "$got" = "$want" ] || fail "$what: status $got, wanted $want: $(head -c 300 "$T/body")"
  "$PY" - "$T/body" <<'EOF' || fail "$what: body is not {\"error\": ...}: $(head -c 300 "$T/body")"
import json, sys
v = json.load(open(sys.argv[1]))
assert isinstance(v, dict) and isinstance(v.get("error"), str) and v["error"]
EOF
  pass
}

expect_status() { # got want what
  [ "$1" = "$2" ] || fail "$3: status $1, wanted $2: $(head -c 300 "$T/body")"
  pass
}

create_repo() { # name [mode]
  local s
  s=$(req POST "$BASE/api/v1/repos" -H 'Content-Type: application/json' \
    --data "{\"name\":\"$1\",\"mode\":\"${2:-lossless}\"}")
  [ "$s" = 201 ] || fail "create repo $1: $s $(cat "$T/body")"
}

upload() { # repo path file [curl args...]: prints the job id
  local repo=$1 path=$2 file=$3 s; shift 3
  s=$(req PUT "$BASE/api/v1/repos/$repo/files/$path" -T "$file" "$@")
  [ "$s" = 201 ] || fail "upload $file to $repo/$path: $s $(cat "$T/body")"
  [ "$(jget "$T/body" sha256)" = "$(sha "$file")" ] || fail "upload $file: sha256 in answer differs"
  [ "$(jget "$T/body" size)" = "$(fsize "$file")" ] || fail "upload $file: size in answer differs"
  jget "$T/body" job_id
}

wait_job() { # id [seconds]: waits for done (fails on failed/timeout)
  local i state limit=$(( ${2:-300} * 10 ))
  for i in $(seq 1 "$limit"); do
    [ "$(req GET "$BASE/api/v1/jobs/$1")" = 200 ] || fail "job $1: $(cat "$T/body")"
    state=$(jget "$T/body" state)
    case $state in
      done) return 0 ;;
      failed) fail "job $1 failed: $(cat "$T/body")" ;;
    esac
    sleep 0.1
  done
  fail "job $1 not done in time (state $state)"
}

# download REPO PATH OUT [curl args]: GET into OUT, checks 200.
download() {
  local s
  s=$("${CURL[@]}" -o "$3" -w '%{http_code}' "${@:4}" "$BASE/api/v1/repos/$1/files/$2" || true)
  [ "$s" = 200 ] || fail "download $1/$2: status $s"
}

# Random number in [0, n) from bash's seeded RANDOM.
rand_below() { echo $(( ((RANDOM << 30) | (RANDOM << 15) | RANDOM) % $1 )); }

# Makes a synthetic checkpoint with gen_checkpoint if it is built; prints
# the path, or nothing.
gen_file() { # dtype size seed
  local out=$T/gen-$1-$2-$3.safetensors
  [ -x "$GEN" ] || return 0
  "$GEN" --dtype "$1" --size "$2" --seed "$3" "$out" >/dev/null || fail "gen_checkpoint $*"
  echo "$out"
}

# nginx_up DIR PORT ELVESD_PORT...: real nginx configured by
# deploy/nginx.conf with its paths under DIR, listening on 127.0.0.1:PORT
# and proxying to the elvesd on the given ports (round robin); sets $NGPID
# and waits until /healthz answers through it.  nginx_stop (also on exit)
# stops it: its workers outlive a SIGKILLed master, so SIGTERM it.
NGPID=
nginx_up() {
  local ng=$1 port=$2 servers="" p; shift 2
  for p in "$@"; do servers="${servers:+$servers\n        }server 127.0.0.1:$p;"; done
  mkdir -p "$ng"
  {
    [ "$(id -u)" = 0 ] && echo "user root;" # workers must write under $ng
    sed -e "s#/var/tmp/nginx-elves-#$ng/#" \
        -e "s#/var/run/nginx-elves.pid#$ng/nginx.pid#" \
        -e "s#access_log /dev/stdout#access_log $ng/access.log#" \
        -e "s#error_log stderr#error_log $ng/error.log#" \
        -e "s#listen 80;#listen 127.0.0.1:$port;#" \
        -e "s#server 127.0.0.1:8080;#$servers#" \
        "$ELVES_SRC/deploy/nginx.conf"
  } >"$ng/nginx.conf"
  grep -q "listen 127.0.0.1:$port;" "$ng/nginx.conf" || fail "sed did not find 'listen 80;' in deploy/nginx.conf"
  grep -q "server 127.0.0.1:$p;" "$ng/nginx.conf" || fail "sed did not find the upstream in deploy/nginx.conf"
  "$NGINX" -t -e "$ng/error.log" -p "$ng" -c "$ng/nginx.conf" 2>"$ng/t.log" || { cat "$ng/t.log" >&2; fail "nginx -t"; }
  # its output stays off our stdout, so nothing holds the test's pipe
  "$NGINX" -e "$ng/error.log" -p "$ng" -c "$ng/nginx.conf" -g 'daemon off;' >"$ng/stdout.log" 2>&1 &
  NGPID=$!
  for _ in $(seq 1 100); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$port/healthz")" = 200 ] && return 0
    sleep 0.05
  done
  fail "nginx did not answer on port $port"
}
nginx_stop() {
  [ -n "${NGPID:-}" ] || return 0
  kill -TERM "$NGPID" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$NGPID" 2>/dev/null || break; sleep 0.1; done
  NGPID=
}

# Peak RSS of a process in kB (VmHWM).
peak_rss_kb() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }
