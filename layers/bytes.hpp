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

  // Word-wise: these run in every table, map and lookup of the DHT, where a
  // memcmp call per comparison showed up as its largest single cost.
  friend bool operator==(const Hash256& a, const Hash256& b) {
    std::uint64_t x[4], y[4];
    __builtin_memcpy(x, a.bytes.data(), 32);
    __builtin_memcpy(y, b.bytes.data(), 32);
    return ((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2]) | (x[3] ^ y[3])) == 0;
  }
  friend std::strong_ordering operator<=>(const Hash256& a, const Hash256& b);
};

namespace detail {
// Big-endian 64-bit word i (0..3) of h: comparing words in order compares
// the 256-bit numbers.
inline std::uint64_t be_word(const Hash256& h, int i) {
  std::uint64_t v;
  __builtin_memcpy(&v, h.bytes.data() + 8 * i, 8);
  return __builtin_bswap64(v);
}
}  // namespace detail

// Lexicographic byte order, i.e. the order of the big-endian 256-bit numbers.
inline std::strong_ordering operator<=>(const Hash256& a, const Hash256& b) {
  for (int i = 0; i < 4; ++i) {
    const std::uint64_t x = detail::be_word(a, i), y = detail::be_word(b, i);
    if (x != y) return x < y ? std::strong_ordering::less : std::strong_ordering::greater;
  }
  return std::strong_ordering::equal;
}

// XOR distance (Kademlia metric).
Hash256 operator^(const Hash256& a, const Hash256& b);
// Number of leading bits a and b share (256 when equal).
inline int common_prefix_bits(const Hash256& a, const Hash256& b) {
  for (int i = 0; i < 4; ++i) {
    const std::uint64_t x = detail::be_word(a, i) ^ detail::be_word(b, i);
    if (x != 0) return 64 * i + __builtin_clzll(x);
  }
  return 256;
}
// (a ^ target) < (b ^ target), without building either distance: lookups
// and routing tables sort by it in their inner loops.
inline bool closer_to(const Hash256& target, const Hash256& a, const Hash256& b) {
  for (int i = 0; i < 4; ++i) {
    const std::uint64_t t = detail::be_word(target, i);
    const std::uint64_t da = detail::be_word(a, i) ^ t, db = detail::be_word(b, i) ^ t;
    if (da != db) return da < db;
  }
  return false;
}

struct Hash256Hasher {
  std::size_t operator()(const Hash256& h) const noexcept {
    std::size_t v;
    static_assert(sizeof(v) <= 32);
    __builtin_memcpy(&v, h.bytes.data(), sizeof(v));
    return v;
  }
};

}  // namespace bc
