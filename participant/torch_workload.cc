#include "participant/torch_workload.h"

#include <algorithm>

#include "participant/data/csv.h"
#include "participant/data/idx.h"
#include "participant/data/split.h"
#include "participant/data/standardizer.h"
#include "participant/trainer/trainer.h"

namespace cairn::participant {

Result<LoadedData> LoadLocalData(const DataConfig& c) {
  LoadedData out;
  if (c.train.empty()) return Fail(ErrorCode::kInvalidArgument, "[data] train is not set");
  if (c.format == "fashion-mnist") {
    if (c.fashion_mnist_dir.empty()) {
      return Fail(ErrorCode::kInvalidArgument, "[data] fashion_mnist_dir is not set");
    }
    data::IdxOptions io;
    io.normalize = true;
    auto labels = data::LoadIdxLabels(data::FashionMnistLabels(c.fashion_mnist_dir, data::FashionMnistPart::kTrain));
    if (!labels) return Fail(labels.error());
    CAIRN_ASSIGN_OR_RETURN(io.indices, data::ReadIndexFile(c.train, static_cast<std::int64_t>(labels->size())));
    CAIRN_ASSIGN_OR_RETURN(out.train, data::LoadFashionMnist(c.fashion_mnist_dir, data::FashionMnistPart::kTrain, io));
    data::IdxOptions eo;
    eo.normalize = true;
    if (!c.eval.empty()) {
      auto test_labels = data::LoadIdxLabels(data::FashionMnistLabels(c.fashion_mnist_dir, data::FashionMnistPart::kTest));
      if (!test_labels) return Fail(test_labels.error());
      CAIRN_ASSIGN_OR_RETURN(eo.indices, data::ReadIndexFile(c.eval, static_cast<std::int64_t>(test_labels->size())));
    }
    CAIRN_ASSIGN_OR_RETURN(out.eval, data::LoadFashionMnist(c.fashion_mnist_dir, data::FashionMnistPart::kTest, eo));
    return out;
  }
  data::CsvOptions co;
  co.label_column = c.label_column;
  CAIRN_ASSIGN_OR_RETURN(data::Dataset all, data::LoadCsv(c.train, co));
  if (!c.eval.empty()) {
    out.train = std::move(all);
    CAIRN_ASSIGN_OR_RETURN(out.eval, data::LoadCsv(c.eval, co));
    if (out.eval.feature_names != out.train.feature_names) {
      return Fail(ErrorCode::kInvalidArgument, c.eval.string() + " has other columns than " + c.train.string());
    }
  } else if (c.holdout_fraction > 0) {
    CAIRN_ASSIGN_OR_RETURN(auto split, data::TrainTestSplit(all.labels, all.num_classes, c.holdout_fraction, c.seed));
    CAIRN_ASSIGN_OR_RETURN(out.train, data::Subset(all, split.train));
    CAIRN_ASSIGN_OR_RETURN(out.eval, data::Subset(all, split.test));
  } else {
    out.train = std::move(all);
  }
  return out;
}

namespace {

class TorchWorkload final : public Workload {
 public:
  TorchWorkload(ParticipantConfig config, LoadedData data) : config_(std::move(config)), data_(std::move(data)) {
    // Federated standardization: the moments of the raw training data, computed once before
    // anything transforms it, so every request for them (again after an aggregator restart in
    // round 1) gets the same answer whatever has been applied since.
    if (config_.data.format == "csv") {
      if (auto m = data::ComputeMoments(data_.train)) raw_moments_ = std::move(*m);
    }
  }

  Status Prepare(const protocol::FederationConfig& federation) override {
    model::ModelConfig mc = federation.model;
    if (mc.kind == "torchscript") {
      // The attested config pins the file's SHA-256; the participant uses its own copy.
      if (config_.torchscript.empty()) {
        return Fail(ErrorCode::kInvalidArgument,
                    "the federation trains a TorchScript model: set 'torchscript' in the participant config "
                    "to the local copy of the model file (SHA-256 " + mc.torchscript_sha256 + ")");
      }
      mc.torchscript_path = config_.torchscript;
      mc.layout_path.clear();
    }
    mc.initial_parameters_path.clear();
    // Labels must fit the model's classes (a site may hold only some classes).
    for (auto* d : {&data_.train, &data_.eval}) {
      if (d->rows == 0) continue;
      auto max_label = *std::max_element(d->labels.begin(), d->labels.end());
      if (max_label >= mc.classes) {
        // No label value in the message (a class is a fact about the rows).
        return Fail(ErrorCode::kInvalidArgument, "the local data has a label outside the federation's model's " +
                                                     std::to_string(mc.classes) + " classes (0.." +
                                                     std::to_string(mc.classes - 1) + ")");
      }
      d->num_classes = mc.classes;
    }
    tabular_ = config_.data.format == "csv";
    standardization_ = federation.standardization;
    if (tabular_ && standardization_ == "site" && !site_standardized_) {
      // Each site's own statistics, which never leave it; fitted once, on the raw data (Prepare
      // runs again on every new session).
      CAIRN_ASSIGN_OR_RETURN(auto standardizer, data::Standardizer::Fit(data_.train));
      CAIRN_RETURN_IF_ERROR(standardizer.Apply(data_.train));
      if (data_.eval.rows > 0) CAIRN_RETURN_IF_ERROR(standardizer.Apply(data_.eval));
      site_standardized_ = true;
    }
    trainer::TrainerOptions to;
    to.model = mc;
    to.threads = static_cast<int>(config_.threads);
    CAIRN_ASSIGN_OR_RETURN(trainer_, trainer::Trainer::Create(to));
    return Ok();
  }

