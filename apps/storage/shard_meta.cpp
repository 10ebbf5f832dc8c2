#include "apps/storage/shard_meta.hpp"

#include <cstring>

namespace bc::storage {
namespace {
constexpr std::size_t kMetaBytesV0 = 8 + 8 + 32;                 // size, expiry, token hash
constexpr std::size_t kMetaBytes = kMetaBytesV0 + 32 + 8 + 8;    // and escrow, stored at, price

void put_be64(char* p, std::uint64_t v) {
  for (int i = 7; i >= 0; --i, v >>= 8) p[i] = static_cast<char>(v & 0xff);
}
std::uint64_t get_be64(const char* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<std::uint8_t>(p[i]);
  return v;
}

}  // namespace

std::string encode_meta(const ShardMeta& m) {
  std::string v(kMetaBytes, '\0');
  put_be64(v.data(), m.size);
  put_be64(v.data() + 8, static_cast<std::uint64_t>(m.expires_at));
  std::memcpy(v.data() + 16, m.delete_token_hash.data(), 32);
  std::memcpy(v.data() + 48, m.escrow_id.data(), 32);
  put_be64(v.data() + 80, static_cast<std::uint64_t>(m.stored_at));
  put_be64(v.data() + 88, m.price);
  return v;
}

// Entries of the first format (kMetaBytesV0) name no escrow and no price:
// they decode as free, so no payment rule ever drops them.
std::optional<ShardMeta> decode_meta(std::string_view v) {
  if (v.size() != kMetaBytes && v.size() != kMetaBytesV0) return std::nullopt;
  ShardMeta m;
  m.size = get_be64(v.data());
  m.expires_at = static_cast<TimeMs>(get_be64(v.data() + 8));
  std::memcpy(m.delete_token_hash.data(), v.data() + 16, 32);
  if (v.size() == kMetaBytesV0) return m;
  std::memcpy(m.escrow_id.data(), v.data() + 48, 32);
  m.stored_at = static_cast<TimeMs>(get_be64(v.data() + 80) & INT64_MAX);
  m.price = get_be64(v.data() + 88);
  return m;
}

}  // namespace bc::storage
