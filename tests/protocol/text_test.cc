// Peer-supplied text (review items 1 and 3): what the decoders refuse before a name or reason can
// reach a log line, a rejection detail or a JSON file, and the non-finite numbers of a result.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "protocol/analytics_message.h"
#include "protocol/codec.h"
#include "protocol/limits.h"
#include "protocol/round_result.h"
#include "protocol/text.h"

namespace cairn::protocol {
namespace {

TEST(Text, Utf8Validation) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("accuracy"));
  EXPECT_TRUE(IsValidUtf8("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"));  // é € 😀
  EXPECT_FALSE(IsValidUtf8("acc\xff"));
  EXPECT_FALSE(IsValidUtf8("\xC3"));              // truncated
  EXPECT_FALSE(IsValidUtf8("\xC0\xAF"));          // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xE0\x80\xAF"));      // overlong
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\x80"));      // surrogate U+D800
  EXPECT_FALSE(IsValidUtf8("\xF4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\x80"));              // lone continuation
  EXPECT_EQ(ToValidUtf8("acc\xff"), "acc\xEF\xBF\xBD");
  EXPECT_EQ(ToValidUtf8("caf\xC3\xA9"), "caf\xC3\xA9");
  // Truncation never ends inside a sequence.
  EXPECT_EQ(TruncateUtf8("ab\xE2\x82\xAC", 4), "ab");
  EXPECT_EQ(TruncateUtf8("ab\xE2\x82\xAC", 5), "ab\xE2\x82\xAC");
  EXPECT_EQ(TruncateUtf8("abc", 2), "ab");
}

TEST(Text, MetricNames) {
  EXPECT_TRUE(IsValidMetricName("train_loss"));
  EXPECT_TRUE(IsValidMetricName("top-5.acc"));
  EXPECT_TRUE(IsValidMetricName(std::string(64, 'a')));
  EXPECT_FALSE(IsValidMetricName(std::string(65, 'a')));
  EXPECT_FALSE(IsValidMetricName(""));
  EXPECT_FALSE(IsValidMetricName("acc uracy"));
  EXPECT_FALSE(IsValidMetricName("acc\"x"));
  EXPECT_FALSE(IsValidMetricName("caf\xC3\xA9"));
}

// The reproduced crash: EvalReport{model_version=0, metrics=[{"acc\xff", 1.0}]}.
TEST(Text, EvalReportWithInvalidUtf8MetricNameIsRefused) {
  Bytes b = Encode(Message(EvalReport{0, 0, {{"acc\xff", 1.0}}}));
  auto m = Decode(b, kMaxControlMessageBytes);
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(m.error().message().find("evaluation metrics: the name of metric 0 is not valid UTF-8"), std::string::npos)
      << m.error().message();
}

TEST(Text, SelfReportedMetricNamesMustBeIdentifiers) {
  for (const std::string& bad :
       std::vector<std::string>{"acc uracy", "", "model_version\n", std::string(65, 'x'), "caf\xC3\xA9"}) {
    auto e = Decode(Encode(Message(EvalReport{1, 1, {{"loss", 0.5}, {bad, 1.0}}})), kMaxControlMessageBytes);
    ASSERT_FALSE(e) << bad;
    EXPECT_NE(e.error().message().find("the name of metric 1"), std::string::npos) << e.error().message();
    Commit c;
    c.metrics = {{bad, 1.0}};
    auto m = Decode(Encode(Message(c)), kMaxControlMessageBytes);
    ASSERT_FALSE(m) << bad;
    EXPECT_NE(m.error().message().find("commit metrics"), std::string::npos) << m.error().message();
  }
  auto ok = Decode(Encode(Message(EvalReport{1, 1, {{"loss", 0.5}, {"accuracy", 0.9}, {"examples", 40}}})),
                   kMaxControlMessageBytes);
  ASSERT_TRUE(ok) << ok.error().ToString();
  EXPECT_EQ(std::get<EvalReport>(*ok).metrics.size(), 3u);
}