  std::size_t num_params() const override { return trainer_ ? trainer_->num_params() : 0; }

  std::optional<protocol::FeatureStats> FeatureMoments() const override {
    if (!tabular_ || standardization_ != "federated" || !raw_moments_) return std::nullopt;
    protocol::FeatureStats s;
    s.count = static_cast<std::uint64_t>(raw_moments_->count);
    s.sum = raw_moments_->sum;
    s.sum_squares = raw_moments_->sum_sq;
    return s;
  }

  Status SetFeatureStandardization(const std::vector<double>& mean, const std::vector<double>& stddev) override {
    if (mean.empty() && stddev.empty()) {
      if (tabular_ && standardization_ == "federated") {
        return Fail(ErrorCode::kFailedPrecondition, "the round carries no pooled feature statistics");
      }
      return Ok();
    }
    if (applied_ && mean == applied_->mean() && stddev == applied_->stddev()) return Ok();
    CAIRN_ASSIGN_OR_RETURN(auto standardizer, data::Standardizer::FromStatistics(mean, stddev));
    if (static_cast<std::int64_t>(mean.size()) != data::FeatureSize(data_.train)) {
      // Refused before anything changes: the standardization applied so far stays.
      return Fail(ErrorCode::kInvalidArgument, "the pooled feature statistics have " + std::to_string(mean.size()) +
                                                   " features; the local data has " +
                                                   std::to_string(data::FeatureSize(data_.train)));
    }
    // Always applied to the raw values: the pooled statistics can change (an aggregator that
    // restarts before its round-1 checkpoint pools the sites' moments again), and applying new
    // ones on top of old ones would compound them. The first time, the raw features are kept
    // (tabular data only; an inverse transform would not restore them exactly in float32).
    if (!raw_features_) {
      raw_features_ = RawFeatures{data_.train.features, data_.eval.features};
    } else {
      data_.train.features = raw_features_->train;
      data_.eval.features = raw_features_->eval;
    }
    applied_.reset();
    auto applied = standardizer.Apply(data_.train);
    if (applied && data_.eval.rows > 0) applied = standardizer.Apply(data_.eval);
    if (!applied) {
      data_.train.features = raw_features_->train;
      data_.eval.features = raw_features_->eval;
      return applied;
    }
    applied_ = std::move(standardizer);
    return Ok();
  }

  Result<LocalResult> Train(std::span<const float> global, const protocol::Task& task,
                            std::span<float> delta) override {
    CAIRN_RETURN_IF_ERROR(SetFeatureStandardization(task.feature_mean, task.feature_std));
    CAIRN_RETURN_IF_ERROR(trainer_->SetParameters(global));
    trainer::TrainTask t;
    t.local_epochs = static_cast<int>(task.local_epochs);
    t.batch_size = task.batch_size;
    t.learning_rate = task.learning_rate;
    t.optimizer = task.optimizer;
    t.momentum = task.momentum;
    t.proximal_mu = task.proximal_mu;
    t.seed = task.seed ^ std::hash<std::string>{}(config_.id);
    CAIRN_ASSIGN_OR_RETURN(auto stats, trainer_->Train(data_.train, t));
    CAIRN_RETURN_IF_ERROR(trainer_->GetParameters(delta));
    for (std::size_t i = 0; i < delta.size(); ++i) delta[i] -= global[i];
    LocalResult r;
    r.num_examples = static_cast<std::uint64_t>(stats.examples);
    r.metrics.push_back({"train_loss", stats.mean_loss});
    return r;
  }

  Result<std::vector<protocol::Metric>> Evaluate(std::span<const float> global) override {
    if (data_.eval.rows == 0) return std::vector<protocol::Metric>{};
    if (tabular_ && standardization_ == "federated" && !applied_) return std::vector<protocol::Metric>{};
    CAIRN_RETURN_IF_ERROR(trainer_->SetParameters(global));
    CAIRN_ASSIGN_OR_RETURN(auto e, trainer_->Evaluate(data_.eval));
    return std::vector<protocol::Metric>{{"loss", e.loss}, {"accuracy", e.accuracy},
                                         {"examples", static_cast<double>(e.examples)}};
  }

 private:
  ParticipantConfig config_;
  LoadedData data_;
  std::unique_ptr<trainer::Trainer> trainer_;
  bool tabular_ = false;
  std::string standardization_ = "site";
  bool site_standardized_ = false;
  std::optional<data::FeatureMoments> raw_moments_;  // of the raw training data (csv only)
  std::optional<data::Standardizer> applied_;  // the pooled standardization applied to data_
  // The features before the pooled standardization (kept once it is first applied).
  struct RawFeatures {
    std::vector<float> train;
    std::vector<float> eval;
  };
  std::optional<RawFeatures> raw_features_;
};

}  // namespace

Result<std::unique_ptr<Workload>> MakeTorchWorkload(const ParticipantConfig& config) {
  CAIRN_ASSIGN_OR_RETURN(LoadedData data, LoadLocalData(config.data));
  return std::unique_ptr<Workload>(new TorchWorkload(config, std::move(data)));
}

}  // namespace cairn::participant
