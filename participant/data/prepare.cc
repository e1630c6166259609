#include "participant/data/prepare.h"

#include <charconv>

#include "common/core/file.h"
#include "common/model/rng.h"
#include "participant/data/csv.h"
#include "participant/data/dataset.h"
#include "participant/data/idx.h"
#include "participant/data/split.h"

namespace cairn::data {
namespace {

constexpr std::int64_t kMaxSklearnRows = 10'000'000;
constexpr std::int64_t kMaxSklearnFeatures = 10'000;

Result<std::int64_t> ParseCount(std::string_view s, std::string_view what, const std::string& where) {
  std::int64_t v = -1;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size() || v < 0) {
    return Fail(ErrorCode::kInvalidArgument, where + ": " + std::string(what) + " must be a non-negative integer, found '" +
                                                 std::string(s.substr(0, 40)) + "'");
  }
  return v;
}

Status Mkdir(const std::filesystem::path& dir) { return EnsureDirectory(dir, 0755); }

}  // namespace

const std::vector<std::string>& BreastCancerFeatureNames() {
  static const std::vector<std::string> kNames = {
      "mean radius", "mean texture", "mean perimeter", "mean area", "mean smoothness",
      "mean compactness", "mean concavity", "mean concave points", "mean symmetry",
      "mean fractal dimension", "radius error", "texture error", "perimeter error", "area error",
      "smoothness error", "compactness error", "concavity error", "concave points error",
      "symmetry error", "fractal dimension error", "worst radius", "worst texture",
      "worst perimeter", "worst area", "worst smoothness", "worst compactness", "worst concavity",
      "worst concave points", "worst symmetry", "worst fractal dimension"};
  return kNames;
}

Result<SklearnTable> ReadSklearnCsv(const std::filesystem::path& path) {
  CAIRN_ASSIGN_OR_RETURN(std::string text, ReadFileText(path, 64u << 20));
  const std::string src = path.string();
  SklearnTable t;
  std::int64_t expected_rows = 0;
  std::int64_t line_no = 0;
  std::size_t pos = 0;
  bool first = true;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    const std::string where = src + " line " + std::to_string(line_no);
    auto split = SplitCsvLine(line);
    if (!split) return Fail(std::move(split).error().Context(where));
    auto& fields = *split;
    if (first) {
      first = false;
      if (fields.size() < 4) {
        return Fail(ErrorCode::kInvalidArgument,
                    where + ": expected scikit-learn's first line 'n_samples,n_features,class_0,class_1,...'");
      }
      CAIRN_ASSIGN_OR_RETURN(expected_rows, ParseCount(fields[0], "column 1 (n_samples)", where));
      CAIRN_ASSIGN_OR_RETURN(t.num_features, ParseCount(fields[1], "column 2 (n_features)", where));
      if (expected_rows > kMaxSklearnRows || t.num_features < 1 || t.num_features > kMaxSklearnFeatures) {
        return Fail(ErrorCode::kOutOfRange, where + ": n_samples or n_features outside the supported range");
      }
      t.class_names.assign(fields.begin() + 2, fields.end());
      continue;
    }
    if (static_cast<std::int64_t>(fields.size()) != t.num_features + 1) {
      return Fail(ErrorCode::kInvalidArgument,
                  where + " column " + std::to_string(std::min<std::int64_t>(static_cast<std::int64_t>(fields.size()), t.num_features + 1) + 1) +
                      ": wrong column count: found " + std::to_string(fields.size()) + " fields, expected " +
                      std::to_string(t.num_features + 1) + " (features and target)");
    }
    if (static_cast<std::int64_t>(t.labels.size()) >= expected_rows) {
      return Fail(ErrorCode::kInvalidArgument, where + ": more rows than the " + std::to_string(expected_rows) +
                                                   " the first line announces");
    }
    for (std::int64_t c = 0; c < t.num_features; ++c) {
      auto v = ParseFloatField(fields[c]);
      if (!v) {
        return Fail(ErrorCode::kInvalidArgument,
                    where + " column " + std::to_string(c + 1) + ": " + v.error().message());
      }
    }
    const std::string target_where = where + " column " + std::to_string(t.num_features + 1) + " (target)";
    CAIRN_ASSIGN_OR_RETURN(std::int64_t label, ParseCount(fields.back(), "the class index", target_where));
    if (label >= static_cast<std::int64_t>(t.class_names.size())) {
      return Fail(ErrorCode::kInvalidArgument, target_where + ": class " + std::to_string(label) +
                                                   " but the first line names " +
                                                   std::to_string(t.class_names.size()) + " classes");
    }
    fields.pop_back();
    t.features.push_back(std::move(fields));
    t.labels.push_back(label);
  }
  if (first) return Fail(ErrorCode::kInvalidArgument, src + ": empty file");
  if (static_cast<std::int64_t>(t.labels.size()) != expected_rows) {
    return Fail(ErrorCode::kInvalidArgument, src + ": " + std::to_string(t.labels.size()) +
                                                 " data rows, but the first line announces " +
                                                 std::to_string(expected_rows));
  }
  if (t.labels.empty()) return Fail(ErrorCode::kInvalidArgument, src + ": no data rows");
  return t;
}

