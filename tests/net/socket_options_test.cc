// common/net/net.h: ApplySocketOptions' send timeout, which keeps a participant's upload from
// waiting forever on an aggregator that is gone.
#include <gtest/gtest.h>

#include <chrono>
#include <zmq.hpp>

#include "common/net/net.h"

namespace cairn::net {
namespace {

// A DEALER whose peer reads nothing blocks on send once its queue is full; with a send timeout
// the send fails, named, instead of waiting forever.
TEST(SocketOptions, ABlockedSendFailsAfterTheSendTimeout) {
  zmq::context_t context(1);
  zmq::socket_t dealer(context, zmq::socket_type::dealer);
  SocketOptions o;
  o.send_hwm = 2;
  o.send_timeout_ms = 100;
  ASSERT_TRUE(ApplySocketOptions(dealer, o));
  // Nothing binds there: the messages queue for a peer that never comes (libzmq queues for a
  // pending connection up to the high-water mark), then the queue is full.
  dealer.connect("inproc://nobody-binds-this");
  Bytes payload(64, 0x5A);
  Status sent = Ok();
  int accepted = 0;
  auto blocked_for = std::chrono::steady_clock::duration::zero();
  for (int i = 0; i < 100 && sent; ++i) {
    auto start = std::chrono::steady_clock::now();
    sent = SendBytes(dealer, payload);
    blocked_for = std::chrono::steady_clock::now() - start;
    if (sent) ++accepted;
  }
  ASSERT_FALSE(sent) << accepted << " sends were all accepted";
  EXPECT_LE(accepted, 10) << "the queue holds about the high-water mark";
  EXPECT_EQ(sent.error().code(), ErrorCode::kUnavailable);
  EXPECT_NE(sent.error().message().find("send queue is full"), std::string::npos) << sent.error().message();
  EXPECT_GE(blocked_for, std::chrono::milliseconds(90)) << "the failed send waited for the timeout";
}

TEST(SocketOptions, TheDefaultWaitsForever) {
  SocketOptions o;
  EXPECT_EQ(o.send_timeout_ms, -1);
  zmq::context_t context(1);
  zmq::socket_t dealer(context, zmq::socket_type::dealer);
  ASSERT_TRUE(ApplySocketOptions(dealer, o));
  EXPECT_EQ(dealer.get(zmq::sockopt::sndtimeo), -1);
  o.send_timeout_ms = 2500;
  ASSERT_TRUE(ApplySocketOptions(dealer, o));
  EXPECT_EQ(dealer.get(zmq::sockopt::sndtimeo), 2500);
}

}  // namespace
}  // namespace cairn::net
