// Data preparation behind `cairn-data` (tools/): splitting public data sets into per-site files
// for the examples. Deterministic for a seed.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "common/core/error.h"

namespace cairn::data {

// The CSV files bundled with scikit-learn (breast_cancer.csv, wine_data.csv, iris.csv): the first
// line is "n_samples,n_features,class_name_0,class_name_1,...", not column names; each following
// line holds n_features numbers and an integer target (class index). Fields are kept verbatim.
struct SklearnTable {
  std::vector<std::string> class_names;
  std::int64_t num_features = 0;
  std::vector<std::vector<std::string>> features;  // per row, n_features numeric fields as written
  std::vector<std::int64_t> labels;                // per row, in [0, class_names.size())
};
// Bounded to 64 MiB; errors name file, line and column.
Result<SklearnTable> ReadSklearnCsv(const std::filesystem::path& path);

// scikit-learn's names of the 30 breast-cancer features ("mean radius", ..., "worst fractal
// dimension"), in column order.
const std::vector<std::string>& BreastCancerFeatureNames();

struct FileSummary {
  std::filesystem::path path;
  std::vector<std::int64_t> class_counts;  // rows per class
};
struct SplitSummary {
  std::vector<std::string> class_names;
  std::vector<FileSummary> files;
};

struct SklearnSplitOptions {
  std::filesystem::path input;    // sklearn CSV (see above)
  std::filesystem::path out_dir;  // created if missing
  int sites = 3;
  std::uint64_t seed = 1;
  // Stratified hold-out written to test.csv.
  double test_fraction = 0.2;
  // LabelSkewSplit's dominant fraction for the site files.
  double dominant_fraction = 0.8;
  // Header names: "sklearn" (the breast-cancer names; only for that 30-feature file), "index"
  // (f0, f1, ...) or "auto" (sklearn names when the file is the breast-cancer set).
  std::string feature_names = "auto";
};
// Writes site-1.csv .. site-K.csv (label skew over the training rows), test.csv (held out) and
// pooled.csv (all training rows: the union of the sites, for the centralized baseline). Each has
// a header row of feature names and "label" (the integer class index; for breast cancer
// 0 = malignant, 1 = benign as in scikit-learn). Rows keep the input's order within a file.
Result<SplitSummary> SplitSklearnCsv(const SklearnSplitOptions& options);

struct FashionMnistSplitOptions {
  std::filesystem::path data_dir;  // holds train-labels-idx1-ubyte (uncompressed)
  std::filesystem::path out_dir;   // created if missing
  int participants = 10;
  std::string split = "iid";       // "iid" or "dirichlet"
  double alpha = 0.5;              // Dirichlet concentration (split = "dirichlet")
  std::uint64_t seed = 1;
  std::int64_t min_per_participant = 10;  // Dirichlet redraws until every participant has this many
};
// Writes participant-1.txt .. participant-N.txt: index files (idx.h) into the training set.
Result<SplitSummary> SplitFashionMnist(const FashionMnistSplitOptions& options);

}  // namespace cairn::data