Result<SplitSummary> SplitSklearnCsv(const SklearnSplitOptions& o) {
  CAIRN_ASSIGN_OR_RETURN(SklearnTable t, ReadSklearnCsv(o.input));
  const bool is_breast_cancer = t.num_features == 30 && t.class_names == std::vector<std::string>{"malignant", "benign"};
  std::vector<std::string> header;
  if (o.feature_names == "sklearn" || (o.feature_names == "auto" && is_breast_cancer)) {
    if (!is_breast_cancer) {
      return Fail(ErrorCode::kInvalidArgument, o.input.string() +
                                                   ": scikit-learn feature names are known for the breast-cancer file only; "
                                                   "use --feature-names index");
    }
    header = BreastCancerFeatureNames();
  } else if (o.feature_names == "index" || o.feature_names == "auto") {
    for (std::int64_t i = 0; i < t.num_features; ++i) header.push_back("f" + std::to_string(i));
  } else {
    return Fail(ErrorCode::kInvalidArgument, "feature names must be auto, sklearn or index, not '" + o.feature_names + "'");
  }
  header.push_back("label");

  const auto num_classes = static_cast<std::int64_t>(t.class_names.size());
  CAIRN_ASSIGN_OR_RETURN(TrainTestIndices tt, TrainTestSplit(t.labels, num_classes, o.test_fraction, o.seed));
  std::vector<std::int64_t> train_labels;
  for (std::int64_t r : tt.train) train_labels.push_back(t.labels[r]);
  CAIRN_ASSIGN_OR_RETURN(Partition sites,
                         LabelSkewSplit(train_labels, num_classes, o.sites, o.dominant_fraction,
                                        model::DeterministicRng::DeriveSeed(o.seed, 1)));
  CAIRN_RETURN_IF_ERROR(Mkdir(o.out_dir));

  SplitSummary summary;
  summary.class_names = t.class_names;
  auto write = [&](const std::filesystem::path& name, const std::vector<std::int64_t>& rows) -> Status {
    std::vector<std::vector<std::string>> out;
    std::vector<std::int64_t> labels;
    out.reserve(rows.size());
    for (std::int64_t r : rows) {
      std::vector<std::string> fields = t.features[r];
      fields.push_back(std::to_string(t.labels[r]));
      out.push_back(std::move(fields));
      labels.push_back(t.labels[r]);
    }
    CAIRN_RETURN_IF_ERROR(WriteCsvFile(o.out_dir / name, header, out));
    summary.files.push_back({o.out_dir / name, LabelCounts(labels, num_classes)});
    return Ok();
  };
  for (std::size_t k = 0; k < sites.size(); ++k) {
    std::vector<std::int64_t> rows;
    for (std::int64_t i : sites[k]) rows.push_back(tt.train[i]);  // site indices are ascending, so rows are too
    if (rows.empty()) {
      return Fail(ErrorCode::kFailedPrecondition, "site " + std::to_string(k + 1) +
                                                      " would get no rows: use fewer sites or a smaller test fraction");
    }
    CAIRN_RETURN_IF_ERROR(write("site-" + std::to_string(k + 1) + ".csv", rows));
  }
  CAIRN_RETURN_IF_ERROR(write("test.csv", tt.test));
  CAIRN_RETURN_IF_ERROR(write("pooled.csv", tt.train));
  return summary;
}

Result<SplitSummary> SplitFashionMnist(const FashionMnistSplitOptions& o) {
  CAIRN_ASSIGN_OR_RETURN(std::vector<std::int64_t> labels,
                         LoadIdxLabels(FashionMnistLabels(o.data_dir, FashionMnistPart::kTrain)));
  constexpr std::int64_t kClasses = 10;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] >= kClasses) {
      return Fail(ErrorCode::kInvalidArgument, "Fashion-MNIST label " + std::to_string(labels[i]) + " at row " +
                                                   std::to_string(i) + " is not below 10");
    }
  }
  Partition p;
  std::string how;
  if (o.split == "iid") {
    CAIRN_ASSIGN_OR_RETURN(p, IidSplit(static_cast<std::int64_t>(labels.size()), o.participants, o.seed));
    how = "split=iid";
  } else if (o.split == "dirichlet") {
    CAIRN_ASSIGN_OR_RETURN(p, DirichletSplit(labels, kClasses, o.participants, o.alpha, o.seed, o.min_per_participant));
    how = "split=dirichlet alpha=" + std::to_string(o.alpha);
  } else {
    return Fail(ErrorCode::kInvalidArgument, "split must be iid or dirichlet, not '" + o.split + "'");
  }
  CAIRN_RETURN_IF_ERROR(Mkdir(o.out_dir));
  SplitSummary summary;
  summary.class_names = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};
  for (std::size_t k = 0; k < p.size(); ++k) {
    const auto path = o.out_dir / ("participant-" + std::to_string(k + 1) + ".txt");
    const std::string comment = "cairn partition of fashion-mnist train: participant " + std::to_string(k + 1) +
                                " of " + std::to_string(p.size()) + ", " + how + " seed=" + std::to_string(o.seed) +
                                ", " + std::to_string(p[k].size()) + " rows";
    CAIRN_RETURN_IF_ERROR(WriteIndexFile(path, p[k], comment));
    std::vector<std::int64_t> site_labels;
    for (std::int64_t r : p[k]) site_labels.push_back(labels[r]);
    summary.files.push_back({path, LabelCounts(site_labels, kClasses)});
  }
  return summary;
}

}  // namespace cairn::data
