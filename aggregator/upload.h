// One participant's upload in one round: HPKE context, chunk bookkeeping and a staging buffer.
//
// Chunks are opened into the staging buffer as they arrive (decryption overlaps the transfer);
// nothing reaches the round's running sum until the commit passes every check, so a rejected,
// partial or abandoned upload leaves the aggregate untouched.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/core/clock.h"
#include "common/crypto/crypto.h"
#include "protocol/sealing.h"
#include "protocol/types.h"

namespace cairn::aggregator {

// Why an update (or a message about it) was refused: a code the participant receives and a
// detail that names the rule, never a value of the update.
struct Rejection {
  protocol::RejectCode code;
  std::string detail;
};
template <typename T>
using Checked = std::expected<T, Rejection>;
inline std::unexpected<Rejection> Reject(protocol::RejectCode code, std::string detail) {
  return std::unexpected<Rejection>(Rejection{code, std::move(detail)});
}

struct UploadContext {
  std::string federation_id;
  crypto::Sha256Digest config_hash{};
  std::uint64_t num_params = 0;
  std::uint32_t chunk_bytes = 0;
  protocol::Encoding encoding = protocol::Encoding::kFloat32;
};

class Upload {
 public:
  enum class State { kWaitingForSlot, kStreaming, kCommitted };

  // Checks the announced shape and sets up the HPKE recipient context.
  static Checked<std::unique_ptr<Upload>> Begin(const protocol::UploadBegin& begin,
                                                const std::string& participant, std::uint64_t round,
                                                const crypto::X25519KeyPair& hpke_key,
                                                const UploadContext& context);

  // Gives the upload its staging buffer (num_params floats) and takes it back. The engine keeps
  // a bounded pool of them, so memory does not grow with the number of participants.
  void AttachStaging(std::vector<float> staging);
  std::vector<float> TakeStaging() { return std::move(staging_); }
  std::span<float> staging() { return staging_; }
  bool has_staging() const { return !staging_.empty(); }

  // What became of one chunk. The data plane is plain and a chunk names its upload by session
  // id only, so anyone who sees a frame can send chunks for that upload (replay it, truncate it,
  // flip bits). A chunk such a sender could have made (an index already filled or out of range,
  // a wrong last-chunk flag or size, a ciphertext that does not authenticate) is kDropped: the
  // upload goes on, and only authenticated chunks fill it (the commit digest covers every tag).
  enum class ChunkResult { kOpened, kDropped };
  // Opens one chunk into the staging buffer. An index already filled is dropped before anything
  // is decrypted (the accepted data is never overwritten). Refused (Rejection) only for a chunk
  // that authenticates and still cannot be used (a 16-bit value that does not decode): only
  // the participant could have sent it.
  Checked<ChunkResult> AddChunk(std::uint32_t index, bool last, std::span<const std::uint8_t> sealed);

  // The commit must name the same enc, every chunk must have arrived, and the digest over the
  // chunk tags must match.
  Checked<void> CheckCommit(const protocol::Commit& commit) const;

  // A commit that arrived on the control plane before the last chunks on the data plane (the two
  // sockets do not order against each other); processed when the last chunk lands.
  std::optional<protocol::Commit> pending_commit;
  bool complete() const { return received_ == layout_.chunks; }

  // When the upload last made progress: its slot was granted, or a chunk opened. The engine
  // releases a slot that makes none for server.upload_idle_timeout_s.
  Clock::TimePoint last_progress{};

  State state() const { return state_; }
  void set_state(State s) { state_ = s; }
  const std::string& participant() const { return participant_; }
  std::uint32_t chunks() const { return layout_.chunks; }
  std::uint32_t received() const { return received_; }
  std::uint64_t bytes_received() const { return bytes_received_; }
  // Σ x² over the values opened so far, in double, summed chunk by chunk while each chunk is
  // still in cache (saves the engine a pass over the staged update at commit). Finite if and only
  // if every value is (strategy::SquaredNorm's contract); equal to SquaredNorm(staging()) up to
  // the order of the additions once complete().
  double squared_norm() const { return squared_norm_; }

 private:
  Upload() = default;
  std::string participant_;
  std::uint64_t round_ = 0;
  std::array<std::uint8_t, 32> enc_{};
  protocol::Encoding encoding_ = protocol::Encoding::kFloat32;
  protocol::ChunkLayout layout_;
  std::unique_ptr<crypto::HpkeContext> hpke_;
  std::vector<float> staging_;
  Bytes scratch_;  // 16-bit encodings: one decrypted chunk before widening
  std::vector<std::array<std::uint8_t, crypto::kAeadTagBytes>> tags_;
  std::vector<bool> have_;
  std::uint32_t received_ = 0;
  std::uint64_t bytes_received_ = 0;
  double squared_norm_ = 0;
  State state_ = State::kWaitingForSlot;
};

// Digest a participant puts in its Commit: SHA-256 over the chunks' AEAD tags in index order.
crypto::Sha256Digest ChunkTagDigest(std::span<const std::array<std::uint8_t, crypto::kAeadTagBytes>> tags);

}  // namespace cairn::aggregator
