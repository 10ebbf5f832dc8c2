// Runs one sans-I/O DatagramProtocol (layers/runtime.hpp) on a real UDP
// socket and one timer of a Boost.Asio io_context, with the system clock.
//
// Single-threaded by design: every call into the protocol happens on the
// thread running the io_context. Code on another thread reaches the protocol
// through post(); code already on the io thread (an RPC handler on the same
// io_context) may use call(), which runs at once.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include <boost/asio/io_context.hpp>

#include "layers/metrics.hpp"
#include "layers/core.hpp"

namespace bc {

struct AsioUdpDriverOptions {
  // Largest datagram handed to the protocol; larger ones are dropped and
  // counted. Use the protocol's own limit (DhtConfig::max_datagram_bytes).
  std::size_t max_datagram_bytes = 64 * 1024;
  // SO_RCVBUF asked for (the kernel caps it at net.core.rmem_max). The
  // default 208 KiB overflows when replies to 64 parallel lookups arrive
  // while the thread verifies signatures; lost replies cost a timeout each.
  std::size_t receive_buffer_bytes = 4u << 20;
  // Optional: where the driver's bc_udp_* counters live. Must outlive the driver.
  metrics::Registry* metrics = nullptr;
};

struct AsioUdpDriverStats {
  std::uint64_t received = 0;          // datagrams handed to the protocol
  std::uint64_t received_bytes = 0;
  std::uint64_t oversized_dropped = 0; // larger than max_datagram_bytes
  std::uint64_t receive_errors = 0;
  std::uint64_t sent = 0;
  std::uint64_t sent_bytes = 0;
  std::uint64_t send_errors = 0;       // includes a full socket buffer (datagram dropped)
  std::uint64_t ticks = 0;
};

class AsioUdpDriver {
 public:
  // Binds a UDP socket on `bind`. Throws std::runtime_error naming the address
  // and saying what to do if it is in use, not local, or otherwise unusable.
  // `protocol` must outlive the driver. Nothing runs until start().
  AsioUdpDriver(boost::asio::io_context& io, DatagramProtocol& protocol, const Endpoint& bind,
                AsioUdpDriverOptions options = {});
  ~AsioUdpDriver();
  AsioUdpDriver(const AsioUdpDriver&) = delete;
  AsioUdpDriver& operator=(const AsioUdpDriver&) = delete;

  // Starts receiving and arms the timer at the protocol's next_wakeup().
  void start();
  // Closes the socket and cancels the timer; pending handlers complete as
  // aborted. Idempotent. Must run on the io thread (or before io.run()).
  void stop();

  // Runs fn on the io thread with the current time and an Outbox, then sends
  // the outbox and re-arms the timer. Safe to call from any thread. Calls
  // that run after stop() are dropped.
  void post(std::function<void(TimeMs now, Outbox& out)> fn);
  // Same, but runs fn at once: only from the io thread.
  void call(const std::function<void(TimeMs now, Outbox& out)>& fn);

  // Moves to a new local address (the node's address changed): binds a
  // socket there, then closes the old one. Throws like the constructor, and
  // then the old socket stays in use. Io thread only. Tell the protocol next
  // (DhtNode::set_endpoint).
  void rebind(const Endpoint& at);

  // The bound address (the real port when bound to port 0).
  Endpoint local_endpoint() const;
  AsioUdpDriverStats stats() const;  // io thread only (plain counters)

  // System clock, Unix milliseconds: the time every protocol input carries.
  static TimeMs now_ms();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;  // shared: in-flight handlers keep it alive
};

}  // namespace bc
