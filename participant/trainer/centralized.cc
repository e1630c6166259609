// The centralized baseline, on the Trainer API (no torch include here).
#include "participant/trainer/trainer.h"

namespace cairn::trainer {

Result<CentralizedResult> TrainCentralized(const TrainerOptions& options, const TrainTask& task, int epochs,
                                           const data::Dataset& train, const data::Dataset& test,
                                           std::span<const float> initial) {
  if (epochs < 1) return Fail(ErrorCode::kInvalidArgument, "centralized training needs at least 1 epoch");
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<Trainer> trainer, Trainer::Create(options));
  if (!initial.empty()) CAIRN_RETURN_IF_ERROR(trainer->SetParameters(initial));
  TrainTask t = task;
  t.local_epochs = epochs;
  t.proximal_mu = 0;  // nothing to stay close to: one model sees all the data
  CentralizedResult result;
  CAIRN_ASSIGN_OR_RETURN(result.train, trainer->Train(train, t));
  CAIRN_ASSIGN_OR_RETURN(result.test, trainer->Evaluate(test));
  return result;
}

}  // namespace cairn::trainer
