#include "aggregator/state_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>
#include <map>
#include <optional>
#include <nlohmann/json.hpp>

#include "common/analytics/output.h"
#include "common/core/file.h"
#include "common/core/log.h"
#include "common/model/model_files.h"
#include "common/model/torch_file.h"
#include "protocol/round_result.h"

namespace cairn::aggregator {
namespace {

// Version 2 appends the analytics job's round id, version 3 its released answers; checkpoints of
// versions 1 and 2 (without them) still load.
constexpr std::string_view kCheckpointMagic = "CAIRNCK3";
constexpr std::string_view kCheckpointMagicV2 = "CAIRNCK2";
constexpr std::string_view kCheckpointMagicV1 = "CAIRNCK1";
constexpr std::uint64_t kMaxAnalyticsJsonBytes = 64ull << 20;
constexpr std::string_view kCheckpointAad = "cairn/checkpoint/v1";
constexpr std::uint64_t kMaxCheckpointBytes = 1ull << 33;

class Reader {
 public:
  explicit Reader(ByteSpan b) : b_(b) {}
  bool Take(std::size_t n, const std::uint8_t** out) {
    if (b_.size() - pos_ < n) return false;
    *out = b_.data() + pos_;
    pos_ += n;
    return true;
  }
  bool U64(std::uint64_t& v) {
    const std::uint8_t* p;
    if (!Take(8, &p)) return false;
    v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
    return true;
  }
  bool Blob(Bytes& out, std::uint64_t max) {
    std::uint64_t n;
    if (!U64(n) || n > max) return false;
    const std::uint8_t* p;
    if (!Take(static_cast<std::size_t>(n), &p)) return false;
    out.assign(p, p + n);
    return true;
  }
  bool done() const { return pos_ == b_.size(); }

