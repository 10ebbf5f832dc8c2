// One Kademlia routing table: 256 k-buckets indexed by the number of leading
// bits a contact's id shares with ours, each in LRU order (least recently
// seen first) with a replacement cache of up to k spares.
//
// Only contacts that proved their id (PING/PONG) are given to observe(); the
// table itself is pure bookkeeping and has no I/O. The DHT node keeps one
// table per cluster level.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "layers/ids.hpp"
#include "layers/runtime.hpp"

namespace bc::routing {

struct TableEntry {
  NodeId id;
  Endpoint endpoint;
  TimeMs last_seen = 0;
  int fails = 0;  // consecutive failed requests
};

class RoutingTable {
 public:
  static constexpr int kBuckets = 256;

  RoutingTable(const NodeId& self, std::size_t k);

  enum class Observed {
    kAdded,       // new entry in its bucket
    kUpdated,     // already there: moved to most-recent, endpoint refreshed
    kBucketFull,  // kept in the replacement cache; ping `lru` to make room
    kSelf,        // our own id: ignored
  };
  struct ObserveResult {
    Observed outcome;
    std::optional<TableEntry> lru;  // set with kBucketFull: the least recently seen entry
  };
  // A verified contact was heard from at `now` (any message or response).
  ObserveResult observe(const NodeId& id, const Endpoint& ep, TimeMs now);

  // A request to `id` went unanswered. After `fails_before_evict` consecutive
  // failures the entry is removed and the freshest replacement takes its
  // place. Returns true if it was evicted.
  bool fail(const NodeId& id, int fails_before_evict);
  // Removes an entry (or a replacement); promotes a replacement into its bucket.
  bool remove(const NodeId& id);

  // Whether a newly verified `id` would be kept: its bucket has room, or
  // its replacement cache has room or holds a spare not seen since
  // `stale_before` (which the newcomer would push out).
  bool would_keep(const NodeId& id, TimeMs stale_before) const;

  const TableEntry* find(const NodeId& id) const;
  bool contains(const NodeId& id) const { return find(id) != nullptr; }

  // Up to n entries ordered by XOR distance to target (closest first).
  std::vector<TableEntry> closest(const Hash256& target, std::size_t n) const;
  std::vector<TableEntry> all() const;
  std::size_t size() const { return size_; }
  std::size_t replacements() const;

  // Bucket index of an id: shared prefix length with ours, 0..255 (-1 for self).
  int bucket_of(const NodeId& id) const;
  std::size_t bucket_size(int bucket) const;
  // Non-empty buckets (or bucket 0..deepest non-empty) not touched since now - refresh_ms.
  std::vector<int> stale_buckets(TimeMs now, TimeMs refresh_ms) const;
  // The bucket holding our k-th closest entry (-1 with fewer than k). Every
  // deeper bucket can hold only nodes closer to us than that entry, which a
  // lookup of our own id finds; refreshing those buckets one by one would
  // only repeat that lookup.
  int neighbourhood_bucket() const;
  // Marks a bucket refreshed (a lookup toward an id in it was run).
  void touch_bucket(int bucket, TimeMs now);
  // A random id that falls in `bucket` (for refresh lookups).
  NodeId random_id_in(int bucket, Rng& rng) const;

  const NodeId& self() const { return self_; }
  std::size_t k() const { return k_; }

 private:
  // Vectors, not deques: an empty deque allocates ~600 bytes, and a node
  // has 3 x 256 buckets (simulations run 10k-100k nodes in one process).
  // buckets_ only reaches as deep as a contact or a touch has needed: in a
  // network of n nodes that is about log2(n) + a few, not 256.
  struct Bucket {
    std::vector<TableEntry> entries;       // front = least recently seen
    std::vector<TableEntry> replacements;  // back = most recently seen
    TimeMs last_touched = 0;
  };
  NodeId self_;
  std::size_t k_;
  std::size_t size_ = 0;
  std::vector<Bucket> buckets_;

  const Bucket* bucket_if(int b) const {
    return b >= 0 && static_cast<std::size_t>(b) < buckets_.size() ? &buckets_[b] : nullptr;
  }
  Bucket& bucket_grow(int b);
};

}  // namespace bc::routing
