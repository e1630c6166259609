#!/usr/bin/env bash
# Poisoning on Fashion-MNIST (issue 5): the example of run.sh (IID split, 10 participants, the
# built-in CNN) with 2 of the 10 participants started with `cairn-participant run --attack SPEC`
# (RESEARCH ONLY: they train honestly, then send a rewritten update; participant/attack_workload.h).
# For every attack (and without one) it runs FedAvg, coordinate-wise median, trimmed mean
# (beta = 0.2) and Krum (f = 2) and writes the test accuracy after the last round into
# docs/results.md (between the "fashion-mnist-poisoning" markers).
#
#   examples/fashion-mnist/run-poisoning.sh [--rounds 10] [--attacks "none scale:10 sign-flip:5"]
#       [--attackers "9 10"] [--strategies "fedavg median trimmed-mean krum"] [--channels "8, 16"]
#       [--lr 0.05] [--batch 32] [--work-dir build/examples/fashion-mnist]
#       [--bin-dir build/bin] [--data-dir build/datasets/fashion-mnist] [--no-docs]
#
# Attacks: scale:K multiplies the update by K; sign-flip:K multiplies it by -K (sign-flip:5 is
# the "x -5" attack); noise:S replaces it with N(0, S^2) noise. "none" runs without attackers.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
source "$root/examples/fashion-mnist/lib.sh"
bin_dir=$root/build/bin
work=$root/build/examples/fashion-mnist
data_dir=$root/build/datasets/fashion-mnist
rounds=10
attacks="none scale:10 sign-flip:5"
attackers="9 10"
strategies="fedavg median trimmed-mean krum"
channels="8, 16"
lr=0.05
batch=32
docs=1
args=("$@")
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --attacks) attacks=$2; shift 2 ;;
    --attackers) attackers=$2; shift 2 ;;
    --strategies) strategies=$2; shift 2 ;;
    --channels) channels=$2; shift 2 ;;
    --lr) lr=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --work-dir) work=$2; shift 2 ;;
    --bin-dir) bin_dir=$2; shift 2 ;;
    --data-dir) data_dir=$2; shift 2 ;;
    --no-docs) docs=0; shift ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run-poisoning.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
done
participants=10
fm_start "$participants" "$channels" 1 "$lr" "$batch"

params_of() {
  case "$1" in
    fedavg|median) ;;
    trimmed-mean) echo "beta=0.2" ;;
    krum) echo "f=2" ;;
    *) echo "run-poisoning.sh: no parameters chosen for strategy '$1'" >&2; exit 2 ;;
  esac
}

declare -A accuracy seconds_of completed
export FM_ALLOW_FAILURE=1
for attack in $attacks; do
  for strategy in $strategies; do
    tag=${attack//:/}
    run="$work/runs/poison-$tag-$strategy"
    params=$(params_of "$strategy")
    echo "run-poisoning.sh: attack $attack / $strategy ($rounds rounds) ..." >&2
    # shellcheck disable=SC2086
    fm_configure "$run" "$work" "$data_dir" "fmnist-poison-$tag-$strategy" iid "$participants" "$rounds" "$strategy" $params
    if [ "$attack" = none ]; then
      fm_run "$run" "$participants" "$bin_dir"
    else
      fm_run "$run" "$participants" "$bin_dir" "$attack" "$attackers"
    fi
    read -r r acc r80 <<< "$(fm_summary "$run")"
    accuracy[$attack,$strategy]=$acc
    completed[$attack,$strategy]=$r
    seconds_of[$attack,$strategy]=$(cat "$run/seconds")
    echo "run-poisoning.sh:   accuracy after $r rounds: $acc; ${seconds_of[$attack,$strategy]} s" >&2
  done
done
elapsed=$(( $(date +%s) - started ))
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
times_file=$(mktemp)
times > "$times_file"
cpu_minutes=$(fm_cpu_minutes "$times_file")
rm -f "$times_file"

section=$(mktemp)
trap 'rm -f "$section"' EXIT
stopped=""
label_of() {
  case "$1" in
    none) echo "no attack" ;;
    scale:*) echo "x ${1#scale:}" ;;
    sign-flip) echo "sign flip (x -1)" ;;
    sign-flip:*) echo "sign flip x ${1#sign-flip:} (x -${1#sign-flip:})" ;;
    noise:*) echo "Gaussian noise, stddev ${1#noise:}" ;;
    *) echo "$1" ;;
  esac
}
{
  echo
  command_line="examples/fashion-mnist/run-poisoning.sh"
  [ ${#args[@]} -eq 0 ] || command_line+=$(printf ' %q' "${args[@]}")
  echo "Command: \`$command_line\`"
  echo
  echo "Settings: IID split, 10 participants of which participants ${attackers// / and } attack" \
       "(\`--attack SPEC\`), CNN channels [$channels], local SGD (momentum 0) learning rate $lr, batch $batch," \
       "1 local epoch, $rounds rounds. Test accuracy on the 10,000 test images after round $rounds:"
  echo
  header="| updates sent by the 2 attackers |"
  rule="|---|"
  for strategy in $strategies; do
    p=$(params_of "$strategy")
    header+=" $strategy${p:+ (${p//=/ = })} |"
    rule+="---:|"
  done
  echo "$header"
  echo "$rule"
  for attack in $attacks; do
    line="| $(label_of "$attack") |"
    for strategy in $strategies; do
      cell=$(awk -v a="${accuracy[$attack,$strategy]}" 'BEGIN { printf "%.2f %%", a * 100 }')
      if [ "${completed[$attack,$strategy]}" != "$rounds" ]; then
        cell+=" (stopped after round ${completed[$attack,$strategy]}, see below)"
        stopped+="- $(label_of "$attack") / $strategy: $(cat "$work/runs/poison-${attack//:/}-$strategy/failed")"$'\n'
      fi
      line+=" $cell |"
    done
    echo "$line"
  done
  if [ -n "$stopped" ]; then
    echo
    echo "Federations the attack stopped (the aggregator's last error):"
    printf '%s' "$stopped"
  fi
  echo
  echo "Total wall time $(( elapsed / 60 )) min $(( elapsed % 60 )) s on $(nproc) shared cores" \
       "(load average before: $load_before; after: $load_after), $(date -u +%Y-%m-%d);" \
       "CPU time of all processes $cpu_minutes min."
  echo
} > "$section"

cat "$section"
if [ "$docs" = 1 ]; then
  fm_replace_section "$root/docs/results.md" fashion-mnist-poisoning "$section"
  echo "run-poisoning.sh: wrote docs/results.md" >&2
fi