 private:
  ByteSpan b_;
  std::size_t pos_ = 0;
};

}  // namespace

EncodedEngineState EncodeEngineStateParts(const EngineState& s, std::string_view federation_id,
                                          const crypto::Sha256Digest& config_hash) {
  EncodedEngineState e;
  Bytes& out = e.head;
  AppendBytes(out, AsBytes(kCheckpointMagic));
  AppendU64(out, federation_id.size());
  AppendBytes(out, AsBytes(federation_id));
  AppendBytes(out, config_hash);
  AppendU64(out, s.next_round);
  AppendU64(out, s.completed_rounds);
  AppendU64(out, s.model_version);
  AppendU64(out, s.retries);
  AppendU64(out, s.head_round);
  AppendU64(out, s.head_hash.size());
  AppendBytes(out, s.head_hash);
  AppendU64(out, s.model.size() * sizeof(float));
  e.model = ByteSpan(reinterpret_cast<const std::uint8_t*>(s.model.data()), s.model.size() * sizeof(float));
  Bytes& tail = e.tail;
  AppendU64(tail, s.strategy_state.size());
  AppendBytes(tail, s.strategy_state);
  AppendU64(tail, s.privacy_state.size());
  AppendBytes(tail, s.privacy_state);
  AppendU64(tail, s.head_result.size());
  AppendBytes(tail, AsBytes(s.head_result));
  AppendU64(tail, s.feature_mean.size());
  for (std::size_t i = 0; i < s.feature_mean.size(); ++i) {
    AppendU64(tail, std::bit_cast<std::uint64_t>(s.feature_mean[i]));
    AppendU64(tail, std::bit_cast<std::uint64_t>(s.feature_std[i]));
  }
  AppendU64(tail, s.analytics_round);  // version 2
  AppendU64(tail, s.analytics_json.size());  // version 3
  AppendBytes(tail, AsBytes(s.analytics_json));
  return e;
}

Bytes EncodeEngineState(const EngineState& s, std::string_view federation_id, const crypto::Sha256Digest& config_hash) {
  EncodedEngineState e = EncodeEngineStateParts(s, federation_id, config_hash);
  Bytes out;
  out.reserve(e.size());
  AppendBytes(out, e.head);
  AppendBytes(out, e.model);
  AppendBytes(out, e.tail);
  return out;
}

Result<EngineState> DecodeEngineState(ByteSpan bytes, std::string_view federation_id,
                                      const crypto::Sha256Digest& config_hash) {
  auto corrupt = [](std::string what) { return Fail(ErrorCode::kDataLoss, "the checkpoint is corrupt: " + what); };
  Reader r(bytes);
  const std::uint8_t* p;
  if (!r.Take(kCheckpointMagic.size(), &p)) return corrupt("it does not start with " + std::string(kCheckpointMagic));
  const bool v1 = std::memcmp(p, kCheckpointMagicV1.data(), kCheckpointMagicV1.size()) == 0;
  const bool v2 = std::memcmp(p, kCheckpointMagicV2.data(), kCheckpointMagicV2.size()) == 0;
  if (!v1 && !v2 && std::memcmp(p, kCheckpointMagic.data(), kCheckpointMagic.size()) != 0) {
    return corrupt("it does not start with " + std::string(kCheckpointMagic));
  }
  Bytes fed;
  if (!r.Blob(fed, 1024)) return corrupt("bad federation id");
  if (AsChars(fed) != federation_id) {
    return Fail(ErrorCode::kFailedPrecondition, "the checkpoint belongs to federation '" + std::string(AsChars(fed)) +
                                                    "', not '" + std::string(federation_id) + "'");
  }
  if (!r.Take(32, &p)) return corrupt("truncated config hash");
  if (std::memcmp(p, config_hash.data(), 32) != 0) {
    return Fail(ErrorCode::kFailedPrecondition,
                "the checkpoint was written under another federation configuration (its SHA-256 differs); "
                "participants attested the old one. Restore the configuration, or start a new federation "
                "in a new state folder");
  }
  EngineState s;
  std::uint64_t retries = 0;
  if (!r.U64(s.next_round) || !r.U64(s.completed_rounds) || !r.U64(s.model_version) || !r.U64(retries) ||
      !r.U64(s.head_round)) {
    return corrupt("truncated counters");
  }
  s.retries = static_cast<std::uint32_t>(retries);
  if (!r.Blob(s.head_hash, 32)) return corrupt("bad head hash");
  Bytes model;
  if (!r.Blob(model, kMaxCheckpointBytes) || model.size() % sizeof(float) != 0) return corrupt("bad model");
  s.model.resize(model.size() / sizeof(float));
  std::memcpy(s.model.data(), model.data(), model.size());
  if (!r.Blob(s.strategy_state, kMaxCheckpointBytes)) return corrupt("bad strategy state");
  if (!r.Blob(s.privacy_state, 64u << 20)) return corrupt("bad privacy state");
  Bytes head_result;
  if (!r.Blob(head_result, 4u << 20)) return corrupt("bad head result");
  s.head_result.assign(head_result.begin(), head_result.end());
  std::uint64_t features = 0;
  if (!r.U64(features) || features > 100000) return corrupt("bad feature statistics");
  for (std::uint64_t i = 0; i < features; ++i) {
    std::uint64_t m, d;
    if (!r.U64(m) || !r.U64(d)) return corrupt("truncated feature statistics");
    s.feature_mean.push_back(std::bit_cast<double>(m));
    s.feature_std.push_back(std::bit_cast<double>(d));
  }
  if (!v1 && !r.U64(s.analytics_round)) return corrupt("truncated analytics round");
  if (!v1 && !v2) {
    Bytes answers;
    if (!r.Blob(answers, kMaxAnalyticsJsonBytes)) return corrupt("bad analytics answers");
    s.analytics_json.assign(answers.begin(), answers.end());
  }
  if (!r.done()) return corrupt("trailing bytes");
  if (s.next_round == 0 || s.head_round >= s.next_round || s.completed_rounds > s.model_version) {
    return corrupt("inconsistent counters");
  }
  return s;
}

Result<std::unique_ptr<StateStore>> StateStore::Open(const std::filesystem::path& dir, model::ModelSpec spec,
                                                     crypto::SecretBytes sealing_key, std::string federation_id,
                                                     crypto::Sha256Digest config_hash) {
  CAIRN_RETURN_IF_ERROR(EnsureDirectory(dir, 0700));
  return std::unique_ptr<StateStore>(
      new StateStore(dir, std::move(spec), std::move(sealing_key), std::move(federation_id), config_hash));
}

Status StateStore::AppendResult(const protocol::RoundResult& result) {
  return AppendLineDurable(dir_ / "results.jsonl", protocol::ResultToJson(result));
}

Status StateStore::AppendEvaluation(const std::string& participant, const protocol::EvalReport& report) {
  if (report.metrics.empty()) return Ok();
  // The participant's metrics go in their own object: a metric named "participant" or
  // "model_version" cannot overwrite the fields the aggregator vouches for. Names are checked by
  // the decoder ([A-Za-z0-9._-]{1,64}); non-finite values are left out (JSON has no inf or NaN).
  nlohmann::ordered_json metrics = nlohmann::ordered_json::object();
  for (const auto& m : report.metrics) {
    if (std::isfinite(m.value)) metrics[m.name] = m.value;
  }
  nlohmann::ordered_json j;
  j["participant"] = participant;
  j["model_version"] = report.model_version;
  j["round"] = report.round;
  j["metrics"] = std::move(metrics);
  // Defence in depth: a name that escaped the decoder's checks is replaced, never thrown on.
  return AppendLineDurable(dir_ / "evaluations.jsonl",
                           j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace));
}

