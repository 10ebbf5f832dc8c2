// What a provider records per stored shard (its index entry; the encoding
// is in shard_store.cpp).
#pragma once
#include <cstdint>

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

}  // namespace bc::storage
