// common/net/net.h: FramePool, the reused send buffers of a participant's upload.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <zmq.hpp>

#include "common/net/net.h"

namespace cairn::net {
namespace {

// A PAIR of sockets over inproc: a frame sent and received has been released by libzmq once
// the receiver holds it (inproc hands the message over without copying it, so the pool's buffer
// comes back when the received message is destroyed).
class FramePoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    endpoint_ = "inproc://frame-pool-" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name());
    receiver_.bind(endpoint_);
    sender_.connect(endpoint_);
  }
  std::string SendAndReceive(zmq::message_t frame) {
    EXPECT_TRUE(sender_.send(frame, zmq::send_flags::none));
    zmq::message_t got;
    EXPECT_TRUE(receiver_.recv(got, zmq::recv_flags::none));
    return got.to_string();  // `got` is destroyed here: libzmq releases the buffer
  }
  zmq::context_t context_{1};
  zmq::socket_t sender_{context_, zmq::socket_type::pair};
  zmq::socket_t receiver_{context_, zmq::socket_type::pair};
  std::string endpoint_;
};

TEST_F(FramePoolTest, ASentFramesBufferIsHandedOutAgain) {
  FramePool pool(4, 1 << 20);
  zmq::message_t first = pool.Take(1000);
  ASSERT_EQ(first.size(), 1000u);
  EXPECT_EQ(pool.capacity(), 1000u);
  const void* buffer = first.data();
  std::memset(first.data(), 'a', first.size());
  EXPECT_EQ(SendAndReceive(std::move(first)), std::string(1000, 'a'));
  EXPECT_EQ(pool.idle(), 1u);
  zmq::message_t again = pool.Take(600);  // a shorter last chunk fits the same buffer
  EXPECT_EQ(again.data(), buffer);
  EXPECT_EQ(again.size(), 600u);
  EXPECT_EQ(pool.idle(), 0u);
  std::memset(again.data(), 'b', again.size());
  EXPECT_EQ(SendAndReceive(std::move(again)), std::string(600, 'b'));
}

TEST_F(FramePoolTest, KeepsAtMostKeepIdleBuffers) {
  FramePool pool(2, 1 << 20);
  {
    std::vector<zmq::message_t> frames;
    for (int i = 0; i < 5; ++i) frames.push_back(pool.Take(256));
    EXPECT_EQ(pool.idle(), 0u);
  }  // five frames released without being sent: two are kept, three freed
  EXPECT_EQ(pool.idle(), 2u);
  auto a = pool.Take(256);
  auto b = pool.Take(256);
  auto c = pool.Take(256);  // the pool is empty: a new buffer
  EXPECT_EQ(pool.idle(), 0u);
  EXPECT_NE(a.data(), b.data());
  EXPECT_NE(b.data(), c.data());
}

TEST_F(FramePoolTest, KeepsAtMostKeepBytesOfIdleBuffers) {
  FramePool pool(8, 1000);
  {
    std::vector<zmq::message_t> frames;
    for (int i = 0; i < 4; ++i) frames.push_back(pool.Take(300));
  }  // 3 x 300 bytes fit in 1000, a fourth would not
  EXPECT_EQ(pool.idle(), 3u);
  { auto big = pool.Take(2000); }  // larger than keep_bytes: sent, then freed, never kept
  EXPECT_EQ(pool.idle(), 0u);
}

TEST_F(FramePoolTest, ALargerRequestDropsTheSmallerIdleBuffers) {
  FramePool pool(4, 1 << 20);
  { auto small = pool.Take(100); }
  EXPECT_EQ(pool.idle(), 1u);
  auto large = pool.Take(5000);
  EXPECT_EQ(pool.capacity(), 5000u);
  EXPECT_EQ(pool.idle(), 0u) << "the 100-byte buffer cannot hold 5000 bytes";
  std::memset(large.data(), 'c', large.size());
  EXPECT_EQ(SendAndReceive(std::move(large)), std::string(5000, 'c'));
  EXPECT_EQ(pool.idle(), 1u);
}

TEST_F(FramePoolTest, AFrameOfTheOldCapacityReturnedAfterGrowthIsFreed) {
  FramePool pool(4, 1 << 20);
  auto old_size = pool.Take(100);
  auto grown = pool.Take(200);  // capacity 200 while a 100-byte buffer is still out
  { zmq::message_t gone = std::move(old_size); }
  EXPECT_EQ(pool.idle(), 0u) << "a buffer of the old capacity does not come back";
  { zmq::message_t gone = std::move(grown); }
  EXPECT_EQ(pool.idle(), 1u);
}

TEST_F(FramePoolTest, FramesOutliveThePool) {
  zmq::message_t frame;
  {
    FramePool pool(4, 1 << 20);
    frame = pool.Take(64);
    std::memset(frame.data(), 'd', frame.size());
  }
  // The pool is gone; sending and releasing the frame must still be sound (ASan checks it).
  EXPECT_EQ(SendAndReceive(std::move(frame)), std::string(64, 'd'));
}

}  // namespace
}  // namespace cairn::net
