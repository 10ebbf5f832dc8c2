// The vocabulary every protocol core and driver shares: the driver's clock
// (TimeMs), network endpoints and the deterministic protocol RNG. The core
// contract itself (Outbox, DatagramProtocol, StreamProtocol) is in
// layers/core.hpp.
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

}  // namespace bc