TEST(Text, EveryTextFieldMustBeUtf8) {
  auto bye = Decode(Encode(Message(Goodbye{"stopping \xfe"})), kMaxControlMessageBytes);
  ASSERT_FALSE(bye);
  EXPECT_NE(bye.error().message().find("goodbye reason is not valid UTF-8"), std::string::npos);
  auto rej = Decode(Encode(Message(Rejected{1, RejectCode::kMalformed, "bad \xC0\xAF"})), kMaxControlMessageBytes);
  ASSERT_FALSE(rej);
  EXPECT_NE(rej.error().message().find("reject detail"), std::string::npos);
  auto fine = Decode(Encode(Message(Goodbye{"au revoir, caf\xC3\xA9"})), kMaxControlMessageBytes);
  EXPECT_TRUE(fine);
}

TEST(Text, AnalyticsDeclineNamesAndReasonsAreChecked) {
  auto decode = [](const AnalyticsMessage& m) {
    auto b = EncodeAnalytics(m);
    EXPECT_TRUE(b);
    return DecodeAnalytics(*b);
  };
  auto bad_reason = decode(AnalyticsDecline{3, "q1", "policy \xff rule"});
  ASSERT_FALSE(bad_reason);
  EXPECT_NE(bad_reason.error().message().find("decline reason is not valid UTF-8"), std::string::npos);
  auto bad_query = decode(AnalyticsDecline{3, "q 1\n", "policy"});
  ASSERT_FALSE(bad_query);
  EXPECT_NE(bad_query.error().message().find("query name must be 1 to 64 characters"), std::string::npos);
  auto bad_request = decode(AnalyticsRequest{3, {"ok", "q\xff"}});
  ASSERT_FALSE(bad_request);
  // A long non-ASCII reason is cut at a character boundary by the encoder: it still decodes.
  std::string reason;
  while (reason.size() < kMaxDeclineReasonBytes + 10) reason += "\xE2\x82\xAC";  // €
  auto cut = decode(AnalyticsDecline{3, "q1", reason});
  ASSERT_TRUE(cut) << cut.error().ToString();
  const auto& d = std::get<AnalyticsDecline>(*cut);
  EXPECT_LE(d.reason.size(), kMaxDeclineReasonBytes);
  EXPECT_TRUE(IsValidUtf8(d.reason));
  EXPECT_TRUE(decode(AnalyticsDecline{3, "q1", "min_group_size: 5 (caf\xC3\xA9)"}));
}

// Review item 2: a non-finite number in a result is never written as a silent null; the line
// parses back to the same result (hash included), so a restart can read it.
TEST(Text, NonFiniteResultNumbersRoundTripThroughJson) {
  ASSERT_TRUE(crypto::Init());
  auto key = crypto::Ed25519KeyPair::Generate();
  ASSERT_TRUE(key);
  RoundResult r;
  r.federation_id = "fed";
  r.round = 2;
  r.prev_hash = Bytes(32, 1);
  r.metrics = {{"train_loss", std::numeric_limits<double>::infinity()}, {"participants", 3}};
  r.epsilon_spent = -std::numeric_limits<double>::infinity();
  SignResult(r, *key);
  std::string line = ResultToJson(r);
  EXPECT_EQ(line.find("null"), std::string::npos) << line;
  EXPECT_NE(line.find("\"inf\""), std::string::npos) << line;
  auto back = ResultFromJson(line);
  ASSERT_TRUE(back) << back.error().ToString();
  EXPECT_TRUE(std::isinf(back->metrics[0].value));
  EXPECT_EQ(ResultHash(*back), ResultHash(r));
  // Text that is not UTF-8 (never signed by the engine) is replaced rather than thrown on.
  r.detail = "bad \xff";
  EXPECT_NO_THROW((void)ResultToJson(r));
}

}  // namespace
}  // namespace cairn::protocol
