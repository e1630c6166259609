// Summary table of cairn-bench JSON lines (scripts/bench.sh prints it after the standard set).
#pragma once

#include <string>
#include <vector>

#include "common/core/error.h"

namespace cairn::bench {

// One row per JSON line of the files (lines that are not JSON objects are errors naming file and
// line): N, P, encoding, round median, floor, ratio, co-located bound ("-" in lines written
// before it was measured), GB/s, aggregator peak RSS against the
// 4 x model + 64 MiB limit, rounds completed and commits per participant.
Result<std::string> SummaryTable(const std::vector<std::string>& files);

}  // namespace cairn::bench
