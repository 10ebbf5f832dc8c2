// storage::ShardPins: the shards this provider's storage offers commit to
// (docs/storage.md "Committed shards"). A committed shard is audited until
// its chunk list is released, so the store keeps it: the owner's delete,
// the expiry collector and the unpaid collector all leave it in place. A
// shard may be in several lists; it stays pinned until the last is released.
//
// Threads: the store's loop thread only.
#pragma once
#include <cstdint>
#include <span>
#include <unordered_map>

#include "apps/storage/format.hpp"
#include "layers/assert.hpp"

namespace bc::storage {

class ShardPins {
 public:
  void pin(std::span<const ShardId> shards) {
    for (const auto& id : shards) ++count_[id];
  }
  // REQUIRES: each shard was pinned by a pin() not yet matched by an unpin().
  void unpin(std::span<const ShardId> shards) {
    for (const auto& id : shards) {
      auto it = count_.find(id);
      BC_ASSERT(it != count_.end() && it->second > 0);
      if (--it->second == 0) count_.erase(it);
    }
  }
  bool contains(const ShardId& id) const { return count_.contains(id); }
  std::size_t size() const { return count_.size(); }

 private:
  std::unordered_map<ShardId, std::uint32_t, Hash256Hasher> count_;  // shard -> the lists that name it
};

}  // namespace bc::storage
