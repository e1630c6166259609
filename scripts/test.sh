#!/usr/bin/env bash
# Sets up if needed, builds, runs every test with ctest and prints ctest's summary.
#   scripts/test.sh                 # everything
#   scripts/test.sh -L faults       # extra arguments go to ctest
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
ctest --test-dir build --output-on-failure -j "$(nproc)" "$@"
