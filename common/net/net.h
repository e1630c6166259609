// ZeroMQ plumbing shared by the aggregator and the participant: socket set-up with bounds,
// multipart send/receive that converts cppzmq exceptions into Errors, CurveZMQ keys, a ZAP
// authenticator, and endpoint helpers.
//
// Thread safety: ZeroMQ sockets belong to one thread; the ZapAuthenticator runs its own thread
// and is safe to construct and destroy from the owner's thread.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include "common/core/bytes.h"
#include "common/core/error.h"

namespace cairn::net {

using CurveKey = std::array<std::uint8_t, 32>;

// Z85 text (40 characters) of a 32-byte key, as ZeroMQ tools print them.
std::string Z85Encode(const CurveKey& key);
Result<CurveKey> Z85Decode(std::string_view text);
// Accepts Z85 (40 characters) or hex (64).
Result<CurveKey> ParseCurveKey(std::string_view text);

// Options applied to every socket: linger 0 (never block shutdown), a maximum inbound message
// size (libzmq drops a peer that announces more), and TCP keepalive/heartbeats so dead peers are
// noticed.
struct SocketOptions {
  std::int64_t max_message_bytes = 1 << 20;
  int send_hwm = 1000;
  int recv_hwm = 1000;
  int heartbeat_ms = 2000;          // ZMQ_HEARTBEAT_IVL; 0 = off
  int heartbeat_timeout_ms = 10000;
  // ZMQ_SNDTIMEO: a blocking send that waits longer than this for room in the queue (the peer is
  // not reading, or no peer is connected) fails as kUnavailable instead of waiting forever.
  // -1 = wait forever (libzmq's default).
  int send_timeout_ms = -1;
};
Status ApplySocketOptions(zmq::socket_t& socket, const SocketOptions& options);

// Binds and returns the endpoint actually bound ("tcp://127.0.0.1:41234" for "tcp://127.0.0.1:0").
// Port 0 or "*" picks an ephemeral port. A port in use is kAlreadyExists naming the endpoint.
Result<std::string> Bind(zmq::socket_t& socket, const std::string& endpoint);
// Port of "tcp://host:port"; 0 when absent.
std::uint16_t EndpointPort(const std::string& endpoint);
// Host part of "tcp://host:port".
std::string EndpointHost(const std::string& endpoint);
// "tcp://host:port" from a host and a port.
std::string MakeEndpoint(const std::string& host, std::uint16_t port);

// Sends all frames as one multipart message. Non-blocking when `dontwait`; then a full queue is
// kUnavailable. An unroutable ROUTER destination (peer gone) is kUnavailable too.
Status SendFrames(zmq::socket_t& socket, std::vector<zmq::message_t>& frames, bool dontwait = false);
Status SendBytes(zmq::socket_t& socket, ByteSpan payload);  // one frame
// Receives one multipart message (non-blocking: nullopt when nothing is waiting). Refuses
// messages of more than `max_frames` frames (drains them).
Result<std::optional<std::vector<zmq::message_t>>> RecvFrames(zmq::socket_t& socket,
                                                              std::size_t max_frames);

inline ByteSpan FrameBytes(const zmq::message_t& m) {
  return {static_cast<const std::uint8_t*>(m.data()), m.size()};
}

// A frame that references `data` without copying; `keepalive` is released when libzmq is done
// with the frame (it may outlive the send call).
zmq::message_t ZeroCopyFrame(const std::uint8_t* data, std::size_t size,
                             std::shared_ptr<const void> keepalive);

// Send buffers, reused: a frame from Take() returns its buffer to the pool when libzmq is done
// with it (libzmq calls back on its I/O thread), and a later Take() hands that buffer out again.
// A participant's upload sends a model's worth of ~1 MiB frames every round; allocated one by
// one, glibc grew and trimmed its heap every round (page faults and madvise calls on both
// threads; docs/performance.md, "Participants' upload frames"). Buffers share one capacity, the
// largest size asked for so far (a larger request drops the idle ones); at most `keep` buffers
// and `keep_bytes` wait idle, and a frame returned beyond that is freed. Buffers are not wiped on
// return: callers send ciphertext. Thread-safe; frames may outlive the pool.
class FramePool {
 public:
  FramePool(std::size_t keep, std::size_t keep_bytes);
  // A frame of `size` bytes whose contents the caller fills before sending (not zeroed).
  zmq::message_t Take(std::size_t size);
  std::size_t idle() const;
  std::size_t capacity() const;

  struct Shared;

 private:
  std::shared_ptr<Shared> shared_;
};

// ZAP (RFC 27) handler for CURVE: admits a client whose public key `lookup` maps to an identity,
// which becomes the connection's User-Id (messages from it carry `gets("User-Id")`). Runs its
// own thread on inproc://zeromq.zap.01 of `context`; must be created before any CURVE server
// socket binds. `lookup` is called on that thread and must be thread-safe.
class ZapAuthenticator {
 public:
  using Lookup = std::function<std::optional<std::string>(const CurveKey& client_key)>;
  static Result<std::unique_ptr<ZapAuthenticator>> Start(zmq::context_t& context, Lookup lookup);
  ~ZapAuthenticator();
  ZapAuthenticator(const ZapAuthenticator&) = delete;
  ZapAuthenticator& operator=(const ZapAuthenticator&) = delete;
  std::uint64_t accepted() const { return accepted_.load(); }
  std::uint64_t refused() const { return refused_.load(); }

 private:
  ZapAuthenticator(zmq::context_t& context, Lookup lookup);
  void Loop();
  zmq::context_t& context_;
  Lookup lookup_;
  zmq::socket_t socket_;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> accepted_{0};
  std::atomic<std::uint64_t> refused_{0};
  std::thread thread_;
};

// Watches a client socket's handshake through a socket monitor, so the client can tell "the
// server refused my key" (ZAP status 400) and "no server answered" apart.
class HandshakeMonitor {
 public:
  enum class State { kPending, kSucceeded, kAuthFailed, kProtocolFailed, kDisconnected };
  static Result<std::unique_ptr<HandshakeMonitor>> Attach(zmq::context_t& context,
                                                          zmq::socket_t& socket,
                                                          const std::string& name);
  // Drains pending monitor events (non-blocking) and returns the latest state. A disconnect
  // after a successful handshake is kDisconnected (the peer went away or restarted).
  State Poll();
  zmq::socket_t& socket() { return monitor_; }

 private:
  explicit HandshakeMonitor(zmq::socket_t monitor) : monitor_(std::move(monitor)) {}
  zmq::socket_t monitor_;
  State state_ = State::kPending;
};

}  // namespace cairn::net
