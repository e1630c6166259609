#!/usr/bin/env bash
# Prepares the hospital example's data from scikit-learn's breast-cancer set (569 patients,
# 30 features, label 0 = malignant, 1 = benign), deterministically for a seed:
#
#   site-1.csv .. site-3.csv  the three hospitals' training data, with label skew: 80 % of each
#                             class goes to its "home" hospitals (1 and 3 for malignant, 2 for
#                             benign), the rest is spread over all three
#   test.csv                  a stratified 20 % held out from every hospital, for global accuracy
#   pooled.csv                all training rows together, for the centralized baseline
#
# Each CSV has a header row (scikit-learn's feature names, then "label"); values are copied
# verbatim from the source file. With seed 42: site-1 79 malignant / 19 benign, site-2 11 / 248,
# site-3 80 / 19, test 42 / 71, pooled 170 / 286.
#
#   examples/hospital/prepare-data.sh [--bin-dir build/bin] [--out-dir build/examples/hospital/data]
#                                     [--input build/datasets/breast_cancer.csv] [--seed 42] [--sites 3]
#
# Needs cairn-data (built into the bin folder) and the data set (scripts/setup.sh fetches it).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bin_dir=$root/build/bin
out_dir=$root/build/examples/hospital/data
input=$root/build/datasets/breast_cancer.csv
seed=42
sites=3
while [ $# -gt 0 ]; do
  case "$1" in
    --bin-dir) bin_dir=$2; shift 2 ;;
    --out-dir) out_dir=$2; shift 2 ;;
    --input) input=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --sites) sites=$2; shift 2 ;;
    -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "prepare-data.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
done
if [ ! -x "$bin_dir/cairn-data" ]; then
  echo "prepare-data.sh: $bin_dir/cairn-data not found: build first (scripts/setup.sh)" >&2
  exit 1
fi
if [ ! -s "$input" ]; then
  echo "prepare-data.sh: $input not found: run scripts/setup.sh, which fetches the data set" >&2
  exit 1
fi
"$bin_dir/cairn-data" split-breast-cancer --input "$input" --out-dir "$out_dir" --sites "$sites" --seed "$seed"
