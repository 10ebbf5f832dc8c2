#include "layers/ids.hpp"

#include <algorithm>
#include <array>

namespace bc {

namespace {

constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
constexpr std::size_t kPayload = 32 + 4;                   // id bytes + checksum
constexpr std::size_t kChars = (kPayload * 8 + 4) / 5;    // 58 base32 characters
constexpr std::string_view kChecksumTag = "blockcloud/id-text";

int base32_value(char c) {
  if (c >= 'a' && c <= 'z') return c - 'a';
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= '2' && c <= '7') return c - '2' + 26;
  return -1;
}

std::array<std::uint8_t, 4> checksum(char kind, const Hash256& id) {
  std::array<std::uint8_t, 33> buf;
  buf[0] = static_cast<std::uint8_t>(kind);
  std::copy(id.bytes.begin(), id.bytes.end(), buf.begin() + 1);
  Hash256 h = tagged_hash(kChecksumTag, buf);
  return {h.bytes[0], h.bytes[1], h.bytes[2], h.bytes[3]};
}

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

}  // namespace

NodeId node_id_of(const XOnlyPubKey& key) { return sha256(key.view()); }

std::string id_to_text(char kind, const Hash256& id) {
  kind = lower(kind);
  std::array<std::uint8_t, kPayload> payload;
  std::copy(id.bytes.begin(), id.bytes.end(), payload.begin());
  auto sum = checksum(kind, id);
  std::copy(sum.begin(), sum.end(), payload.begin() + 32);

  std::string out;
  out.reserve(1 + kChars);
  out.push_back(kind);
  std::uint32_t acc = 0;
  int bits = 0;
  for (std::uint8_t b : payload) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out.push_back(kAlphabet[(acc >> (bits - 5)) & 31]);
      bits -= 5;
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(acc << (5 - bits)) & 31]);
  return out;
}

std::optional<Hash256> id_from_text(char kind, std::string_view text) {
  if (text.size() != 1 + kChars || lower(text[0]) != lower(kind)) return std::nullopt;
  std::array<std::uint8_t, kPayload> payload{};
  std::size_t n = 0;
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : text.substr(1)) {
    int v = base32_value(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 5) | static_cast<std::uint32_t>(v);
    bits += 5;
    if (bits >= 8) {
      payload[n++] = static_cast<std::uint8_t>(acc >> (bits - 8));
      bits -= 8;
    }
  }
  // Leftover padding bits must be zero: otherwise two spellings would decode
  // to the same ID and a typo in the last character could go unnoticed.
  if ((acc & ((1u << bits) - 1)) != 0) return std::nullopt;
  Hash256 id;
  std::copy(payload.begin(), payload.begin() + 32, id.bytes.begin());
  auto sum = checksum(lower(kind), id);
  if (!std::equal(sum.begin(), sum.end(), payload.begin() + 32)) return std::nullopt;
  return id;
}

}  // namespace bc
