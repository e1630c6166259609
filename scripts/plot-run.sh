#!/usr/bin/env bash
# Renders a run's evaluation accuracy, training and evaluation loss, and privacy loss ε per round
# to a PNG with gnuplot, from the state folder's results.jsonl and evaluations.jsonl (read through
# `cairn-aggregator report --json`, so the numbers are the ones the report table shows).
#
#   scripts/plot-run.sh STATE_DIR [OUT.png] [--bin-dir DIR] [--title TEXT]
#
# OUT.png defaults to STATE_DIR/run.png. The aggregator binary is taken from --bin-dir, else
# $CAIRN_BIN_DIR, else build/bin. Needs gnuplot (Debian: gnuplot-nox); uses the pngcairo terminal
# when gnuplot has it, else png. Rounds that did not complete (failed quorum, aborted) show as
# gaps in the accuracy and loss panels and are marked on the ε panel.
# Example:
#   scripts/plot-run.sh build/examples/hospital/run/aggregator-state /tmp/hospital.png
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin_dir=${CAIRN_BIN_DIR:-$root/build/bin}
state_dir=""
out=""
title=""
while [ $# -gt 0 ]; do
  case "$1" in
    --bin-dir) bin_dir=$2; shift 2 ;;
    --title) title=$2; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "plot-run.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
    *)
      if [ -z "$state_dir" ]; then state_dir=$1
      elif [ -z "$out" ]; then out=$1
      else echo "plot-run.sh: too many arguments (try --help)" >&2; exit 2
      fi
      shift ;;
  esac
done
[ -n "$state_dir" ] || { echo "plot-run.sh: STATE_DIR is required (try --help)" >&2; exit 2; }
[ -d "$state_dir" ] || { echo "plot-run.sh: $state_dir is not a folder" >&2; exit 2; }
[ -n "$out" ] || out=$state_dir/run.png
command -v gnuplot >/dev/null || { echo "plot-run.sh: gnuplot not found (Debian: apt-get install gnuplot-nox)" >&2; exit 1; }
[ -x "$bin_dir/cairn-aggregator" ] || { echo "plot-run.sh: $bin_dir/cairn-aggregator not found (use --bin-dir)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$bin_dir/cairn-aggregator" report --state-dir "$state_dir" --json > "$work/report.jsonl"

# One flat JSON object per line ({"round":1,"status":"completed",...}): pull the fields with awk
# into a whitespace-separated table; a missing value becomes NaN (gnuplot leaves a gap).
awk '
  function field(line, key,   m) {
    if (match(line, "\"" key "\":[^,}]*")) {
      m = substr(line, RSTART + length(key) + 3, RLENGTH - length(key) - 3)
      gsub(/"/, "", m)
      return m
    }
    return "NaN"
  }
  /^\{/ {
    status = field($0, "status")
    printf "%s %s %s %s %s %d\n", field($0, "round"), field($0, "eval_accuracy"), field($0, "train_loss"),
           field($0, "eval_loss"), field($0, "epsilon"), (status == "completed") ? 1 : 0
  }' "$work/report.jsonl" > "$work/data.txt"

rows=$(wc -l < "$work/data.txt")
[ "$rows" -gt 0 ] || { echo "plot-run.sh: $state_dir/results.jsonl holds no round" >&2; exit 1; }
# Which series have at least one value (gnuplot refuses to plot an all-NaN column).
have() { awk -v c="$1" '$c != "NaN" { n++ } END { exit !(n > 0) }' "$work/data.txt"; }

terminal="png size 900,900"
if gnuplot -e 'set terminal' 2>&1 | grep -q pngcairo; then
  terminal="pngcairo size 900,900 font 'sans,10'"
fi
[ -n "$title" ] || title="Cairn run: $(basename "$(cd "$state_dir" && pwd)") ($rows rounds)"

{
  echo "set terminal $terminal"
  echo "set output '$out'"
  echo "set multiplot layout 3,1 title \"$title\""
  echo "set grid"
  echo "set xlabel 'round'"
  echo "set key bottom right"
  echo "set xrange [0.5:$rows+0.5]"
  # Integer rounds on the x axis: one tick per round up to 25 rounds, then gnuplot's choice.
  echo "set format x '%.0f'"
  if [ "$rows" -le 25 ]; then echo "set xtics 1"; fi
  echo "set ylabel 'accuracy'"
  if have 2; then
    echo "plot '$work/data.txt' using 1:(\$2) with linespoints pt 7 ps 0.6 title 'evaluation accuracy'"
  else
    echo "set label 1 'no evaluation reports' at graph 0.5,0.5 center"
    echo "plot 2 notitle"
    echo "unset label 1"
  fi
  echo "set ylabel 'loss'"
  echo "set key top right"
  plots=()
  have 3 && plots+=("'$work/data.txt' using 1:(\$3) with linespoints pt 7 ps 0.6 title 'training loss (mean)'")
  have 4 && plots+=("'$work/data.txt' using 1:(\$4) with linespoints pt 5 ps 0.6 title 'evaluation loss'")
  if [ ${#plots[@]} -gt 0 ]; then
    (IFS=,; echo "plot ${plots[*]}")
  else
    echo "set label 1 'no loss reported' at graph 0.5,0.5 center"
    echo "plot 2 notitle"
    echo "unset label 1"
  fi
  echo "set ylabel 'epsilon spent'"
  echo "set key top left"
  echo "set yrange [0:*]"
  echo "plot '$work/data.txt' using 1:5 with linespoints lw 2 pt 7 ps 0.6 title 'epsilon after the round (signed)', \\"
  echo "     '$work/data.txt' using 1:(\$6 == 0 ? \$5 : 1/0) with points pt 2 ps 1.2 title 'round not completed'"
  echo "unset multiplot"
} > "$work/plot.gp"

gnuplot "$work/plot.gp"
echo "$out"
