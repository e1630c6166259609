#!/usr/bin/env bash
# Runs the clean-room example on loopback: three banks' generated transaction tables, the queries
# of examples/clean-room/federation.toml executed by the aggregator (sim platform) over the banks'
# partials, then the DP answers beside the exact pooled ones, ending with the line
# "analytics: N queries, max relative error X".
#
#   examples/clean-room/run.sh [--seed 7] [--work-dir DIR] [--bin-dir build/bin] [--in-process]
#
# --in-process skips the aggregator and participants and runs the same queries inside
# cairn-cleanroom-gen (no attestation, no network, no enclave): a development reference.
#
# Interface with the binaries (docs/analytics.md):
#   cairn-aggregator run --config federation.toml   runs the configured [[queries]], writes
#       STATE_DIR/analytics.json and STATE_DIR/analytics.csv and prints the results table
#   cairn-participant run --config bank-N.toml      answers each query its [analytics] policy
#       allows from its [analytics] table file
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
source "$root/examples/lib/aggregator.sh"
bin_dir=$root/build/bin
work=$root/build/examples/clean-room/run
seed=7
in_process=0
while [ $# -gt 0 ]; do
  case "$1" in
    --seed) seed=$2; shift 2 ;;
    --work-dir) work=$2; shift 2 ;;
    --bin-dir) bin_dir=$2; shift 2 ;;
    --in-process) in_process=1; shift ;;
    -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
done

[ -d "$bin_dir" ] || { echo "run.sh: no binaries folder '$bin_dir' (build first, or pass --bin-dir)" >&2; exit 2; }
bin_dir=$(cd "$bin_dir" && pwd)
rm -rf "$work"
mkdir -p "$work/keys"
work=$(cd "$work" && pwd)
cd "$work"
template=$root/examples/clean-room/federation.toml

if [ "$in_process" = 1 ]; then
  "$bin_dir/cairn-cleanroom-gen" --out-dir data --seed "$seed" --config "$template" --simulate analytics.json
  echo
  exec "$bin_dir/cairn-cleanroom-gen" --evaluate analytics.json --truth data/truth.json
fi

# Data and ground truth (exact answers of the configured queries on the pooled tables).
"$bin_dir/cairn-cleanroom-gen" --out-dir data --seed "$seed" --config "$template" >/dev/null

# Keys, the federation config (template + roster + [server]), policies, participant configs.
for n in 1 2 3; do
  "$bin_dir/cairn-participant" keygen --out "keys/bank-$n.key" >/dev/null
done
key_of() { sed -n 's/^public //p' "keys/$1.key"; }
sim_pub=$("$bin_dir/cairn-aggregator" sim-keygen --out sim-platform.key | sed -n 's/^platform_key = "\(.*\)"/\1/p')

cp "$template" federation.toml
for n in 1 2 3; do
  cat >> federation.toml <<TOML

[[participants]]
id = "bank-$n"
curve_key = "$(key_of "bank-$n")"
TOML
done
cat >> federation.toml <<TOML

[server]
listen = "tcp://127.0.0.1:0"
state_dir = "$work/aggregator-state"
sim_platform_key = "$work/sim-platform.key"
TOML

cat > policy.toml <<TOML
# DEVELOPMENT ONLY: accepts the software sim platform, which protects nothing.
platforms = ["sim"]

[sim]
platform_key = "$sim_pub"

[federation]
min_cohort = 3
max_epsilon = 4.0
TOML

for n in 1 2 3; do
  cat > "bank-$n.toml" <<TOML
id = "bank-$n"
aggregator = "tcp://127.0.0.1:7700"   # the script passes the real port with --aggregator
key_file = "keys/bank-$n.key"
policy = "policy.toml"
state_dir = "state-bank-$n"

# This bank's own analytics policy (never shared): what the federation may compute on its table.
[analytics]
table = "data/bank-$n.csv"
allowed_columns = ["merchant_category", "amount", "country", "channel", "is_fraud"]
allowed_kinds = ["count", "mean", "variance", "histogram", "quantiles"]
max_epsilon_per_query = 1.0
min_rows_at_least = 50
min_parties_at_least = 2
TOML
done

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
  "$bin_dir/cairn-participant" run --config "bank-$n.toml" --aggregator "$endpoint" \
      > "bank-$n.stdout" 2> "bank-$n.log" &
  pids+=("$!")
done
status=0
for p in "${pids[@]:1}"; do wait "$p" || status=1; done
# A bank that failed (e.g. refused the attestation) never joins: do not wait for the aggregator's
# start timeout, stop it.
if [ "$status" -ne 0 ]; then kill "$agg" 2>/dev/null || true; fi
wait "$agg" || status=1
pids=()
if [ "$status" -ne 0 ]; then
  echo "run.sh: a process failed; logs in $work" >&2
  for f in aggregator.log bank-1.log bank-2.log bank-3.log; do
    echo "--- $f" >&2
    tail -n 5 "$f" >&2
  done
  exit 1
fi
exec 3<&-

# The aggregator's results table, then the comparison with the exact answers.
cat aggregator.stdout
echo
"$bin_dir/cairn-cleanroom-gen" --evaluate aggregator-state/analytics.json --truth data/truth.json
