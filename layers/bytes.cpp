#include "layers/bytes.hpp"

#include <algorithm>

namespace bc {

namespace {
constexpr char kHexDigits[] = "0123456789abcdef";

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

std::string to_hex(ByteView data) {
  std::string out(data.size() * 2, '\0');
  for (std::size_t i = 0; i < data.size(); ++i) {
    out[2 * i] = kHexDigits[data[i] >> 4];
    out[2 * i + 1] = kHexDigits[data[i] & 0x0f];
  }
  return out;
}

std::optional<Bytes> from_hex(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  Bytes out(hex.size() / 2);
  for (std::size_t i = 0; i < out.size(); ++i) {
    int hi = hex_value(hex[2 * i]);
    int lo = hex_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out[i] = static_cast<std::uint8_t>((hi << 4) | lo);
  }
  return out;
}

bool Hash256::is_zero() const {
  for (auto b : bytes)
    if (b != 0) return false;
  return true;
}

std::optional<Hash256> Hash256::from_hex(std::string_view hex) {
  if (hex.size() != 64) return std::nullopt;
  auto raw = bc::from_hex(hex);
  if (!raw) return std::nullopt;
  return from_bytes(*raw);
}

std::optional<Hash256> Hash256::from_bytes(ByteView data) {
  if (data.size() != 32) return std::nullopt;
  Hash256 h;
  std::copy(data.begin(), data.end(), h.bytes.begin());
  return h;
}

Hash256 operator^(const Hash256& a, const Hash256& b) {
  Hash256 r;
  for (std::size_t i = 0; i < 32; ++i) r.bytes[i] = a.bytes[i] ^ b.bytes[i];
  return r;
}


}  // namespace bc
