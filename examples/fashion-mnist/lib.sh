# Shared functions of the Fashion-MNIST example (sourced by run.sh and run-poisoning.sh; not a
# command). Everything runs through the real binaries on loopback: one cairn-aggregator (sim
# platform: NOT confidential, development only) and one cairn-participant process per
# participant, each training with one libtorch thread.
#
# Layout of a work folder (fm_setup):
#   WORK/splits/iid/participant-K.txt        IID split of the 60,000 training images (seeded)
#   WORK/splits/dirichlet/participant-K.txt  Dirichlet(alpha) label skew (seeded)
#   WORK/splits/pooled/participant-1.txt     all 60,000 rows (the centralized baseline)
#   WORK/splits/test/slice-K.txt             test rows (K-1)*1000 .. K*1000-1 (participant K's eval set)
#   WORK/splits/test/all.txt                 all 10,000 test rows
#   WORK/keys/participant-K.key              Curve key pairs (cairn-participant keygen)
#   WORK/sim-platform.key                    the sim platform key
# and one folder per federation run (fm_configure + fm_run):
#   RUN/federation.toml RUN/policy.toml RUN/participant-K.toml RUN/aggregator-state/ RUN/*.log
#   RUN/report.jsonl   `cairn-aggregator report --json` (one line per round)
#   RUN/seconds        wall-clock seconds of the run (aggregator start to exit)

# aggregator_start: the aggregator's start and its "ready" line, shared with the other examples.
# shellcheck source=SCRIPTDIR/../lib/aggregator.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/aggregator.sh"

# Settings (the caller may change them before fm_configure):
FM_MODEL_CHANNELS=${FM_MODEL_CHANNELS:-"16, 32"}  # the built-in CNN's two convolutions
FM_LOCAL_EPOCHS=${FM_LOCAL_EPOCHS:-1}
FM_BATCH=${FM_BATCH:-32}
FM_LR=${FM_LR:-0.05}
FM_MOMENTUM=${FM_MOMENTUM:-0}
FM_SEED=${FM_SEED:-1}              # split seed, task seed base, init seed
FM_ALPHA=${FM_ALPHA:-0.5}          # Dirichlet concentration
FM_ROUND_TIMEOUT_S=${FM_ROUND_TIMEOUT_S:-900}

fm_die() { echo "fashion-mnist: $*" >&2; exit 1; }

# fm_setup WORK BIN_DIR DATA_DIR PARTICIPANTS: data splits, test slices, keys (idempotent).
fm_setup() {
  local work=$1 bin=$2 data=$3 n=$4
  for b in cairn-aggregator cairn-participant cairn-data; do
    [ -x "$bin/$b" ] || fm_die "$bin/$b not found: build first (cmake --build build)"
  done
  if [ ! -s "$data/t10k-labels-idx1-ubyte" ]; then
    # As scripts/setup.sh does: Debian's dataset-fashion-mnist, gunzipped.
    [ -s /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz ] ||
      fm_die "$data has no Fashion-MNIST and Debian's dataset-fashion-mnist is not installed (scripts/setup.sh)"
    mkdir -p "$data"
    for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
      gunzip -c "/usr/share/datasets/fashion-mnist/$f.gz" > "$data/$f"
    done
  fi
  mkdir -p "$work/splits/iid" "$work/splits/dirichlet" "$work/splits/pooled" "$work/splits/test" "$work/keys"
  if [ ! -s "$work/splits/iid/participant-$n.txt" ]; then
    "$bin/cairn-data" split-fashion-mnist --data-dir "$data" --out-dir "$work/splits/iid" \
        --participants "$n" --split iid --seed "$FM_SEED" > "$work/splits/iid/summary.tsv"
  fi
  if [ ! -s "$work/splits/dirichlet/participant-$n.txt" ]; then
    "$bin/cairn-data" split-fashion-mnist --data-dir "$data" --out-dir "$work/splits/dirichlet" \
        --participants "$n" --split dirichlet --alpha "$FM_ALPHA" --seed "$FM_SEED" > "$work/splits/dirichlet/summary.tsv"
  fi
  { echo "# all 60000 training rows (centralized baseline)"; seq 0 59999; } > "$work/splits/pooled/participant-1.txt"
  { echo "# all 10000 test rows"; seq 0 9999; } > "$work/splits/test/all.txt"
  local k
  for k in $(seq 1 "$n"); do
    { echo "# test rows $(( (k - 1) * 1000 ))..$(( k * 1000 - 1 ))"; seq $(( (k - 1) * 1000 )) $(( k * 1000 - 1 )); } \
        > "$work/splits/test/slice-$k.txt"
    [ -s "$work/keys/participant-$k.key" ] ||
      "$bin/cairn-participant" keygen --out "$work/keys/participant-$k.key" > /dev/null
  done
  [ -s "$work/sim-platform.key" ] ||
    "$bin/cairn-aggregator" sim-keygen --out "$work/sim-platform.key" > "$work/sim-platform.pub"
}

