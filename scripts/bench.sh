#!/usr/bin/env bash
# Runs cairn-bench's standard set (issue 7; docs/performance.md explains every figure), prints a
# summary table and writes one JSON line per run to BUILD/bench/<set>.jsonl.
#
#   scripts/bench.sh [--build-dir build] [--quick] [--repeat K] [--only speed|rss|many|encodings]
#
#   speed      N=8  P=10M R=5                      median round vs floor (target: <= 1.5 x floor)
#                                                  and vs the co-located bound (bound_s)
#   rss        N=2, 8, 32  P=10M R=3, 1 and 2      aggregator peak RSS (target: <= 4 x model + 64 MiB)
#              upload slots                        (each staging slot holds one model)
#   many       N=100 P=1M R=3                      every round completes, commits per participant
#   encodings  N=8  P=10M R=5, bfloat16 / float16  transport encodings against float32
#
# --quick divides P by 10 (a smoke run). --repeat K runs each configuration K times (the table
# shows every run; docs/performance.md reports medians and ranges). Builds cairn-bench and
# cairn-aggregator first when they are missing or stale. Exit status: 0 when every run finished
# (targets missed are reported, not failures), 1 otherwise.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build
quick=0
repeat=1
only=""
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) build=$2; shift 2 ;;
    --quick) quick=1; shift ;;
    --repeat) repeat=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
done
case "$build" in /*) ;; *) build=$(pwd)/$build ;; esac

if [ ! -f "$build/build.ninja" ] && [ ! -f "$build/Makefile" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release
fi
cmake --build "$build" --target cairn-bench cairn-aggregator -- -j2 >/dev/null
bench=$build/bin/cairn-bench
out=$build/bench
mkdir -p "$out"

p10m=10000000
p1m=1000000
if [ "$quick" = 1 ]; then p10m=1000000; p1m=100000; fi

status=0
# run SET ARGS...: one cairn-bench run per repetition, JSON appended to $out/SET.jsonl.
run() {
  local set=$1; shift
  local k
  for ((k = 1; k <= repeat; k++)); do
    echo "[$(date +%H:%M:%S)] load $(cut -d' ' -f1 /proc/loadavg)  cairn-bench $*" >&2
    if ! "$bench" --json "$@" >> "$out/$set.jsonl"; then
      echo "bench.sh: cairn-bench $* failed" >&2
      status=1
    fi
  done
}

stamp=$(date +%Y%m%d-%H%M%S)
echo "writing JSON lines to $out/ (this run: *-$stamp.jsonl)" >&2
files=()
want() { [ -z "$only" ] || [ "$only" = "$1" ]; }
if want speed; then
  run "speed-$stamp" --participants 8 --params "$p10m" --rounds 5
  files+=("$out/speed-$stamp.jsonl")
fi
if want rss; then
  for slots in 1 2; do
    for n in 2 8 32; do run "rss-$stamp" --participants "$n" --params "$p10m" --rounds 3 --slots "$slots"; done
  done
  files+=("$out/rss-$stamp.jsonl")
fi
if want many; then
  run "many-$stamp" --participants 100 --params "$p1m" --rounds 3
  files+=("$out/many-$stamp.jsonl")
fi
if want encodings; then
  for e in float32 bfloat16 float16; do
    run "encodings-$stamp" --participants 8 --params "$p10m" --rounds 5 --encoding "$e"
  done
  files+=("$out/encodings-$stamp.jsonl")
fi

existing=()
for f in "${files[@]}"; do [ -s "$f" ] && existing+=("$f"); done
if [ "${#existing[@]}" -gt 0 ]; then
  echo
  "$bench" --table "${existing[@]}"
fi
exit "$status"
