#include "common/net/net.h"

#include <cstring>
#include <mutex>

namespace cairn::net {

std::string Z85Encode(const CurveKey& key) {
  char out[41];
  zmq_z85_encode(out, key.data(), key.size());
  return std::string(out, 40);
}

Result<CurveKey> Z85Decode(std::string_view text) {
  if (text.size() != 40) {
    return Fail(ErrorCode::kInvalidArgument,
                "a Z85 Curve key has 40 characters, got " + std::to_string(text.size()));
  }
  // zmq_z85_decode wants a NUL-terminated string: a stack copy, wiped after (the text may be a
  // secret key: no heap copy of it is freed unwiped).
  char terminated[41];
  std::memcpy(terminated, text.data(), 40);
  terminated[40] = '\0';
  CurveKey key;
  const bool ok = zmq_z85_decode(key.data(), terminated) != nullptr;
  ::explicit_bzero(terminated, sizeof terminated);
  if (!ok) return Fail(ErrorCode::kInvalidArgument, "not a valid Z85 Curve key");
  return key;
}

Result<CurveKey> ParseCurveKey(std::string_view text) {
  if (text.size() == 40) return Z85Decode(text);
  if (text.size() == 64) {
    CAIRN_ASSIGN_OR_RETURN(Bytes b, HexDecode(text));
    CurveKey key;
    std::memcpy(key.data(), b.data(), 32);
    return key;
  }
  return Fail(ErrorCode::kInvalidArgument, "a Curve public key is 40 Z85 or 64 hex characters, got " +
                                               std::to_string(text.size()));
}

Status ApplySocketOptions(zmq::socket_t& socket, const SocketOptions& o) {
  try {
    socket.set(zmq::sockopt::linger, 0);
    socket.set(zmq::sockopt::maxmsgsize, o.max_message_bytes);
    socket.set(zmq::sockopt::sndhwm, o.send_hwm);
    socket.set(zmq::sockopt::rcvhwm, o.recv_hwm);
    socket.set(zmq::sockopt::sndtimeo, o.send_timeout_ms);
    if (o.heartbeat_ms > 0) {
      socket.set(zmq::sockopt::heartbeat_ivl, o.heartbeat_ms);
      socket.set(zmq::sockopt::heartbeat_timeout, o.heartbeat_timeout_ms);
      socket.set(zmq::sockopt::heartbeat_ttl, o.heartbeat_timeout_ms);
    }
  } catch (const zmq::error_t& e) {
    return Fail(ErrorCode::kInternal, std::string("cannot set socket options: ") + e.what());
  }
  return Ok();
}

Result<std::string> Bind(zmq::socket_t& socket, const std::string& endpoint) {
  std::string ep = endpoint;
  // "tcp://host:0" means "any free port", which libzmq spells "*".
  if (ep.size() > 2 && ep.compare(ep.size() - 2, 2, ":0") == 0) ep = ep.substr(0, ep.size() - 1) + "*";
  try {
    socket.bind(ep);
  } catch (const zmq::error_t& e) {
    if (e.num() == EADDRINUSE) {
      return Fail(ErrorCode::kAlreadyExists, "cannot listen on " + endpoint +
                                                 ": the address is already in use (another process holds the port)");
    }
    return Fail(ErrorCode::kInvalidArgument, "cannot listen on " + endpoint + ": " + e.what());
  }
  return socket.get(zmq::sockopt::last_endpoint);
}

std::uint16_t EndpointPort(const std::string& endpoint) {
  auto pos = endpoint.rfind(':');
  if (pos == std::string::npos) return 0;
  try {
    int port = std::stoi(endpoint.substr(pos + 1));
    return (port > 0 && port < 65536) ? static_cast<std::uint16_t>(port) : 0;
  } catch (...) {
    return 0;
  }
}

std::string EndpointHost(const std::string& endpoint) {
  std::string rest = endpoint;
  if (auto p = rest.find("://"); p != std::string::npos) rest = rest.substr(p + 3);
  if (auto p = rest.rfind(':'); p != std::string::npos) rest = rest.substr(0, p);
  return rest;
}

std::string MakeEndpoint(const std::string& host, std::uint16_t port) {
  return "tcp://" + host + ":" + std::to_string(port);
}

Status SendFrames(zmq::socket_t& socket, std::vector<zmq::message_t>& frames, bool dontwait) {
  try {
    for (std::size_t i = 0; i < frames.size(); ++i) {
      auto flags = (i + 1 < frames.size()) ? zmq::send_flags::sndmore : zmq::send_flags::none;
      if (dontwait) flags = flags | zmq::send_flags::dontwait;
      auto sent = socket.send(frames[i], flags);
      if (!sent) return Fail(ErrorCode::kUnavailable, "send queue is full (the peer is not reading, or gone)");
    }
  } catch (const zmq::error_t& e) {
    if (e.num() == EHOSTUNREACH) return Fail(ErrorCode::kUnavailable, "peer is no longer connected");
    return Fail(ErrorCode::kUnavailable, std::string("send failed: ") + e.what());
  }
  return Ok();
}

Status SendBytes(zmq::socket_t& socket, ByteSpan payload) {
  std::vector<zmq::message_t> frames;
  frames.emplace_back(payload.data(), payload.size());
  return SendFrames(socket, frames);
}

Result<std::optional<std::vector<zmq::message_t>>> RecvFrames(zmq::socket_t& socket,
                                                              std::size_t max_frames) {
  std::vector<zmq::message_t> frames;
  try {
    while (true) {
      zmq::message_t msg;
      auto got = socket.recv(msg, frames.empty() ? zmq::recv_flags::dontwait : zmq::recv_flags::none);
      if (!got) return std::optional<std::vector<zmq::message_t>>();
      bool more = msg.more();
      if (frames.size() < max_frames) frames.push_back(std::move(msg));
      if (!more) break;
    }
  } catch (const zmq::error_t& e) {
    return Fail(ErrorCode::kUnavailable, std::string("receive failed: ") + e.what());
  }
  return std::optional<std::vector<zmq::message_t>>(std::move(frames));
}

namespace {
void ReleaseKeepalive(void* /*data*/, void* hint) {
  delete static_cast<std::shared_ptr<const void>*>(hint);
}
}  // namespace

zmq::message_t ZeroCopyFrame(const std::uint8_t* data, std::size_t size,
                             std::shared_ptr<const void> keepalive) {
  auto* holder = new std::shared_ptr<const void>(std::move(keepalive));
  return zmq::message_t(const_cast<std::uint8_t*>(data), size, &ReleaseKeepalive, holder);
}

// ---------------------------------------------------------------------------------------------

struct FramePool::Shared {
  mutable std::mutex mu;
  std::size_t keep = 0;
  std::size_t keep_bytes = 0;
  std::size_t capacity = 0;
  std::vector<std::unique_ptr<std::uint8_t[]>> idle;
};

namespace {

// libzmq's hint for a pooled frame: where its buffer goes back, and the capacity it has.
struct FrameTicket {
  std::shared_ptr<FramePool::Shared> pool;
  std::size_t capacity;
};

void ReturnFrame(void* data, void* hint) {
  std::unique_ptr<FrameTicket> ticket(static_cast<FrameTicket*>(hint));
  std::unique_ptr<std::uint8_t[]> buffer(static_cast<std::uint8_t*>(data));
  FramePool::Shared& pool = *ticket->pool;
  std::lock_guard lock(pool.mu);
  if (ticket->capacity == pool.capacity && pool.idle.size() < pool.keep &&
      (pool.idle.size() + 1) * pool.capacity <= pool.keep_bytes) {
    pool.idle.push_back(std::move(buffer));
  }
}

}  // namespace

FramePool::FramePool(std::size_t keep, std::size_t keep_bytes) : shared_(std::make_shared<Shared>()) {
  shared_->keep = keep;
  shared_->keep_bytes = keep_bytes;
}

zmq::message_t FramePool::Take(std::size_t size) {
  std::unique_ptr<std::uint8_t[]> buffer;
  std::vector<std::unique_ptr<std::uint8_t[]>> dropped;  // freed outside the lock
  std::size_t capacity;
  {
    std::lock_guard lock(shared_->mu);
    if (size > shared_->capacity) {
      dropped = std::move(shared_->idle);
      shared_->idle.clear();
      shared_->capacity = size;
    }
    capacity = shared_->capacity;
    if (!shared_->idle.empty()) {
      buffer = std::move(shared_->idle.back());
      shared_->idle.pop_back();
    }
  }
  if (!buffer) buffer.reset(new std::uint8_t[capacity]);
  auto ticket = std::make_unique<FrameTicket>(FrameTicket{shared_, capacity});
  zmq::message_t frame(buffer.get(), size, &ReturnFrame, ticket.get());  // throws only before taking them
  buffer.release();
  ticket.release();
  return frame;
}

std::size_t FramePool::idle() const {
  std::lock_guard lock(shared_->mu);
  return shared_->idle.size();
}

std::size_t FramePool::capacity() const {
  std::lock_guard lock(shared_->mu);
  return shared_->capacity;
}

// ---------------------------------------------------------------------------------------------

ZapAuthenticator::ZapAuthenticator(zmq::context_t& context, Lookup lookup)
    : context_(context), lookup_(std::move(lookup)), socket_(context, zmq::socket_type::rep) {}

Result<std::unique_ptr<ZapAuthenticator>> ZapAuthenticator::Start(zmq::context_t& context,
                                                                  Lookup lookup) {
  std::unique_ptr<ZapAuthenticator> zap(new ZapAuthenticator(context, std::move(lookup)));
  try {
    zap->socket_.set(zmq::sockopt::linger, 0);
    zap->socket_.bind("inproc://zeromq.zap.01");
  } catch (const zmq::error_t& e) {
    return Fail(ErrorCode::kInternal, std::string("cannot start the ZAP handler: ") + e.what());
  }
  ZapAuthenticator* raw = zap.get();
  zap->thread_ = std::thread([raw] { raw->Loop(); });
  return zap;
}

ZapAuthenticator::~ZapAuthenticator() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void ZapAuthenticator::Loop() {
  // RFC 27 request: version "1.0", request id, domain, address, identity, mechanism, credentials.
  while (!stop_) {
    zmq::pollitem_t item{static_cast<void*>(socket_), 0, ZMQ_POLLIN, 0};
    try {
      zmq::poll(&item, 1, std::chrono::milliseconds(100));
    } catch (const zmq::error_t&) {
      return;
    }
    if (!(item.revents & ZMQ_POLLIN)) continue;
    auto frames = RecvFrames(socket_, 8);
    if (!frames || !*frames) continue;
    auto& f = **frames;
    std::string status = "400", text = "refused", user;
    std::string version = f.size() > 0 ? f[0].to_string() : "";
    std::string request_id = f.size() > 1 ? f[1].to_string() : "";
    if (f.size() >= 7 && version == "1.0" && f[5].to_string() == "CURVE" && f[6].size() == 32) {
      CurveKey key;
      std::memcpy(key.data(), f[6].data(), 32);
      if (auto id = lookup_(key)) {
        status = "200";
        text = "OK";
        user = *id;
        ++accepted_;
      } else {
        text = "client key is not in the federation roster";
        ++refused_;
      }
    } else {
      ++refused_;
    }
    std::vector<zmq::message_t> reply;
    reply.emplace_back(std::string("1.0"));
    reply.emplace_back(request_id);
    reply.emplace_back(status);
    reply.emplace_back(text);
    reply.emplace_back(user);
    reply.emplace_back();
    (void)SendFrames(socket_, reply);
  }
}

// ---------------------------------------------------------------------------------------------

Result<std::unique_ptr<HandshakeMonitor>> HandshakeMonitor::Attach(zmq::context_t& context,
                                                                   zmq::socket_t& socket,
                                                                   const std::string& name) {
  std::string addr = "inproc://monitor-" + name;
  int rc = zmq_socket_monitor(static_cast<void*>(socket), addr.c_str(),
                              ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                                  ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_DISCONNECTED);
  if (rc != 0) return Fail(ErrorCode::kInternal, "cannot monitor the control socket");
  zmq::socket_t mon(context, zmq::socket_type::pair);
  try {
    mon.set(zmq::sockopt::linger, 0);
    mon.connect(addr);
  } catch (const zmq::error_t& e) {
    return Fail(ErrorCode::kInternal, std::string("cannot connect the socket monitor: ") + e.what());
  }
  return std::unique_ptr<HandshakeMonitor>(new HandshakeMonitor(std::move(mon)));
}

HandshakeMonitor::State HandshakeMonitor::Poll() {
  while (true) {
    zmq::message_t event, address;
    auto got = monitor_.recv(event, zmq::recv_flags::dontwait);
    if (!got) break;
    if (event.more()) (void)monitor_.recv(address, zmq::recv_flags::none);
    if (event.size() < 6) continue;
    std::uint16_t id;
    std::memcpy(&id, event.data(), 2);
    if (id == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) state_ = State::kSucceeded;
    else if (id == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) state_ = State::kAuthFailed;
    else if (id == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) state_ = State::kProtocolFailed;
    else if (id == ZMQ_EVENT_DISCONNECTED && state_ == State::kSucceeded) state_ = State::kDisconnected;
  }
  return state_;
}

}  // namespace cairn::net