Status StateStore::SaveModel(std::span<const float> model) {
  CAIRN_RETURN_IF_ERROR(model::WriteFlatParameters(dir_ / "global.f32", model));
  return model::SaveTorchFile(dir_ / "global.pt", spec_, model);
}

Status StateStore::SaveAnalytics(std::string_view results_json) {
  CAIRN_ASSIGN_OR_RETURN(auto results, analytics::ResultsFromJson(results_json));
  CAIRN_RETURN_IF_ERROR(WriteFileAtomic(dir_ / "analytics.json", results_json));
  return analytics::WriteResultsCsv(dir_ / "analytics.csv", results);
}

Status StateStore::SaveCheckpoint(const EngineState& state) {
  if (sealing_key_.empty()) return Fail(ErrorCode::kFailedPrecondition, "no sealing key: checkpoints are off");
  // Streamed: the model goes from where it lives through the cipher to the file, so a
  // checkpoint costs one sealing chunk of memory, not a plaintext and a ciphertext copy.
  EncodedEngineState parts = EncodeEngineStateParts(state, federation_id_, config_hash_);
  auto wipe = [&parts] {
    crypto::Wipe(parts.head);
    crypto::Wipe(parts.tail);
  };
  auto writer = crypto::SealedFileWriter::Create(sealing_key_, AsBytes(kCheckpointAad), parts.size(),
                                                 (dir_ / "checkpoint.sealed").string());
  Status s = writer ? writer->Write(parts.head) : Status(Fail(std::move(writer).error()));
  if (s) s = writer->Write(parts.model);
  if (s) s = writer->Write(parts.tail);
  if (s) s = writer->Commit();
  wipe();
  return s;
}

