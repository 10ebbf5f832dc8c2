// Unpaid objects (docs/storage.md "Unpaid objects"): what a provider holds
// per escrow named by the puts. A provider with a price drops what no escrow
// pays for (storage::escrow_pays_for, payment.hpp) once the put is older
// than its grace period.
#pragma once
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <vector>

#include "apps/storage/shard_meta.hpp"

namespace bc::storage {

// The shards of one escrow (or of none: escrow zero) stored at a price.
struct Holding {
  Hash256 escrow;  // zero: the puts named none
  std::uint64_t bytes = 0;
  TimeMs first_stored_at = 0;
  TimeMs last_expires_at = 0;
  std::uint64_t price = 0;  // the lowest price among its shards' puts
  std::vector<ShardId> shards;
};

// Every priced shard (price > 0) grouped by the escrow its put named;
// free shards (price 0, and entries from before payment was recorded) are
// not held here. One thread: the store's loop thread.
class EscrowHoldings {
 public:
  void add(const ShardId& id, const ShardMeta& m);
  void remove(const ShardId& id, const ShardMeta& m);
  // Up to `max` holdings whose first shard was stored before
  // `stored_before`, leaving out those `skip(escrow, bytes)` is true for.
  using Skip = std::function<bool(const Hash256& escrow, std::uint64_t bytes)>;
  std::vector<Holding> due(TimeMs stored_before, std::size_t max, const Skip& skip = nullptr) const;
  std::size_t size() const { return by_escrow_.size(); }

 private:
  struct Entry {
    std::uint64_t bytes = 0;
    std::multiset<TimeMs> stored_at;
    std::multiset<TimeMs> expires_at;
    std::multiset<std::uint64_t> price;
    std::set<ShardId> shards;
  };
  std::map<Hash256, Entry> by_escrow_;
};

}  // namespace bc::storage
