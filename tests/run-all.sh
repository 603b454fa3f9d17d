#!/usr/bin/env bash
# The whole test suite, as CI runs it:
#   1. installs missing Debian packages,
#   2. a release build with -Werror and every ctest test (unit + end-to-end),
#   3. an ASan+UBSan build and the tests again,
#   4. each libFuzzer target for a short time (ELVES_FUZZ_SECONDS, default 30).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
fuzz_seconds=${ELVES_FUZZ_SECONDS:-30}

deploy/install-deps.sh

passed=0
failed=0
step() { # name, command...
  local name=$1; shift
  echo "=== $name"
  if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "=== FAILED: $name"; fi
}

build() { # dir, target, cmake args...
  local dir=$1 target=$2; shift 2
  cmake -S . -B "$dir" "$@" >/dev/null && cmake --build "$dir" -j"$jobs" --target "$target"
}

step "release build" build build all -DCMAKE_BUILD_TYPE=RelWithDebInfo
step "release tests" ctest --test-dir build --output-on-failure -j"$jobs"

step "sanitizer build" build build-asan all -DCMAKE_BUILD_TYPE=Debug -DELVES_SANITIZE=ON
step "sanitizer tests" env ASAN_OPTIONS=detect_leaks=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j"$jobs" -L unit

build_fuzz() { CC=clang build build-fuzz fuzzers -DCMAKE_BUILD_TYPE=RelWithDebInfo -DELVES_FUZZ=ON; }
step "fuzz build" build_fuzz
for f in build-fuzz/fuzz_*; do
  [ -x "$f" ] || continue
  name=$(basename "$f")
  corpus=build-fuzz/corpus-$name
  mkdir -p "$corpus"
  seeds=tests/fuzz/seeds/${name#fuzz_}
  step "fuzz $name ${fuzz_seconds}s" "$f" -max_total_time="$fuzz_seconds" \
    -rss_limit_mb=2048 -print_final_stats=0 "$corpus" $( [ -d "$seeds" ] && echo "$seeds" )
done

echo "suite: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
