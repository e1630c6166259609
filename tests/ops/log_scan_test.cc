// A full hospital federation (3 rounds, JSON logs at debug level on every process), then a scan
// of every line the processes wrote for any value of the final model or of the hospitals' data.
//
// What counts as a leak: a value written the ways a log could write it (%g with 6 significant
// digits, %.9g, %.17g, the shortest round-trip form, the CSV's own text), appearing as a whole
// numeric token, or 16 consecutive model bytes in hex. Integer values are skipped: an integer
// cannot be told apart from the counts, sizes and durations logs legitimately carry (0 and 1 and
// the CSV's integer-valued cells above all).
#include <gtest/gtest.h>
#include <unistd.h>

#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>

#include "common/core/bytes.h"
#include "common/core/file.h"
#include "tests/support/process.h"

namespace cairn::testing_support {
namespace {

using std::chrono::seconds;

std::string Format(const char* fmt, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

// The forms a value may take in a log line.
void AddForms(double v, std::set<std::string>& out) {
  if (!std::isfinite(v) || v == std::nearbyint(v)) return;  // integers: see the file comment
  for (const char* fmt : {"%g", "%.6g", "%.9g", "%.17g"}) out.insert(Format(fmt, v));
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  if (ec == std::errc()) out.insert(std::string(buf, end));
  auto f = static_cast<float>(v);
  auto [fend, fec] = std::to_chars(buf, buf + sizeof buf, f);
  if (fec == std::errc()) out.insert(std::string(buf, fend));
}

// Maximal numeric tokens of a line ("-0.123", "1.5e-05", "12"), each also without its sign. A
// token does not start inside a word ("site-1", "v2", "sha256"), so identifiers are not numbers.
std::vector<std::string> NumericTokens(std::string_view line) {
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  auto word = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.'; };
  auto numeric = [&](char c) { return digit(c) || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-'; };
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < line.size()) {
    char c = line[i];
    bool sign = (c == '-' || c == '+' || c == '.') && i + 1 < line.size() && (digit(line[i + 1]) || line[i + 1] == '.');
    bool inside_word = i > 0 && (word(line[i - 1]) || ((line[i - 1] == '-' || line[i - 1] == '+') && i > 1 &&
                                                       std::isalnum(static_cast<unsigned char>(line[i - 2]))));
    if (!(digit(c) || sign) || inside_word) {
      ++i;
      continue;
    }
    std::size_t j = i + 1;
    while (j < line.size() && numeric(line[j])) ++j;
    std::string tok(line.substr(i, j - i));
    while (!tok.empty() && !digit(tok.back())) tok.pop_back();  // "0.5." at a sentence end
    if (!tok.empty()) {
      out.push_back(tok);
      if (tok[0] == '-' || tok[0] == '+') out.push_back(tok.substr(1));
    }
    i = j;
  }
  return out;
}

struct Finding {
  std::string file;
  std::string token;
  std::string line;
};

std::vector<Finding> Scan(const std::map<std::string, std::vector<std::string>>& logs,
                          const std::set<std::string>& forbidden, const std::vector<std::string>& hex_windows) {
  std::vector<Finding> found;
  for (const auto& [file, lines] : logs) {
    for (const auto& line : lines) {
      for (const auto& tok : NumericTokens(line)) {
        if (forbidden.contains(tok)) found.push_back({file, tok, line});
      }
      std::string lower = line;
      for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      for (const auto& w : hex_windows) {
        if (lower.find(w) != std::string::npos) found.push_back({file, w, line});
      }
    }
  }
  return found;
}

TEST(LogScan, TokenizerFindsNumbersOnTheirOwnOnly) {
  auto t = NumericTokens(R"({"ts_ms":1767225600000,"epsilon":1.5e-05,"loss":-0.25,"path":"site-1.csv"} x=0.5.)");
  std::set<std::string> s(t.begin(), t.end());
  EXPECT_TRUE(s.contains("1767225600000"));
  EXPECT_TRUE(s.contains("1.5e-05"));
  EXPECT_TRUE(s.contains("-0.25"));
  EXPECT_TRUE(s.contains("0.25"));
  EXPECT_TRUE(s.contains("0.5"));
  EXPECT_FALSE(s.contains("1")) << "the 1 of site-1 is part of a word";
  std::set<std::string> forms;
  AddForms(0.123456789, forms);
  EXPECT_TRUE(forms.contains("0.123457"));
  EXPECT_TRUE(forms.contains("0.123456789"));
  AddForms(3.0, forms);
  EXPECT_FALSE(forms.contains("3"));
}

class LogScanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (BinDir().empty() || SourceDir().empty()) GTEST_SKIP() << "CAIRN_BIN_DIR/CAIRN_SOURCE_DIR not set: run through ctest";
    for (const char* b : {"cairn-aggregator", "cairn-participant", "cairn-data"}) {
      if (!std::filesystem::exists(BinDir() / b)) GTEST_SKIP() << BinDir() / b << " not built (needs libtorch): skipping the log scan";
    }
    if (!std::filesystem::exists(SourceDir() / "build" / "datasets" / "breast_cancer.csv")) {
      GTEST_SKIP() << "build/datasets/breast_cancer.csv not found (scripts/setup.sh fetches it): skipping the log scan";
    }
    work_ = std::filesystem::temp_directory_path() / ("cairn-logscan-" + std::to_string(::getpid()));
    std::filesystem::remove_all(work_);
  }
  void TearDown() override {
    if (!work_.empty() && !::testing::Test::HasFailure()) std::filesystem::remove_all(work_);
  }
  std::filesystem::path work_;
};

TEST_F(LogScanTest, NoModelOrDataValueReachesAnyLog) {
  // The federation: data, keys, configs.
  SubprocessOptions make;
  make.args = {(SourceDir() / "examples" / "hospital" / "make-federation.sh").string(), "--work-dir", work_.string(),
               "--rounds", "3", "--bin-dir", BinDir().string()};
  make.stderr_file = std::filesystem::temp_directory_path() / ("cairn-logscan-make-" + std::to_string(::getpid()));
  auto made = RunToCompletion(make, seconds(300));
  ASSERT_TRUE(made) << made.error().message();
  ASSERT_EQ(made->exit_code, 0) << *ReadFileText(make.stderr_file);
  std::filesystem::remove(make.stderr_file);

  // The aggregator; its "ready" line gives the attestation endpoint.
  SubprocessOptions agg;
  agg.args = {(BinDir() / "cairn-aggregator").string(), "run", "--config", "federation.toml", "--attestation", "sim",
              "--log-format", "json", "--log-level", "debug"};
  agg.working_dir = work_;
  agg.stderr_file = work_ / "aggregator.log";
  auto aggregator = Subprocess::Spawn(agg);
  ASSERT_TRUE(aggregator) << aggregator.error().message();
  auto ready = aggregator->WaitForLine("cairn-aggregator: ready ", seconds(120));
  ASSERT_TRUE(ready) << ready.error().message() << "\n" << *ReadFileText(work_ / "aggregator.log");
  auto at = ready->find("attestation=");
  ASSERT_NE(at, std::string::npos) << *ready;
  std::string endpoint = ready->substr(at + 12, ready->find(' ', at) - at - 12);

  std::vector<Subprocess> hospitals;
  for (int n = 1; n <= 3; ++n) {
    SubprocessOptions h;
    h.args = {(BinDir() / "cairn-participant").string(), "run", "--config", "hospital-" + std::to_string(n) + ".toml",
              "--aggregator", endpoint, "--log-format", "json", "--log-level", "debug"};
    h.working_dir = work_;
    h.stderr_file = work_ / ("hospital-" + std::to_string(n) + ".log");
    auto p = Subprocess::Spawn(h);
    ASSERT_TRUE(p) << p.error().message();
    hospitals.push_back(std::move(*p));
  }
  for (int n = 0; n < 3; ++n) {
    auto code = hospitals[n].Wait(seconds(600));
    ASSERT_TRUE(code) << code.error().message();
    EXPECT_EQ(*code, 0) << "hospital-" << n + 1 << ":\n" << *ReadFileText(work_ / ("hospital-" + std::to_string(n + 1) + ".log"));
  }
  auto code = aggregator->Wait(seconds(120));
  ASSERT_TRUE(code) << code.error().message();
  ASSERT_EQ(*code, 0) << *ReadFileText(work_ / "aggregator.log");

  // Every line every process wrote: stderr logs and stdout.
  std::map<std::string, std::vector<std::string>> logs;
  std::size_t json_lines = 0, total = 0;
  auto add_text = [&](const std::string& name, const std::string& text) {
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
      if (line.starts_with("{\"ts_ms\":")) ++json_lines;
      logs[name].push_back(line);
      ++total;
    }
  };
  add_text("aggregator.log", *ReadFileText(work_ / "aggregator.log"));
  add_text("aggregator stdout", aggregator->StdoutText());
  for (int n = 1; n <= 3; ++n) {
    add_text("hospital-" + std::to_string(n) + ".log", *ReadFileText(work_ / ("hospital-" + std::to_string(n) + ".log")));
    add_text("hospital-" + std::to_string(n) + " stdout", hospitals[n - 1].StdoutText());
  }
  EXPECT_GE(json_lines, 20u) << "the run should have logged its rounds";

