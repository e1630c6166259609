#!/usr/bin/env bash
# Learning quality on Fashion-MNIST (issue 5): 10 participants train the built-in CNN with FedAvg,
# FedProx and FedAdam on an IID and a Dirichlet(0.5) label-skew split, plus the centralized
# baseline, all through the real binaries on loopback (one cairn-aggregator on the sim platform
# and one cairn-participant process per participant). Writes the table into docs/results.md
# (between the "fashion-mnist-learning" markers) and docs/results/fashion-mnist.json.
#
#   examples/fashion-mnist/run.sh [--rounds 30] [--local-epochs 1] [--channels "8, 16"]
#       [--lr 0.05] [--batch 32] [--fedprox-mu 0.01] [--fedadam-eta 0.01] [--fedadam-tau 0.001]
#       [--splits "iid dirichlet"] [--strategies "fedavg fedprox fedadam"] [--no-central]
#       [--work-dir build/examples/fashion-mnist] [--bin-dir build/bin]
#       [--data-dir build/datasets/fashion-mnist] [--no-docs]
#
# Centralized baseline: a federation of ONE participant that holds all 60,000 training images,
# one local epoch per round, ROUNDS x LOCAL_EPOCHS rounds, FedAvg with eta = 1. The local
# optimizer is plain SGD (momentum 0), which keeps no state between steps, so this is exactly
# minibatch SGD over the pooled data for that many epochs (the new global model is the local
# model: w + (w_local - w)), evaluated on all 10,000 test images after every epoch. Its "rounds"
# are epochs.
#
# Each federated participant evaluates every new global model on its own 1,000-image slice of
# the test set; the slices are disjoint and cover the 10,000 images, so the example-weighted
# accuracy of `cairn-aggregator report` is the accuracy on the whole test set.
#
# --no-docs prints the table without touching docs/ (for shorter development runs).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
source "$root/examples/fashion-mnist/lib.sh"
bin_dir=$root/build/bin
work=$root/build/examples/fashion-mnist
data_dir=$root/build/datasets/fashion-mnist
rounds=30
epochs=1
channels="8, 16"
lr=0.05
batch=32
mu=0.01
adam_eta=0.01
adam_tau=0.001
splits="iid dirichlet"
strategies="fedavg fedprox fedadam"
central=1
docs=1
args=("$@")
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --local-epochs) epochs=$2; shift 2 ;;
    --channels) channels=$2; shift 2 ;;
    --lr) lr=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --fedprox-mu) mu=$2; shift 2 ;;
    --fedadam-eta) adam_eta=$2; shift 2 ;;
    --fedadam-tau) adam_tau=$2; shift 2 ;;
    --splits) splits=$2; shift 2 ;;
    --strategies) strategies=$2; shift 2 ;;
    --no-central) central=0; shift ;;
    --work-dir) work=$2; shift 2 ;;
    --bin-dir) bin_dir=$2; shift 2 ;;
    --data-dir) data_dir=$2; shift 2 ;;
    --no-docs) docs=0; shift ;;
    -h|--help) sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
done
participants=10
fm_start "$participants" "$channels" "$epochs" "$lr" "$batch"

params_of() {
  case "$1" in
    fedavg) ;;
    fedprox) echo "mu=$mu" ;;
    fedadam) echo "eta=$adam_eta beta1=0.9 beta2=0.99 tau=$adam_tau" ;;
    *) echo "run.sh: no parameters chosen for strategy '$1'" >&2; exit 2 ;;
  esac
}

rows=()  # "split strategy params rounds accuracy rounds_to_80 seconds"
run_one() {
  local split=$1 strategy=$2 n=$3 r=$4 params=$5
  local run="$work/runs/$split-$strategy"
  echo "run.sh: $split / $strategy ($n participant(s), $r rounds${params:+, $params}) ..." >&2
  # shellcheck disable=SC2086
  fm_configure "$run" "$work" "$data_dir" "fmnist-$split-$strategy" "$split" "$n" "$r" "$strategy" $params
  fm_run "$run" "$n" "$bin_dir"
  local s
  s=$(fm_summary "$run")
  echo "run.sh:   rounds, accuracy, rounds to 80 %: $s; $(cat "$run/seconds") s" >&2
  rows+=("$split|$strategy|${params:--}|$s|$(cat "$run/seconds")")
}

for split in $splits; do
  for strategy in $strategies; do
    run_one "$split" "$strategy" "$participants" "$rounds" "$(params_of "$strategy")"
  done
done
if [ "$central" = 1 ]; then
  # One participant with all the data: FM_LOCAL_EPOCHS = 1, ROUNDS x LOCAL_EPOCHS rounds (epochs).
  FM_LOCAL_EPOCHS=1
  run_one pooled fedavg 1 $(( rounds * epochs )) ""
  FM_LOCAL_EPOCHS=$epochs
