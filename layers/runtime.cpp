#include "layers/runtime.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

namespace bc {

namespace {

constexpr std::array<std::uint8_t, 12> kV4MappedPrefix = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

std::optional<std::uint16_t> parse_port(std::string_view s) {
  if (s.empty() || s.size() > 5) return std::nullopt;
  std::uint32_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<std::uint32_t>(c - '0');
  }
  if (v > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(v);
}

std::uint64_t splitmix64(std::uint64_t& x) {
  std::uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

}  // namespace

// ---- Endpoint ---------------------------------------------------------------

Endpoint Endpoint::v4(std::uint32_t host_order_addr, std::uint16_t port) {
  Endpoint e;
  std::copy(kV4MappedPrefix.begin(), kV4MappedPrefix.end(), e.ip.begin());
  e.ip[12] = static_cast<std::uint8_t>(host_order_addr >> 24);
  e.ip[13] = static_cast<std::uint8_t>(host_order_addr >> 16);
  e.ip[14] = static_cast<std::uint8_t>(host_order_addr >> 8);
  e.ip[15] = static_cast<std::uint8_t>(host_order_addr);
  e.port = port;
  return e;
}

std::optional<Endpoint> Endpoint::parse_ip(std::string_view ip_text, std::uint16_t port) {
  if (ip_text.size() >= 2 && ip_text.front() == '[' && ip_text.back() == ']')
    ip_text = ip_text.substr(1, ip_text.size() - 2);
  if (ip_text.empty() || ip_text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
  char buf[INET6_ADDRSTRLEN];
  std::memcpy(buf, ip_text.data(), ip_text.size());
  buf[ip_text.size()] = '\0';

  Endpoint e;
  e.port = port;
  in_addr a4{};
  if (inet_pton(AF_INET, buf, &a4) == 1) return v4(ntohl(a4.s_addr), port);
  in6_addr a6{};
  if (inet_pton(AF_INET6, buf, &a6) == 1) {
    std::memcpy(e.ip.data(), &a6, 16);
    return e;
  }
  return std::nullopt;
}

std::optional<Endpoint> Endpoint::parse(std::string_view text) {
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') return std::nullopt;
    auto port = parse_port(text.substr(close + 2));
    if (!port) return std::nullopt;
    auto e = parse_ip(text.substr(1, close - 1), *port);
    // Brackets are for IPv6 only; "[1.2.3.4]:80" is not a valid form.
    if (!e || text.substr(1, close - 1).find(':') == std::string_view::npos) return std::nullopt;
    return e;
  }
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  auto host = text.substr(0, colon);
  // An unbracketed IPv6 address would make the port ambiguous.
  if (host.find(':') != std::string_view::npos) return std::nullopt;
  auto port = parse_port(text.substr(colon + 1));
  if (!port) return std::nullopt;
  return parse_ip(host, *port);
}

bool Endpoint::is_v4() const { return std::equal(kV4MappedPrefix.begin(), kV4MappedPrefix.end(), ip.begin()); }

std::uint32_t Endpoint::v4_addr() const {
  return (std::uint32_t{ip[12]} << 24) | (std::uint32_t{ip[13]} << 16) | (std::uint32_t{ip[14]} << 8) | ip[15];
}

std::string Endpoint::ip_string() const {
  char buf[INET6_ADDRSTRLEN];
  if (is_v4()) {
    in_addr a4{};
    std::memcpy(&a4, ip.data() + 12, 4);
    inet_ntop(AF_INET, &a4, buf, sizeof(buf));
  } else {
    in6_addr a6{};
    std::memcpy(&a6, ip.data(), 16);
    inet_ntop(AF_INET6, &a6, buf, sizeof(buf));
  }
  return buf;
}

std::string Endpoint::to_string() const {
  if (is_v4()) return ip_string() + ":" + std::to_string(port);
  return "[" + ip_string() + "]:" + std::to_string(port);
}

std::size_t EndpointHasher::operator()(const Endpoint& e) const noexcept {
  std::uint64_t a, b;
  std::memcpy(&a, e.ip.data(), 8);
  std::memcpy(&b, e.ip.data() + 8, 8);
  std::uint64_t x = a ^ rotl(b, 17) ^ (std::uint64_t{e.port} << 7);
  return static_cast<std::size_t>(splitmix64(x));
}

// ---- Rng (xoshiro256**) -----------------------------------------------------

Rng::Rng(std::uint64_t seed) {
  // splitmix64 spreads any seed, including 0, into a non-zero state.
  for (auto& w : s_) w = splitmix64(seed);
}

std::uint64_t Rng::next() {
  const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const std::uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

std::uint64_t Rng::uniform(std::uint64_t n) {
  if (n <= 1) return 0;
  // Lemire's multiply-and-reject: unbiased, usually one multiplication.
  unsigned __int128 m = static_cast<unsigned __int128>(next()) * n;
  auto low = static_cast<std::uint64_t>(m);
  if (low < n) {
    const std::uint64_t threshold = (0 - n) % n;
    while (low < threshold) {
      m = static_cast<unsigned __int128>(next()) * n;
      low = static_cast<std::uint64_t>(m);
    }
  }
  return static_cast<std::uint64_t>(m >> 64);
}

double Rng::unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

void Rng::fill(std::span<std::uint8_t> out) {
  while (!out.empty()) {
    std::uint64_t v = next();
    std::size_t n = std::min<std::size_t>(8, out.size());
    for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<std::uint8_t>(v >> (8 * i));  // same bytes on any host
    out = out.subspan(n);
  }
}

}  // namespace bc