  // The values that must not appear.
  std::set<std::string> forbidden;
  auto model = ReadFileBytes(work_ / "aggregator-state" / "global.f32");
  ASSERT_TRUE(model) << model.error().message();
  ASSERT_EQ(model->size() % 4, 0u);
  std::size_t model_values = model->size() / 4;
  ASSERT_GE(model_values, 400u) << "30-16-2 MLP";
  std::vector<std::string> hex_windows;
  for (std::size_t i = 0; i < model_values; ++i) {
    float f;
    std::memcpy(&f, model->data() + 4 * i, 4);
    AddForms(f, forbidden);
    if (i + 4 <= model_values) hex_windows.push_back(HexEncode(ByteSpan(model->data() + 4 * i, 16)));
  }
  std::size_t csv_cells = 0;
  for (int n = 1; n <= 3; ++n) {
    auto csv = ReadFileText(work_ / "data" / ("site-" + std::to_string(n) + ".csv"));
    ASSERT_TRUE(csv);
    std::istringstream in(*csv);
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      std::istringstream cells(line);
      std::string cell;
      while (std::getline(cells, cell, ',')) {
        double v = 0;
        auto [end, ec] = std::from_chars(cell.data(), cell.data() + cell.size(), v);
        if (ec != std::errc() || end != cell.data() + cell.size()) continue;
        ++csv_cells;
        if (v == std::nearbyint(v)) continue;
        forbidden.insert(cell);  // verbatim, as the CSV writes it
        AddForms(v, forbidden);
      }
    }
  }
  ASSERT_GE(csv_cells, 10000u) << "three sites of 30 features";

  // The scanner is not vacuous: a line carrying one model value is caught.
  float probe;
  std::memcpy(&probe, model->data() + 4 * 7, 4);
  std::map<std::string, std::vector<std::string>> planted = {
      {"planted", {"{\"event\":\"x\",\"value\":" + Format("%.17g", probe) + "}"}}};
  if (probe != std::nearbyint(probe)) {
    EXPECT_EQ(Scan(planted, forbidden, hex_windows).size(), 1u) << "the scanner misses a planted value";
  }

  auto found = Scan(logs, forbidden, hex_windows);
  std::string report;
  for (std::size_t i = 0; i < found.size() && i < 20; ++i) {
    report += "\n  " + found[i].file + ": '" + found[i].token + "' in: " + found[i].line.substr(0, 300);
  }
  EXPECT_TRUE(found.empty()) << found.size() << " model or data value(s) in " << total << " log lines:" << report;
  RecordProperty("log_lines", static_cast<int>(total));
  RecordProperty("forbidden_forms", static_cast<int>(forbidden.size()));
}

}  // namespace
}  // namespace cairn::testing_support
