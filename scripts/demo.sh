#!/usr/bin/env bash
# Sets up if needed, then runs the hospital example: an aggregator (sim platform) and three
# hospitals on loopback for 20 rounds; prints a table per round, the centralized baseline, and
# "final accuracy: 0.xxxx (centralized 0.xxxx)".
#   scripts/demo.sh [--rounds N] [--epsilon E]     (options go to examples/hospital/run.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
# The demo needs three binaries: build those first (scripts/test.sh builds everything).
CAIRN_BUILD_TARGETS="cairn-aggregator cairn-participant cairn-data" scripts/setup.sh
exec examples/hospital/run.sh "$@"
