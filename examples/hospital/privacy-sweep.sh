#!/usr/bin/env bash
# Runs the hospital federation at several privacy budgets (δ = 1e-5) and prints test accuracy
# against ε: one real federation (aggregator + three hospitals on loopback) per budget.
#
#   examples/hospital/privacy-sweep.sh [--epsilons "inf 8 2"] [--rounds 20] [--seeds 3]
#                                      [--bin-dir build/bin] [--work-dir DIR]
#
# With --seeds S each budget runs S times (the enclave's noise differs each run: it comes from
# the CSPRNG, not from a seed) and the table gives the mean, minimum and maximum accuracy.
# The last line is "privacy: eps=inf acc=0.xxxx; eps=8 acc=0.xxxx; ..." (means).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bin_dir=$root/build/bin
work=$root/build/examples/hospital/privacy-sweep
epsilons="inf 8 2"
rounds=20
seeds=3
while [ $# -gt 0 ]; do
  case "$1" in
    --epsilons) epsilons=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --seeds) seeds=$2; shift 2 ;;
    --bin-dir) bin_dir=$2; shift 2 ;;
    --work-dir) work=$2; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "privacy-sweep.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
done
case "$seeds" in ''|*[!0-9]*|0) echo "privacy-sweep.sh: --seeds must be a positive integer" >&2; exit 2 ;; esac
mkdir -p "$work"

printf '%-8s %-8s %-10s %-8s %-8s %-8s %s\n' epsilon z spent mean min max runs
summary="privacy:"
for eps in $epsilons; do
  accs=()
  z="-"; spent="-"
  for s in $(seq 1 "$seeds"); do
    dir=$work/eps-$eps-run-$s
    out=$("$root/examples/hospital/run.sh" --rounds "$rounds" --epsilon "$eps" --work-dir "$dir" \
            --bin-dir "$bin_dir" 2>"$dir.stderr") || {
      echo "privacy-sweep.sh: the run at epsilon=$eps failed; see $dir.stderr and $dir" >&2
      exit 1
    }
    acc=$(printf '%s\n' "$out" | sed -n 's/^final accuracy: \([0-9.]*\).*/\1/p')
    [ -n "$acc" ] || { echo "privacy-sweep.sh: no final accuracy in the run at epsilon=$eps" >&2; exit 1; }
    accs+=("$acc")
    if [ "$eps" != inf ]; then
      z=$(sed -n 's/^noise_multiplier = //p' "$dir/federation.toml" | awk '{ printf "%.3f", $1 }')
      spent=$("$bin_dir/cairn-aggregator" report --state-dir "$dir/aggregator-state" --json | tail -n 1 |
                sed -n 's/.*"epsilon":\([0-9.eE+-]*\).*/\1/p')
    fi
  done
  stats=$(printf '%s\n' "${accs[@]}" | awk '{ s += $1; if (NR == 1 || $1 < lo) lo = $1; if (NR == 1 || $1 > hi) hi = $1 }
                                              END { printf "%.4f %.4f %.4f", s / NR, lo, hi }')
  read -r mean lo hi <<< "$stats"
  printf '%-8s %-8s %-10s %-8s %-8s %-8s %s\n' "$eps" "$z" "$(printf %.4f "$spent" 2>/dev/null || echo "$spent")" "$mean" "$lo" "$hi" "$seeds"
  summary="$summary eps=$eps acc=$mean;"
done
echo "${summary%;}"
