#!/usr/bin/env bash
# The whole test suite, as CI runs it:
#   1. installs missing Debian packages (deploy/install-deps.sh --test),
#   2. a release build with -Werror in build-test/, every ctest test
#      (unit + end-to-end), and no call cycle between server files,
#   3. an ASan+UBSan build (build-asan/) and the unit tests again,
#   4. each libFuzzer target (build-fuzz/) for ELVES_FUZZ_SECONDS (default 30),
#      nproc of them side by side,
#   5. the README's two commands again in a bare Debian 12 chroot
#      (tests/fresh-machine.sh), which runs this script there with
#      ELVES_SUITE=quick.
# ELVES_SUITE=quick runs steps 1-2 only; ELVES_CTEST_EXCLUDE=REGEX leaves
# the matching ctest tests out.  Both are said in the output when set.
# The tests need ../shared (the sample checkpoints) beside the checkout.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
fuzz_seconds=${ELVES_FUZZ_SECONDS:-30}
suite=${ELVES_SUITE:-full}
exclude=${ELVES_CTEST_EXCLUDE:-}
case $suite in full | quick) ;; *) echo "run-all: ELVES_SUITE is full or quick, not '$suite'" >&2; exit 2 ;; esac

shared_data=${ELVES_SHARED_DATA:-$PWD/../shared/data}
ls "$shared_data"/*.safetensors >/dev/null 2>&1 || {
  echo "run-all: no sample checkpoints in $shared_data: the tests need ../shared/data beside" \
    "the checkout, or ELVES_SHARED_DATA=DIR naming a folder of .safetensors files" >&2
  exit 1
}
shared_data=$(cd "$shared_data" && pwd)
export ELVES_SHARED_DATA=$shared_data # for tests/fresh-machine.sh

deploy/install-deps.sh --test

passed=0
failed=0
step() { # name, command...
  local name=$1; shift
  echo "=== $name"
  if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "=== FAILED: $name"; fi
}

build() { # dir, target, cmake args...
  local dir=$1 target=$2; shift 2
  cmake -S . -B "$dir" -DELVES_SHARED_DATA="$shared_data" "$@" >/dev/null &&
    cmake --build "$dir" -j"$jobs" --target "$target"
}

ctest_args=()
if [ -n "$exclude" ]; then
  echo "=== note: leaving out the ctest tests matching '$exclude' (ELVES_CTEST_EXCLUDE)"
  ctest_args=(-E "$exclude")
fi

step "release build" build build-test all -DCMAKE_BUILD_TYPE=RelWithDebInfo
step "release tests" ctest --test-dir build-test --output-on-failure -j"$jobs" "${ctest_args[@]}"
step "no call cycles between server files (tests/tools/call-cycles.py)" \
  python3 tests/tools/call-cycles.py build-test

if [ "$suite" = quick ]; then
  echo "=== note: ELVES_SUITE=quick: sanitizer, fuzz and fresh-machine steps not run"
else
  step "sanitizer build" build build-asan all -DCMAKE_BUILD_TYPE=Debug -DELVES_SANITIZE=ON
  step "sanitizer tests" env ASAN_OPTIONS=detect_leaks=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan --output-on-failure -j"$jobs" -L unit

  build_fuzz() { CC=clang build build-fuzz fuzzers -DCMAKE_BUILD_TYPE=RelWithDebInfo -DELVES_FUZZ=ON; }
  step "fuzz build" build_fuzz
  # Each target is one single-threaded process, so $jobs of them run side
  # by side (each still gets its full time on a core); their output is
  # kept apart and printed, target by target, once a batch is done.
  fuzz_one() { # binary: runs it, output in build-fuzz/logs/NAME.log, status in NAME.rc
    local f=$1 name corpus seeds rc=0
    name=$(basename "$f")
    corpus=build-fuzz/corpus-$name
    seeds=tests/fuzz/seeds/${name#fuzz_}
    mkdir -p "$corpus" build-fuzz/logs
    rm -f "build-fuzz/logs/$name.rc"
    "$f" -max_total_time="$fuzz_seconds" -rss_limit_mb=2048 -print_final_stats=0 \
      "$corpus" $( [ -d "$seeds" ] && echo "$seeds" ) >"build-fuzz/logs/$name.log" 2>&1 || rc=$?
    echo "$rc" >"build-fuzz/logs/$name.rc"
  }
  fuzz_report() { # name: its output, and its status
    cat "build-fuzz/logs/$1.log"
    [ "$(cat "build-fuzz/logs/$1.rc" 2>/dev/null)" = 0 ]
  }
  targets=()
  for f in build-fuzz/fuzz_*; do [ -f "$f" ] && [ -x "$f" ] && targets+=("$f"); done
  for ((i = 0; i < ${#targets[@]}; i += jobs)); do
    batch=("${targets[@]:i:jobs}")
    for f in "${batch[@]}"; do fuzz_one "$f" & done
    wait
    for f in "${batch[@]}"; do
      step "fuzz $(basename "$f") ${fuzz_seconds}s" fuzz_report "$(basename "$f")"
    done
  done

  step "fresh Debian 12 (README's commands in a minbase chroot)" tests/fresh-machine.sh
fi

echo "suite: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