fi
elapsed=$(( $(date +%s) - started ))
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# Outputs: markdown table, JSON list, target checks.
table=$(mktemp)
json=$(mktemp)
trap 'rm -f "$table" "$json"' EXIT
central_acc=""
for row in "${rows[@]}"; do
  IFS='|' read -r split strategy params summary seconds <<< "$row"
  read -r r acc r80 <<< "$summary"
  if [ "$split" = pooled ]; then central_acc=$acc; fi
done
{
  echo "| split | strategy | parameters | rounds | test accuracy | rounds to 80 % | wall time |"
  echo "|---|---|---|---:|---:|---:|---:|"
  for row in "${rows[@]}"; do
    IFS='|' read -r split strategy params summary seconds <<< "$row"
    read -r r acc r80 <<< "$summary"
    name=$strategy
    shown_split=$split
    if [ "$split" = pooled ]; then name="centralized"; shown_split="pooled (1 participant)"; r="$r epochs"; fi
    if [ "$r80" = null ]; then r80="not reached"; fi
    printf '| %s | %s | %s | %s | %.2f %% | %s | %d min %02d s |\n' "$shown_split" "$name" "${params//=/ = }" \
        "$r" "$(awk -v a="$acc" 'BEGIN { print a * 100 }')" "$r80" $(( seconds / 60 )) $(( seconds % 60 ))
  done
} > "$table"
{
  echo "["
  first=1
  for row in "${rows[@]}"; do
    IFS='|' read -r split strategy params summary seconds <<< "$row"
    read -r r acc r80 <<< "$summary"
    if [ "$split" = pooled ]; then strategy=centralized; fi
    [ $first = 1 ] || echo ","
    first=0
    printf '  {"split": "%s", "strategy": "%s", "rounds": %s, "accuracy": %s, "rounds_to_80": %s}' \
        "$split" "$strategy" "$r" "$acc" "$r80"
  done
  echo
  echo "]"
} > "$json"

checks=""
if [ -n "$central_acc" ]; then
  for row in "${rows[@]}"; do
    IFS='|' read -r split strategy params summary seconds <<< "$row"
    read -r r acc r80 <<< "$summary"
    if [ "$split" = iid ] && [ "$strategy" = fedavg ]; then
      checks+=$(awk -v a="$acc" -v c="$central_acc" 'BEGIN { d = (a - c) * 100;
        printf "- FedAvg on IID: %+.2f points against centralized (target: within 2): %s\n", d, (d >= -2 ? "met" : "MISSED") }')
      checks+=$'\n'
    fi
  done
  best=$(for row in "${rows[@]}"; do
           IFS='|' read -r split strategy params summary seconds <<< "$row"
           read -r r acc r80 <<< "$summary"
           if [ "$split" = dirichlet ]; then echo "$acc $strategy"; fi
         done | sort -rn | head -n 1)
  if [ -n "$best" ]; then
    read -r best_acc best_name <<< "$best"
    checks+=$(awk -v a="$best_acc" -v c="$central_acc" -v s="$best_name" 'BEGIN { d = (a - c) * 100;
      printf "- Best on Dirichlet(0.5) (%s): %+.2f points against centralized (target: within 5): %s\n", s, d, (d >= -5 ? "met" : "MISSED") }')
    checks+=$'\n'
  fi
fi

section=$(mktemp)
{
  echo
  command_line="examples/fashion-mnist/run.sh"
  [ ${#args[@]} -eq 0 ] || command_line+=$(printf ' %q' "${args[@]}")
  echo "Command: \`$command_line\`"
  echo
  echo "Settings: CNN channels [$channels] (classes 10), local SGD (momentum 0) with learning rate $lr, batch $batch," \
       "$epochs local epoch(s) per round, $rounds rounds, 10 participants, seed $FM_SEED; Dirichlet alpha $FM_ALPHA."
  echo
  cat "$table"
  echo
  printf '%s' "$checks"
  echo
  echo "Total wall time $(( elapsed / 60 )) min $(( elapsed % 60 )) s on $(nproc) cores" \
       "(load average before: $load_before; after: $load_after), $(date -u +%Y-%m-%d)."
  echo
} > "$section"

cat "$section"
if [ "$docs" = 1 ]; then
  fm_replace_section "$root/docs/results.md" fashion-mnist-learning "$section"
  mkdir -p "$root/docs/results"
  cp "$json" "$root/docs/results/fashion-mnist.json"
  echo "run.sh: wrote docs/results.md and docs/results/fashion-mnist.json" >&2
fi
rm -f "$section"
