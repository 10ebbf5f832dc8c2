// What a provider records per stored shard (its index entry; the encoding
// is in shard_store.cpp).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "apps/storage/format.hpp"
#include "layers/runtime.hpp"

namespace bc::storage {

struct ShardMeta {
  std::uint64_t size = 0;
  TimeMs expires_at = 0;
  Hash256 delete_token_hash;
  // Payment (docs/storage.md "Unpaid objects"): the escrow the put named
  // (zero: none), when it was stored, and the provider's price then (zero:
  // free, as is every entry written before these fields existed).
  Hash256 escrow_id;
  TimeMs stored_at = 0;
  std::uint64_t price = 0;
};

// The index entry's value: 96 bytes. decode_meta also reads entries of the
// first format (48 bytes: no escrow, stored time or price) and returns
// nullopt for any other length.
std::string encode_meta(const ShardMeta& m);
std::optional<ShardMeta> decode_meta(std::string_view v);

}  // namespace bc::storage