# fm_start PARTICIPANTS CHANNELS LOCAL_EPOCHS LR BATCH: the start run.sh and run-poisoning.sh share
# once their options are parsed. Sets FM_MODEL_CHANNELS, FM_LOCAL_EPOCHS, FM_LR, FM_BATCH and
# FM_MOMENTUM (0); makes the caller's folders `work` and `data_dir` (created when missing) and
# `bin_dir` absolute; sets `started` (seconds since the epoch) and `load_before` (the load
# averages) for the caller's report; and prepares WORK for PARTICIPANTS participants (fm_setup).
fm_start() {
  local n=$1
  FM_MODEL_CHANNELS=$2
  FM_LOCAL_EPOCHS=$3
  FM_LR=$4
  FM_BATCH=$5
  FM_MOMENTUM=0
  mkdir -p "$work" "$data_dir"
  work=$(cd "$work" && pwd)
  data_dir=$(cd "$data_dir" && pwd)
  [ -d "$bin_dir" ] || fm_die "no folder $bin_dir: build first (cmake --build build)"
  bin_dir=$(cd "$bin_dir" && pwd)
  # shellcheck disable=SC2034 # read by the caller
  started=$(date +%s)
  # shellcheck disable=SC2034 # read by the caller
  load_before=$(cut -d' ' -f1-3 /proc/loadavg)
  fm_setup "$work" "$bin_dir" "$data_dir" "$n"
}

# fm_configure RUN WORK DATA_DIR ID SPLIT PARTICIPANTS ROUNDS STRATEGY [KEY=VALUE ...]
# SPLIT is iid, dirichlet or pooled (PARTICIPANTS = 1, evaluated on all 10,000 test images).
# Writes a fresh RUN folder; each participant K evaluates on test slice K (1,000 images), so the
# example-weighted accuracy `report` prints is the accuracy on the whole test set.
fm_configure() {
  local run=$1 work=$2 data=$3 id=$4 split=$5 n=$6 rounds=$7 strategy=$8
  shift 8
  rm -rf "$run"
  mkdir -p "$run"
  run=$(cd "$run" && pwd)
  local sim_pub k params=""
  sim_pub=$(sed -n 's/^platform_key = "\(.*\)"/\1/p' "$work/sim-platform.pub")
  [ $# -eq 0 ] || params=$'[strategy.params]\n'
  for kv in "$@"; do params+="${kv%%=*} = ${kv#*=}"$'\n'; done
  cat > "$run/federation.toml" <<TOML
# Fashion-MNIST ($split split, $n participants): generated by examples/fashion-mnist/lib.sh.
[federation]
id = "$id"
rounds = $rounds
min_participants = $n
round_timeout_s = $FM_ROUND_TIMEOUT_S
start_timeout_s = 300
cohort_wait_s = 60
eval_timeout_s = 120
standardization = "none"

[model]
kind = "cnn"
input_shape = [1, 28, 28]
channels = [$FM_MODEL_CHANNELS]
classes = 10

[task]
local_epochs = $FM_LOCAL_EPOCHS
batch_size = $FM_BATCH
learning_rate = $FM_LR
optimizer = "sgd"
momentum = $FM_MOMENTUM
seed = $FM_SEED

[strategy]
name = "$strategy"

$params
TOML
  for k in $(seq 1 "$n"); do
    cat >> "$run/federation.toml" <<TOML
[[participants]]
id = "participant-$k"
curve_key = "$(sed -n 's/^public //p' "$work/keys/participant-$k.key")"

TOML
  done
  cat >> "$run/federation.toml" <<TOML
[server]
listen = "tcp://127.0.0.1:0"
state_dir = "$run/aggregator-state"
sim_platform_key = "$work/sim-platform.key"
init_seed = $FM_SEED
TOML
  cat > "$run/policy.toml" <<TOML
# DEVELOPMENT ONLY: accepts the software sim platform, which protects nothing.
platforms = ["sim"]

[sim]
platform_key = "$sim_pub"
TOML
  local eval
  for k in $(seq 1 "$n"); do
    if [ "$split" = pooled ]; then eval="$work/splits/test/all.txt"; else eval="$work/splits/test/slice-$k.txt"; fi
    cat > "$run/participant-$k.toml" <<TOML
id = "participant-$k"
aggregator = "tcp://127.0.0.1:7700"   # run passes the real port with --aggregator
key_file = "$work/keys/participant-$k.key"
policy = "policy.toml"
state_dir = "state-participant-$k"
threads = 1

[data]
format = "fashion-mnist"
fashion_mnist_dir = "$data"
train = "$work/splits/$split/participant-$k.txt"
eval = "$eval"
TOML
  done
}

# fm_run RUN PARTICIPANTS BIN_DIR [ATTACK_SPEC ATTACKERS]: runs the configured federation to its
# end; ATTACKERS is a space-separated list of participant numbers started with --attack SPEC.
# Writes RUN/report.jsonl and RUN/seconds. Fails (with the logs' tails) if a process fails, unless
# FM_ALLOW_FAILURE=1 and some rounds completed: then RUN/failed holds the aggregator's last error.
fm_run() {
  local run=$1 n=$2 bin=$3 attack=${4:-} attackers=${5:-}
  (
    cd "$run"
    pids=()
    cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
    trap cleanup EXIT
    start=$(date +%s)
    aggregator_start "fashion-mnist: $run" "$bin/cairn-aggregator" run --config federation.toml --attestation sim ||
      exit 1
    pids+=("$AGGREGATOR_PID")
    endpoint=$AGGREGATOR_ENDPOINT
    for k in $(seq 1 "$n"); do
      extra=()
      case " $attackers " in *" $k "*) extra=(--attack "$attack") ;; esac
      "$bin/cairn-participant" run --config "participant-$k.toml" --aggregator "$endpoint" "${extra[@]}" \
          > "participant-$k.stdout" 2> "participant-$k.log" &
      pids+=("$!")
    done
    status=0
    for p in "${pids[@]:1}"; do wait "$p" || status=1; done
    wait "${pids[0]}" || status=1
    pids=()
    echo $(( $(date +%s) - start )) > seconds
    if [ "$status" -ne 0 ]; then
      echo "fashion-mnist: a process of $run failed; logs in $run" >&2
      for f in aggregator.log participant-*.log; do
        echo "--- $f" >&2
        tail -n 5 "$f" >&2
      done
      if [ "${FM_ALLOW_FAILURE:-0}" != 1 ] || [ ! -s aggregator-state/results.jsonl ]; then exit 1; fi
      # Poisoning runs: a federation the attack stopped is a result; keep the rounds it completed.
      { grep -h "error" aggregator.log | tail -n 1; } > failed || echo "failed" > failed
    fi
    "$bin/cairn-aggregator" report --state-dir aggregator-state --json > report.jsonl
  )
}

