// The sans-I/O contract between protocol cores and the drivers that run them.
//
// A protocol core (a DHT node, later a flow or a BFT round) never touches a
// socket, a thread, a clock or a global RNG. A driver feeds it inputs (a
// datagram, a tick, an API call), each with the current time, and carries out
// the outputs it leaves in an Outbox. Three drivers run the same core:
//   - AsioUdpDriver (layers/asio_driver.hpp): real UDP sockets in blockcloudd;
//   - MemNet (layers/memnet.hpp): an in-memory, seeded, deterministic network
//     for tests (latency, loss, duplication, partitions);
//   - the SimGrid driver in simulations/ for 10k-100k node runs.
// Given the same seed and inputs, a core produces the same outputs.
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "layers/bytes.hpp"

namespace bc {

// Milliseconds since the Unix epoch on the driver's clock: the system clock in
// real nodes, a virtual clock in tests and simulations. Record expiry times
// are absolute values of this clock.
using TimeMs = std::int64_t;

// An IPv4 or IPv6 address with a port, independent of any socket library.
// IPv4 addresses are held IPv4-mapped (::ffff:a.b.c.d).
struct Endpoint {
  std::array<std::uint8_t, 16> ip{};
  std::uint16_t port = 0;

  static Endpoint v4(std::uint32_t host_order_addr, std::uint16_t port);
  // "127.0.0.2:4000" or "[::1]:4000"; nullopt if malformed.
  static std::optional<Endpoint> parse(std::string_view text);
  // Address alone: "127.0.0.2" or "::1"; nullopt if malformed.
  static std::optional<Endpoint> parse_ip(std::string_view ip_text, std::uint16_t port);
  bool is_v4() const;
  std::uint32_t v4_addr() const;  // host order; only if is_v4()
  std::string ip_string() const;
  std::string to_string() const;  // round-trips through parse()

  friend auto operator<=>(const Endpoint&, const Endpoint&) = default;
};

struct EndpointHasher {
  std::size_t operator()(const Endpoint& e) const noexcept;
};

// Deterministic PRNG (xoshiro256**) for protocol decisions: lookup IDs,
// jitter, tie-breaks. Seeded by the driver (from the CSPRNG in real nodes,
// from the run seed in tests and simulations). Never use it for keys.
class Rng {
 public:
  explicit Rng(std::uint64_t seed);
  std::uint64_t next();
  std::uint64_t uniform(std::uint64_t n);  // in [0, n); n > 0
  double unit();                           // in [0, 1)
  void fill(std::span<std::uint8_t> out);

 private:
  std::array<std::uint64_t, 4> s_{};
};

// What a protocol core asks its driver to do after one input.
struct Outbox {
  struct Datagram {
    Endpoint to;
    Bytes payload;
  };
  std::vector<Datagram> datagrams;

  void send(const Endpoint& to, Bytes payload) { datagrams.push_back({to, std::move(payload)}); }
  bool empty() const { return datagrams.empty(); }
  void clear() { datagrams.clear(); }
};

// A protocol core that speaks datagrams. Drivers call, on one thread at a time:
//   on_datagram() for each datagram received on the core's endpoint;
//   on_tick() whenever now >= next_wakeup() (calling it early is harmless);
//   the core's own API methods, each also taking now and an Outbox.
// After every call the driver sends out.datagrams and re-reads next_wakeup().
class DatagramProtocol {
 public:
  virtual ~DatagramProtocol() = default;
  virtual void on_datagram(const Endpoint& from, ByteView data, TimeMs now, Outbox& out) = 0;
  virtual void on_tick(TimeMs now, Outbox& out) = 0;
  virtual TimeMs next_wakeup() const = 0;
};

}  // namespace bc
