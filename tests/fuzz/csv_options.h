// The option sets fuzz_csv chooses from with its first input byte (shared with make_seeds.cc,
// which checks its CSV seeds with the same options).
#pragma once

#include <cstdint>

#include "participant/data/csv.h"

namespace cairn::fuzz {

inline data::CsvOptions CsvOptionsFor(std::uint8_t selector) {
  data::CsvOptions o;
  switch (selector % 6) {
    case 0: break;  // defaults: "label", every other column, classes inferred
    case 1: o.class_names = {"benign", "malignant"}; break;
    case 2: o.feature_columns = {"b", "a"}; break;
    case 3: o.num_classes = 3; break;
    case 4: o.label_column = "y"; o.max_rows = 4; o.max_columns = 4; break;
    case 5: o.class_names = {"0", "1", "2"}; o.max_file_bytes = 256; break;
  }
  return o;
}

}  // namespace cairn::fuzz