# fm_summary RUN: prints "ROUNDS ACCURACY ROUNDS_TO_80" from RUN/report.jsonl: the number of
# completed rounds, the test accuracy after the last one, and the first round whose accuracy is
# at least 0.80 ("null" if none).
fm_summary() {
  awk '
    /"status":"completed"/ {
      r = $0; sub(/.*"round":/, "", r); sub(/[,}].*/, "", r)
      a = $0
      if (a !~ /"eval_accuracy":/) next
      sub(/.*"eval_accuracy":/, "", a); sub(/[,}].*/, "", a)
      rounds = r + 0; acc = a + 0
      if (first80 == "" && acc >= 0.80) first80 = r + 0
    }
    END {
      if (rounds == "") { print "0 null null"; exit }
      printf "%d %.4f %s\n", rounds, acc, (first80 == "" ? "null" : first80)
    }' "$1/report.jsonl"
}

# fm_replace_section FILE NAME CONTENT_FILE: replaces the lines between
# "<!-- BEGIN NAME -->" and "<!-- END NAME -->" in FILE (both markers must exist).
fm_replace_section() {
  local file=$1 name=$2 content=$3
  grep -q "^<!-- BEGIN $name -->" "$file" && grep -q "^<!-- END $name -->" "$file" ||
    fm_die "$file has no '<!-- BEGIN $name -->' / '<!-- END $name -->' markers"
  awk -v name="$name" -v content="$content" '
    $0 == "<!-- BEGIN " name " -->" { print; while ((getline line < content) > 0) print line; skip = 1; next }
    $0 == "<!-- END " name " -->" { skip = 0 }
    !skip { print }' "$file" > "$file.tmp"
  mv "$file.tmp" "$file"
}

# fm_cpu_minutes FILE: FILE holds the output of the `times` builtin run in the calling shell
# (`times > FILE`: no subshell, so it counts every finished child: aggregator, participants,
# tools); prints the children's user + system CPU time in minutes. On an otherwise idle machine
# with C cores a run's wall time is at least CPU / C.
fm_cpu_minutes() {
  tail -n 1 "$1" | awk '{
    total = 0
    for (i = 1; i <= 2; ++i) { split($i, p, "m"); sub(/s$/, "", p[2]); total += p[1] * 60 + p[2] }
    printf "%.1f\n", total / 60 }'
}
