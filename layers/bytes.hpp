// Byte buffers and fixed-size 256-bit values shared by every layer.
#pragma once
#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace bc {

using Bytes = std::vector<std::uint8_t>;
using ByteView = std::span<const std::uint8_t>;

inline ByteView as_bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

std::string to_hex(ByteView data);
// Parses lowercase or uppercase hex; nullopt on odd length or a non-hex digit.
std::optional<Bytes> from_hex(std::string_view hex);

// A 256-bit value: SHA-256 digests, node IDs, DHT keys. Ordered bytewise
// (big-endian), which is also the XOR-metric order used by the DHT.
struct Hash256 {
  std::array<std::uint8_t, 32> bytes{};

  static constexpr std::size_t size() { return 32; }
  const std::uint8_t* data() const { return bytes.data(); }
  std::uint8_t* data() { return bytes.data(); }
  ByteView view() const { return {bytes.data(), bytes.size()}; }
  bool is_zero() const;

  std::string hex() const { return to_hex(view()); }
  static std::optional<Hash256> from_hex(std::string_view hex);
  // Copies exactly 32 bytes; nullopt otherwise.
  static std::optional<Hash256> from_bytes(ByteView data);

  friend auto operator<=>(const Hash256&, const Hash256&) = default;
};

// XOR distance (Kademlia metric).
Hash256 operator^(const Hash256& a, const Hash256& b);
// Number of leading bits a and b share (256 when equal).
int common_prefix_bits(const Hash256& a, const Hash256& b);

struct Hash256Hasher {
  std::size_t operator()(const Hash256& h) const noexcept {
    std::size_t v;
    static_assert(sizeof(v) <= 32);
    __builtin_memcpy(&v, h.bytes.data(), sizeof(v));
    return v;
  }
};

}  // namespace bc
