// The real workload: local data (CSV or Fashion-MNIST partition) and the libtorch trainer.
// Data is loaded and checked at Create (so a malformed file fails before anything connects);
// the model is built at Prepare, from the attested federation config.
#pragma once

#include <memory>

#include "participant/config.h"
#include "participant/data/dataset.h"
#include "participant/workload.h"

namespace cairn::participant {

struct LoadedData {
  data::Dataset train;
  data::Dataset eval;  // the local held-out set (or the configured eval file)
};

// Loads the training data and the held-out set as the [data] table says, unstandardized (the
// attested federation config decides how features are standardized: Workload::Prepare).
Result<LoadedData> LoadLocalData(const DataConfig& config);

Result<std::unique_ptr<Workload>> MakeTorchWorkload(const ParticipantConfig& config);

}  // namespace cairn::participant
