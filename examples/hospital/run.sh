#!/usr/bin/env bash
# Runs the hospital federation on loopback: one aggregator (sim platform) and three hospitals,
# then prints a table per round, the centralized baseline trained on the pooled data in the same
# run, and a last line "final accuracy: 0.xxxx (centralized 0.xxxx)".
#
#   examples/hospital/run.sh [--rounds 20] [--epsilon inf|E] [--work-dir DIR] [--bin-dir build/bin]
#                            [--encoding float32|bfloat16|float16]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
source "$root/examples/lib/aggregator.sh"
bin_dir=$root/build/bin
work=$root/build/examples/hospital/run
rounds=20
epsilon=inf
encoding=float32
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --epsilon) epsilon=$2; shift 2 ;;
    --work-dir) work=$2; shift 2 ;;
    --bin-dir) bin_dir=$2; shift 2 ;;
    --encoding) encoding=$2; shift 2 ;;
    -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
done

work=$("$root/examples/hospital/make-federation.sh" --work-dir "$work" --rounds "$rounds" --epsilon "$epsilon" \
         --bin-dir "$bin_dir" --encoding "$encoding")
cd "$work"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# Blocks on the aggregator's "ready" line (examples/lib/aggregator.sh).
aggregator_start run.sh "$bin_dir/cairn-aggregator" run --config federation.toml --attestation sim || exit 1
agg=$AGGREGATOR_PID
pids+=("$agg")
endpoint=$AGGREGATOR_ENDPOINT
echo "aggregator ready at $endpoint (sim platform: NOT confidential, development only)"

for n in 1 2 3; do
  "$bin_dir/cairn-participant" run --config "hospital-$n.toml" --aggregator "$endpoint" \
      > "hospital-$n.stdout" 2> "hospital-$n.log" &
  pids+=("$!")
done
status=0
for p in "${pids[@]:1}"; do wait "$p" || status=1; done
wait "$agg" || status=1
pids=()
if [ "$status" -ne 0 ]; then
  echo "run.sh: a process failed; logs in $work" >&2
  for f in aggregator.log hospital-1.log hospital-2.log hospital-3.log; do
    echo "--- $f" >&2
    tail -n 5 "$f" >&2
  done
  exit 1
fi

"$bin_dir/cairn-aggregator" report --state-dir aggregator-state
central=$("$bin_dir/cairn-participant" train-central --federation federation.toml \
            --train data/pooled.csv --test data/test.csv --json)
central_acc=$(printf '%s\n' "$central" | sed -n 's/.*"test_accuracy":\([0-9.]*\).*/\1/p')
final_acc=$("$bin_dir/cairn-aggregator" report --state-dir aggregator-state --json | tail -n 1 |
              sed -n 's/.*"eval_accuracy":\([0-9.]*\).*/\1/p')
printf 'final accuracy: %.4f (centralized %.4f)\n' "$final_acc" "$central_acc"
