// What the aggregator writes to its state folder:
//   results.jsonl       every signed round result, one JSON object per line (append, fsync)
//   evaluations.jsonl   evaluation reports of participants (metadata: loss, accuracy, counts), one
//                       {"participant", "model_version", "round", "metrics": {name: value}} a line
//   global.f32          the current global model, raw little-endian float32
//   global.pt           the same, as a file libtorch and PyTorch load (torch.save format)
//   checkpoint.sealed   the engine state, sealed under the platform's sealing key (issue 6)
//   analytics.json      a clean-room job's released answers (the signed bytes), and
//   analytics.csv       the same as a table
// Every file is written atomically (temporary file, fsync, rename) or appended with fsync.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "aggregator/round_engine.h"
#include "common/core/error.h"
#include "common/crypto/crypto.h"
#include "common/model/model_spec.h"
#include "protocol/types.h"

namespace cairn::aggregator {

class StateStore {
 public:
  // Creates the folder (mode 0700) if needed. `sealing_key` may be empty: then no checkpoint is
  // written (and a restart starts over, which the operator is told).
  static Result<std::unique_ptr<StateStore>> Open(const std::filesystem::path& dir,
                                                  model::ModelSpec spec,
                                                  crypto::SecretBytes sealing_key,
                                                  std::string federation_id,
                                                  crypto::Sha256Digest config_hash);
  virtual ~StateStore() = default;

  virtual Status AppendResult(const protocol::RoundResult& result);
  virtual Status AppendEvaluation(const std::string& participant, const protocol::EvalReport& report);
  virtual Status SaveModel(std::span<const float> model);
  virtual Status SaveCheckpoint(const EngineState& state);
  // analytics.json (exactly `results_json`, whose SHA-256 the signed result carries) and
  // analytics.csv (the same answers as a table).
  virtual Status SaveAnalytics(std::string_view results_json);
  // nullopt when no checkpoint exists; an error when one exists but cannot be opened (corrupt,
  // foreign, wrong key): never silently replaced by a fresh start.
  virtual Result<std::optional<EngineState>> LoadCheckpoint();
  // After a restore: whether results.jsonl lacks the checkpoint's head result (a crash or a
  // failed write came between the checkpoint and the log line). Then nobody was sent that result:
  // it leaves the enclave only after its log line. Refuses a log whose last result is later than
  // the checkpoint's head (the checkpoint is older than the log: a replay).
  Result<bool> HeadMissingFromResults(const EngineState& state);
  // Appends the head result to results.jsonl (the repair of the case above; the engine does it at
  // start, after re-signing a release it is going to deliver).
  Status AppendHeadResult(const EngineState& state);
  // The results of rounds [from, to] in results.jsonl, in round order, at most `max` (a returning
  // participant's catch-up; where a round has several lines, the last counts). Lines that do not
  // parse are skipped: the participant checks the chain and refuses what does not link.
  // The first call indexes the file (round → line offset) in one streaming pass; later calls
  // index only what was appended since and read just the lines they return, so a page costs the
  // same at round 10 and at round 100,000, and memory holds the index, not the file. Another file
  // in its place (another inode, a shorter file, or one whose last indexed line changed) is
  // indexed again from the start.
  Result<std::vector<protocol::RoundResult>> ReadResults(std::uint64_t from, std::uint64_t to, std::size_t max);

  const std::filesystem::path& dir() const { return dir_; }
  bool can_checkpoint() const { return !sealing_key_.empty(); }

 protected:
  StateStore(std::filesystem::path dir, model::ModelSpec spec, crypto::SecretBytes key,
             std::string federation_id, crypto::Sha256Digest config_hash)
      : dir_(std::move(dir)), spec_(std::move(spec)), sealing_key_(std::move(key)),
        federation_id_(std::move(federation_id)), config_hash_(config_hash) {}

 private:
  std::filesystem::path dir_;
  model::ModelSpec spec_;
  crypto::SecretBytes sealing_key_;
  std::string federation_id_;
  crypto::Sha256Digest config_hash_;

  // results.jsonl's index for ReadResults: the last complete line of each round.
  struct LineSpan {
    std::uint64_t offset = 0;
    std::uint32_t length = 0;
  };
  Status IndexResults(int fd, std::uint64_t size, std::uint64_t device, std::uint64_t inode);
  std::map<std::uint64_t, LineSpan> result_lines_;
  // Earlier lines of rounds logged more than once: read when the last one does not parse.
  std::multimap<std::uint64_t, LineSpan> earlier_result_lines_;
  std::uint64_t results_indexed_ = 0;  // bytes of the file indexed (up to the last newline)
  std::uint64_t results_device_ = 0;   // which file that was
  std::uint64_t results_inode_ = 0;
  // The last indexed line and its SHA-256: a file rewritten in place (same inode, not shorter)
  // no longer holds it there, and is indexed again.
  LineSpan last_indexed_line_;
  crypto::Sha256Digest last_indexed_digest_{};
};

// Serialization of EngineState (inside the sealed checkpoint). Versioned; Decode validates.
// The parts form: the bytes before the model, the model (a view of state.model), the bytes
// after it, so a checkpoint can stream the model without copying it.
struct EncodedEngineState {
  Bytes head;
  ByteSpan model;
  Bytes tail;
  std::uint64_t size() const { return head.size() + model.size() + tail.size(); }
};
EncodedEngineState EncodeEngineStateParts(const EngineState& state, std::string_view federation_id,
                                          const crypto::Sha256Digest& config_hash);
Bytes EncodeEngineState(const EngineState& state, std::string_view federation_id,
                        const crypto::Sha256Digest& config_hash);
Result<EngineState> DecodeEngineState(ByteSpan bytes, std::string_view federation_id,
                                      const crypto::Sha256Digest& config_hash);

}  // namespace cairn::aggregator