Result<bool> StateStore::HeadMissingFromResults(const EngineState& state) {
  if (state.head_round == 0 || state.head_result.empty()) return false;
  auto path = dir_ / "results.jsonl";
  std::string last;
  if (std::filesystem::exists(path)) {
    CAIRN_ASSIGN_OR_RETURN(std::string text, ReadFileText(path, 1ull << 30));
    std::size_t end = text.find_last_not_of('\n');
    if (end != std::string::npos) {
      std::size_t start = text.rfind('\n', end);
      last = text.substr(start == std::string::npos ? 0 : start + 1, end - (start == std::string::npos ? 0 : start + 1) + 1);
    }
  }
  if (!last.empty()) {
    auto r = protocol::ResultFromJson(last);
    if (!r) return Fail(ErrorCode::kDataLoss, path.string() + ": the last line is not a round result");
    auto h = protocol::ResultHash(*r);
    if (Bytes(h.begin(), h.end()) == state.head_hash) return false;
    if (r->round >= state.head_round) {
      return Fail(ErrorCode::kFailedPrecondition,
                  path.string() + " already holds round " + std::to_string(r->round) +
                      ", later than the checkpoint's round " + std::to_string(state.head_round) +
                      ": the checkpoint is older than the results (a replayed checkpoint?); refusing to fork the history");
    }
  }
  return true;
}

Status StateStore::AppendHeadResult(const EngineState& state) {
  auto path = dir_ / "results.jsonl";
  log::Warn("results_log_repaired", {{"round", state.head_round}, {"path", path.string()}});
  return AppendLineDurable(path, state.head_result);
}

namespace {
// A results line longer than this is not a result Cairn wrote (a result is a few KiB): skipped.
constexpr std::size_t kMaxResultLineBytes = 4u << 20;

Error FileError(const std::filesystem::path& path, std::string_view what, int err) {
  return Error(ErrorCode::kIo, std::string(what) + " " + path.string() + ": " + std::strerror(err));
}

// The round of a results line: from its "round" key (ResultToJson writes it near the start), or
// by parsing the line when the key is not found that way; nullopt for a line that is no result.
std::optional<std::uint64_t> RoundOfLine(std::string_view line) {
  if (line.find_first_not_of(" \t\r") == std::string_view::npos) return std::nullopt;
  if (auto k = line.substr(0, 512).find("\"round\":"); k != std::string_view::npos) {
    std::uint64_t round = 0;
    const char* first = line.data() + k + 8;
    auto [end_ptr, ec] = std::from_chars(first, line.data() + std::min<std::size_t>(line.size(), k + 8 + 24), round);
    if (ec == std::errc() && end_ptr != first) return round;
  }
  auto r = protocol::ResultFromJson(line);
  if (!r) return std::nullopt;
  return r->round;
}
}  // namespace

Status StateStore::IndexResults(int fd, std::uint64_t size, std::uint64_t device, std::uint64_t inode) {
  bool start_over = size < results_indexed_ || device != results_device_ || inode != results_inode_;
  if (!start_over && results_indexed_ > 0) {
    // The same file, but rewritten in place? Its last indexed line must still be there.
    std::string last(last_indexed_line_.length, '\0');
    const ssize_t n = ::pread(fd, last.data(), last.size(), static_cast<off_t>(last_indexed_line_.offset));
    start_over = n != static_cast<ssize_t>(last.size()) || crypto::Sha256(AsBytes(last)) != last_indexed_digest_;
  }
  if (start_over) {
    result_lines_.clear();
    earlier_result_lines_.clear();
    results_indexed_ = 0;
    results_device_ = device;
    results_inode_ = inode;
    last_indexed_line_ = {};
  }
  std::vector<char> block(1u << 20);
  std::string line;            // the line being assembled across blocks
  bool oversized = false;      // the current line passed kMaxResultLineBytes: skip to its end
  std::uint64_t line_start = results_indexed_;
  std::uint64_t pos = results_indexed_;
  while (pos < size) {
    const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(block.size(), size - pos));
    const ssize_t n = ::pread(fd, block.data(), want, static_cast<off_t>(pos));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Fail(FileError(dir_ / "results.jsonl", "cannot read", errno));
    if (n == 0) break;
    std::size_t from = 0;
    for (std::size_t i = 0; i < static_cast<std::size_t>(n); ++i) {
      if (block[i] != '\n') continue;
      if (!oversized && line.size() + (i - from) <= kMaxResultLineBytes) {
        line.append(block.data() + from, i - from);
        if (auto round = RoundOfLine(line)) {
          const LineSpan span{line_start, static_cast<std::uint32_t>(line.size())};
          auto [it, inserted] = result_lines_.try_emplace(*round, span);
          if (!inserted) {
            earlier_result_lines_.emplace(*round, it->second);
            it->second = span;
          }
          last_indexed_line_ = span;
          last_indexed_digest_ = crypto::Sha256(AsBytes(line));
        }
      }
      line.clear();
      oversized = false;
      from = i + 1;
      line_start = pos + i + 1;
    }
    if (!oversized) {
      line.append(block.data() + from, static_cast<std::size_t>(n) - from);
      if (line.size() > kMaxResultLineBytes) {
        oversized = true;
        line.clear();
      }
    }
    pos += static_cast<std::uint64_t>(n);
  }
  results_indexed_ = line_start;  // a last line without its newline is indexed once it has one
  return Ok();
}

