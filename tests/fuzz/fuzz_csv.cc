// fuzz_csv: data::ParseCsv (a participant's local training data) on arbitrary text, under one of
// several option sets chosen by the first input byte (label column, fixed class names, feature
// subset, class count, small row/column bounds).
//
// Properties beyond "no crash": an accepted data set has consistent shapes, finite features and
// labels in [0, num_classes), and respects the row and column bounds.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "participant/data/csv.h"
#include "tests/fuzz/csv_options.h"
#include "tests/fuzz/fuzz_util.h"

using namespace cairn;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const data::CsvOptions options = fuzz::CsvOptionsFor(data[0]);
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  auto ds = data::ParseCsv(text, "fuzz.csv", options);
  if (!ds) return 0;
  fuzz::FuzzCheck(ds->num_classes > 0, "accepted data set without classes");
  fuzz::FuzzCheck(ds->rows >= 0 && ds->rows <= options.max_rows, "row bound not enforced");
  fuzz::FuzzCheck(static_cast<std::int64_t>(ds->feature_names.size()) < options.max_columns,
                  "column bound not enforced");
  fuzz::FuzzCheck(static_cast<std::int64_t>(ds->features.size()) == ds->rows * data::FeatureSize(*ds),
                  "feature matrix size does not match rows x features");
  fuzz::FuzzCheck(static_cast<std::int64_t>(ds->labels.size()) == ds->rows, "not one label per row");
  for (float f : ds->features) fuzz::FuzzCheck(std::isfinite(f), "non-finite feature accepted");
  for (auto l : ds->labels) fuzz::FuzzCheck(l >= 0 && l < ds->num_classes, "label outside [0, num_classes)");
  fuzz::FuzzCheck(data::ValidateDataset(*ds).has_value(), "ParseCsv returned a data set ValidateDataset refuses");
  return 0;
}
