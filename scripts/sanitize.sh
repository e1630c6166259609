#!/usr/bin/env bash
# Builds the project and its tests with AddressSanitizer, LeakSanitizer and
# UndefinedBehaviorSanitizer (g++, Debug, -DCAIRN_SANITIZE=ON) into build-asan/ and runs the tests
# with ctest. Any sanitizer report aborts the test that triggered it, so ctest fails.
#
#   scripts/sanitize.sh                   # the unit tests: every test but the `integration` label
#   scripts/sanitize.sh -R Codec          # extra arguments go to ctest (added to the defaults)
#   SANITIZE_ALL=1 scripts/sanitize.sh    # build everything, include the `integration` tests
#
# By default only the test executables that hold unit tests are built (with what they depend
# on): the labels come from the gtest discovery files CMake writes at configure time, so a test
# binary whose tests are all `integration` (and the binaries only those need) is not compiled.
# This is what CI runs (scripts/ci-hardening.sh).
#
# Without torch (-DCAIRN_WITH_TORCH=OFF): Debian's libtorch is not built with ASan, so its
# allocations and threads are invisible to the instrumentation (and its one-time allocations are
# reported as leaks), while its translation units are the slowest of the build; the trainer is
# covered by the normal build's tests. Everything else (aggregator, participant client, protocol,
# crypto, attestation, DP, data) is instrumented.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build=$root/build-asan

mkdir -p "$build"
echo "sanitize.sh: configuring $build (g++, Debug, ASan+UBSan, no torch)"
# -g1: line tables and function names (what a sanitizer stack trace shows) without the
# variable and type information of -g, which costs much of a Debug build's compile time here.
# -DCAIRN_UNITY_BUILD=OFF: one translation unit per source file, so CI also compiles every .cc
# on its own (a unity batch would hide an #include that a file forgot but an earlier one has).
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCAIRN_SANITIZE=ON \
  -DCMAKE_CXX_FLAGS_DEBUG=-g1 -DCMAKE_C_FLAGS_DEBUG=-g1 -DCAIRN_UNITY_BUILD=OFF \
  -DCAIRN_WITH_TORCH=OFF -DCAIRN_BUILD_BENCHMARKS=OFF >"$build/configure.log" 2>&1 || {
  cat "$build/configure.log" >&2
  echo "sanitize.sh: configure failed" >&2
  exit 1
}
jobs=${SANITIZE_JOBS:-$(nproc)}
if [ "${SANITIZE_ALL:-0}" = "1" ]; then
  echo "sanitize.sh: building everything"
  ninja -C "$build" -j "$jobs"
else
  # One discovery file per cairn_test() executable: <build>/tests/<module>/<name>[1]_include.cmake,
  # naming the executable and the test properties (LABELS;...). Unit executables are those whose
  # labels do not include `integration`.
  unit=()
  while IFS= read -r f; do
    exe=$(sed -n 's/^ *TEST_EXECUTABLE \[==\[\(.*\)\]==\]$/\1/p' "$f")
    props=$(sed -n 's/^ *TEST_PROPERTIES \[==\[\(.*\)\]==\]$/\1/p' "$f")
    [ -n "$exe" ] || continue
    if [[ ";$props;" =~ \;LABELS\;([^]]*) ]] && [[ ";${BASH_REMATCH[1]};" == *";integration;"* ]]; then
      continue
    fi
    unit+=("tests/$(basename "$exe")")
  done < <(find "$build/tests" -name '*_include.cmake' | sort)
  [ ${#unit[@]} -gt 0 ] || { echo "sanitize.sh: no unit test executables found under $build/tests" >&2; exit 1; }
  echo "sanitize.sh: building ${#unit[@]} unit test executables: ${unit[*]#tests/}"
  ninja -C "$build" -j "$jobs" "${unit[@]}"
fi

# halt_on_error/abort_on_error: the first report kills the process (a failed test, with the
# report in its output). detect_leaks=1: LeakSanitizer works in this container (it needs to stop
# the process's own threads with ptrace-like access, which some sandboxes deny; if yours does,
# it prints "LeakSanitizer has encountered a fatal error": run with ASAN_OPTIONS=detect_leaks=0).
export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:abort_on_error=1:detect_leaks=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:abort_on_error=1:print_stacktrace=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-}

# <name>_NOT_BUILT: the placeholder ctest adds for an executable that was not built (the
# integration-only ones, above).
exclude=(-LE integration -E '_NOT_BUILT$')
if [ "${SANITIZE_ALL:-0}" = "1" ]; then exclude=(); fi
echo "sanitize.sh: ASAN_OPTIONS=$ASAN_OPTIONS"
echo "sanitize.sh: UBSAN_OPTIONS=$UBSAN_OPTIONS"
start=$(date +%s)
set +e
ctest --test-dir "$build" --output-on-failure -j "$jobs" "${exclude[@]}" "$@"
rc=$?
set -e
echo "sanitize.sh: ctest took $(( $(date +%s) - start ))s (load $(cut -d' ' -f1-3 /proc/loadavg)); exit $rc"
exit $rc