Result<std::vector<protocol::RoundResult>> StateStore::ReadResults(std::uint64_t from, std::uint64_t to, std::size_t max) {
  std::vector<protocol::RoundResult> out;
  auto path = dir_ / "results.jsonl";
  if (from > to || max == 0) return out;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return out;
    return Fail(FileError(path, "cannot open", errno));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return Fail(FileError(path, "cannot stat", err));
  }
  if (auto s = IndexResults(fd, static_cast<std::uint64_t>(st.st_size), static_cast<std::uint64_t>(st.st_dev),
                            static_cast<std::uint64_t>(st.st_ino));
      !s) {
    ::close(fd);
    return Fail(s.error());
  }
  std::string line;
  auto read_at = [&](std::uint64_t round, const LineSpan& span) -> std::optional<protocol::RoundResult> {
    line.resize(span.length);
    const ssize_t n = ::pread(fd, line.data(), line.size(), static_cast<off_t>(span.offset));
    if (n != static_cast<ssize_t>(line.size())) return std::nullopt;  // the file changed under us
    auto r = protocol::ResultFromJson(line);
    if (!r || r->round != round) return std::nullopt;
    return std::move(*r);
  };
  for (auto it = result_lines_.lower_bound(from); it != result_lines_.end() && it->first <= to; ++it) {
    if (it->first - from >= max) break;
    auto r = read_at(it->first, it->second);
    // The last line of a round does not parse (a torn repeat, say): the latest earlier one that
    // does counts, as when the whole log was parsed.
    auto [first, last] = earlier_result_lines_.equal_range(it->first);
    while (!r && last != first) r = read_at(it->first, (--last)->second);
    if (r) out.push_back(std::move(*r));
  }
  ::close(fd);
  return out;
}

Result<std::optional<EngineState>> StateStore::LoadCheckpoint() {
  auto path = dir_ / "checkpoint.sealed";
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return std::optional<EngineState>();
  if (sealing_key_.empty()) {
    return Fail(ErrorCode::kFailedPrecondition,
                path.string() + " exists but no sealing key is available to open it");
  }
  auto plain = crypto::OpenSealedFile(sealing_key_, AsBytes(kCheckpointAad), path.string(), kMaxCheckpointBytes);
  if (!plain) {
    return Fail(plain.error().code(),
                "cannot open the checkpoint " + path.string() + ": " + plain.error().message() +
                    " (a corrupt or foreign checkpoint is never replaced by a fresh start; move it away "
                    "deliberately to start over)");
  }
  auto state = DecodeEngineState(*plain, federation_id_, config_hash_);
  crypto::Wipe(*plain);
  if (!state) return Fail(std::move(state).error().Context(path.string()));
  return std::optional<EngineState>(std::move(*state));
}

}  // namespace cairn::aggregator
