#include "protocol/round_result.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "protocol/codec.h"
#include "protocol/limits.h"

namespace cairn::protocol {
namespace {

RoundResult Sample() {
  RoundResult r;
  r.federation_id = "fed";
  r.round = 4;
  r.contributors = {"a", "b", "c"};
  r.num_examples = 300;
  r.model_version = 4;
  r.model_hash[0] = 1;
  r.num_params = 1000;
  r.strategy = "fedavg";
  r.strategy_params = {{"eta", 1.0}};
  r.platform = "sim";
  r.epsilon_spent = 1.25;
  r.delta = 1e-5;
  r.prev_hash = Bytes(32, 3);
  r.unix_millis = 1767225600000;
  r.metrics = {{"train_loss", 0.3}};
  return r;
}

TEST(RoundResult, SignVerifyAndEveryFieldIsCovered) {
  ASSERT_TRUE(crypto::Init());
  auto key = crypto::Ed25519KeyPair::Generate();
  ASSERT_TRUE(key);
  RoundResult r = Sample();
  SignResult(r, *key);
  EXPECT_TRUE(VerifyResultSignature(r, key->public_key()));
  // Changing any signed field breaks the signature.
  std::vector<std::function<void(RoundResult&)>> edits = {
      [](RoundResult& x) { x.round++; },
      [](RoundResult& x) { x.contributors.push_back("d"); },
      [](RoundResult& x) { x.model_hash[5] ^= 1; },
      [](RoundResult& x) { x.epsilon_spent = 1.2500001; },
      [](RoundResult& x) { x.prev_hash[0] ^= 1; },
      [](RoundResult& x) { x.strategy = "median"; },
      [](RoundResult& x) { x.status = RoundStatus::kAborted; },
      [](RoundResult& x) { x.final = true; },
      [](RoundResult& x) { x.metrics[0].value = 0.4; },
  };
  for (std::size_t i = 0; i < edits.size(); ++i) {
    RoundResult copy = r;
    edits[i](copy);
    auto s = VerifyResultSignature(copy, key->public_key());
    ASSERT_FALSE(s) << "edit " << i;
    EXPECT_EQ(s.error().code(), ErrorCode::kUnauthenticated);
  }
}

TEST(RoundResult, JsonAndWireRoundTripKeepTheSignatureValid) {
  ASSERT_TRUE(crypto::Init());
  auto key = crypto::Ed25519KeyPair::Generate();
  RoundResult r = Sample();
  SignResult(r, *key);
  auto back = ResultFromJson(ResultToJson(r));
  ASSERT_TRUE(back) << back.error().ToString();
  EXPECT_TRUE(VerifyResultSignature(*back, key->public_key()));
  EXPECT_EQ(ResultHash(*back), ResultHash(r));
  auto wire = Decode(Encode(Message(r)), kMaxControlMessageBytes);
  ASSERT_TRUE(wire);
  EXPECT_TRUE(VerifyResultSignature(std::get<RoundResult>(*wire), key->public_key()));
}

TEST(RoundResult, MalformedJsonIsRejected) {
  EXPECT_FALSE(ResultFromJson("{"));
  EXPECT_FALSE(ResultFromJson("[]"));
  EXPECT_FALSE(ResultFromJson(R"({"round": 1})"));
}

// Found by fuzz_round_result_json (tests/fuzz/regressions/…/float-where-an-integer-belongs): a
// float where an integer belongs was cast to the integer type (undefined behaviour for 1e300).
TEST(RoundResult, FloatOrNegativeWhereAnIntegerBelongsIsRejectedNamingTheField) {
  const std::string good = ResultToJson(Sample());
  auto with = [&](const std::string& key, const std::string& value) {
    auto j = nlohmann::json::parse(good);
    j[key] = nlohmann::json::parse(value);
    return ResultFromJson(j.dump());
  };
  ASSERT_TRUE(ResultFromJson(good));
  for (const char* key : {"round", "num_examples", "model_version", "num_params", "unix_millis"}) {
    for (const char* value : {"1e300", "1.5", "-1e300"}) {
      auto r = with(key, value);
      ASSERT_FALSE(r) << key << " = " << value;
      EXPECT_NE(r.error().message().find(std::string("field '") + key + "'"), std::string::npos) << r.error().message();
    }
  }
  auto negative = with("round", "-3");
  ASSERT_FALSE(negative);
  EXPECT_NE(negative.error().message().find("non-negative integer"), std::string::npos);
  EXPECT_TRUE(with("unix_millis", "-3"));  // a signed field may be negative
  auto huge = with("unix_millis", "18446744073709551615");
  ASSERT_FALSE(huge);
  EXPECT_NE(huge.error().message().find("out of range"), std::string::npos);
}

}  // namespace
}  // namespace cairn::protocol
