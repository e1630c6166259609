#!/usr/bin/env bash
# CI's hardening stage (after scripts/test.sh; .ci/run calls both): the unit tests under
# AddressSanitizer, LeakSanitizer and UndefinedBehaviorSanitizer (scripts/sanitize.sh, g++,
# build-asan/), then every libFuzzer target for a bounded time (scripts/fuzz.sh, clang 14,
# build-fuzz/). Prints each step's wall and CPU time and the load average, and exits non-zero
# naming the step that failed.
#
#   scripts/ci-hardening.sh                          # CI's settings
#   CI_FUZZ_SECONDS=60 scripts/ci-hardening.sh       # longer fuzzing (1..60 s per target)
#   CI_HARDENING_STEPS=fuzz scripts/ci-hardening.sh  # one step: sanitize or fuzz
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2

# Seconds per fuzz target. 10 targets, two at a time on a 2-core machine: 5 x this of wall time.
fuzz_seconds=${CI_FUZZ_SECONDS:-10}
steps=${CI_HARDENING_STEPS:-sanitize fuzz}

times_file=$(mktemp)
trap 'rm -f "$times_file"' EXIT
cpu_seconds() {  # sets cpu to the user + system CPU seconds of this shell's finished children
  times >"$times_file"  # not in a pipe or $(...): a subshell's `times` has no children
  # Second line: "XmY.YYYs XmY.YYYs", the children's user and system time.
  cpu=$(awk 'NR == 2 { s = 0; for (i = 1; i <= 2; i++) { split($i, a, "m"); s += a[1] * 60 + a[2] } printf "%.0f", s }' "$times_file")
}

report=()
stage_start=$(date +%s)
for step in $steps; do
  case $step in
    sanitize) cmd=(scripts/sanitize.sh) ;;
    fuzz) cmd=(scripts/fuzz.sh "$fuzz_seconds") ;;
    *) echo "ci-hardening: unknown step '$step' (sanitize, fuzz)" >&2; exit 2 ;;
  esac
  echo "==== ci-hardening: step '$step': ${cmd[*]} (load $(cut -d' ' -f1-3 /proc/loadavg))"
  t0=$(date +%s); cpu_seconds; c0=$cpu
  "${cmd[@]}"
  rc=$?
  t1=$(date +%s); cpu_seconds; c1=$cpu
  line=$(printf '%-9s %4ds wall, %5ds CPU, load after %s' "$step" $((t1 - t0)) $((c1 - c0)) \
    "$(cut -d' ' -f1-3 /proc/loadavg)")
  report+=("$line")
  echo "==== ci-hardening: $line"
  if [ "$rc" -ne 0 ]; then
    echo "ci-hardening: FAILED in step '$step' (${cmd[*]} exited $rc); see its output above" >&2
    exit 1
  fi
done
echo
echo "ci-hardening: passed in $(( $(date +%s) - stage_start ))s"
printf '  %s\n' "${report[@]}"
