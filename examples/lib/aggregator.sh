# Starting cairn-aggregator for the examples' run scripts (sourced by examples/hospital/run.sh,
# examples/clean-room/run.sh and examples/fashion-mnist/lib.sh; not a command).

# aggregator_start WHO COMMAND [ARG...]: runs COMMAND (`.../cairn-aggregator run ...`) in the
# background from the current folder, its stdout into the FIFO aggregator.out and its stderr into
# aggregator.log, and blocks on the first stdout line: the "ready" line the aggregator prints once
# it serves ("cairn-aggregator: ready attestation=tcp://... control=... data=..."). The wait is a
# read on the FIFO (at most 120 s), never a sleep. The rest of its stdout goes on into
# aggregator.stdout, copied by a background cat from descriptor 3 of the calling shell (which
# stays open: close it with `exec 3<&-` once the aggregator is done). Sets
#   AGGREGATOR_PID       the aggregator's process id (the caller waits for it, or kills it)
#   AGGREGATOR_ENDPOINT  its attestation endpoint, tcp://127.0.0.1:PORT, from the ready line
# Without a ready line (the aggregator exited, or 120 s passed) it prints "WHO: the aggregator did
# not become ready; its log:" and the log's last 20 lines on stderr, stops the aggregator and
# returns 1.
aggregator_start() {
  local who=$1 ready
  shift
  mkfifo aggregator.out || return 1
  "$@" > aggregator.out 2> aggregator.log &
  AGGREGATOR_PID=$!
  exec 3< aggregator.out
  if ! read -r -t 120 ready <&3; then
    echo "$who: the aggregator did not become ready; its log:" >&2
    tail -n 20 aggregator.log >&2
    kill "$AGGREGATOR_PID" 2>/dev/null || true
    return 1
  fi
  cat <&3 > aggregator.stdout &
  # shellcheck disable=SC2034 # read by the caller
  AGGREGATOR_ENDPOINT=$(printf '%s\n' "$ready" | sed -n 's/.*attestation=\([^ ]*\).*/\1/p')
}
