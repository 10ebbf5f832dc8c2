// Per-node storage of DHT records with Coral's sloppy predicates.
//
// A key holds at most one record per owner; only a higher seq replaces it.
// Storage is bounded twice: values per key and total bytes. When a bound is
// hit, the value with the SHORTEST remaining TTL is evicted (within the key
// for the per-key bound, across the store for the byte bound), but only if
// the new record expires strictly later than every value it would evict;
// otherwise the put is refused (kNoRoom) and the store is left unchanged.
//
// Coral's sloppy-put stop rule is answered by is_full() and is_loaded().
// Load is tracked per key over a sliding 60 s window holding at most beta+1
// timestamps per key, for at most max_load_keys keys (least recently
// requested forgotten first), so memory stays bounded under any request mix.
//
// Sans-I/O: every call takes `now`; no clock, no thread. The caller has
// already run check_record() (signature, size, expiry bounds).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "layers/metrics.hpp"
#include "layers/runtime.hpp"
#include "routing/record.hpp"

namespace bc::routing {

struct StoreLimits {
  std::size_t max_bytes = 64u << 20;
  std::size_t max_values_per_key = 64;
  int sloppy_l = 4;               // full: >= l values with TTL >= half the new one
  int sloppy_beta_per_min = 12;   // loaded: > beta requests in the last 60 s
  std::size_t max_load_keys = 1u << 16;  // keys whose request rate is tracked
};

enum class StoreOutcome {
  kStored,     // new (key, owner)
  kReplaced,   // same owner, higher seq: the old record is gone
  kDuplicate,  // same owner and seq as held: nothing changed
  kStale,      // lower seq than held (a replay): nothing changed
  kNoRoom,     // a bound is hit and nothing evictable expires sooner: nothing changed
  kExpired,    // expires_at <= now: nothing changed
};
const char* to_string(StoreOutcome o);

// Bytes a record is charged: payload plus a fixed overhead for the fixed
// fields (key, owner, seq, expiry, signature = 144 B) and index entries.
inline constexpr std::size_t kStoredRecordOverhead = 256;
inline std::size_t stored_cost(const Record& r) { return r.payload.size() + kStoredRecordOverhead; }

// Plain counters, also mirrored into the metrics registry when one is given:
//   bc_dht_store_puts_total{outcome=stored|replaced|duplicate|stale|no_room|expired}
//   bc_dht_store_evictions_total{bound=key|bytes}
//   bc_dht_store_expired_total
//   gauges bc_dht_store_keys, bc_dht_store_values, bc_dht_store_bytes (summed
//   over every Store sharing the registry)
struct StoreStats {
  std::uint64_t stored = 0, replaced = 0, duplicate = 0, stale = 0, no_room = 0, expired_puts = 0;
  std::uint64_t evictions_key = 0, evictions_bytes = 0;
  std::uint64_t expired = 0;  // records removed by expire()
};

class Store {
 public:
  // `metrics` may be null; if given it must outlive the store. `hash_seed`
  // salts the key hash table so remote peers cannot force collisions (pass a
  // value from the node's Rng).
  explicit Store(StoreLimits limits, metrics::Registry* metrics = nullptr,
                 std::uint64_t hash_seed = 0);
  ~Store();
  Store(Store&&) noexcept;
  Store& operator=(Store&&) noexcept;

  StoreOutcome put(const Record& r, TimeMs now);

  // Unexpired records for the key, ordered by owner; empty if none.
  std::vector<Record> get(const Key& key, TimeMs now) const;
  // Unexpired record of one owner, if held.
  std::optional<Record> get_one(const Key& key, const XOnlyPubKey& owner, TimeMs now) const;

  // Coral "full": holds >= sloppy_l unexpired values whose remaining TTL is
  // >= new_ttl_ms / 2.
  bool is_full(const Key& key, TimeMs new_ttl_ms, TimeMs now) const;
  // Counts one request (get or put) for the key at `now`.
  void note_request(const Key& key, TimeMs now);
  // Coral "loaded": more than sloppy_beta_per_min requests with
  // now - t < 60000 ms.
  bool is_loaded(const Key& key, TimeMs now) const;

  // Removes and returns every record with expires_at <= now, oldest first
  // (for watch notifications). Also forgets load state idle for 60 s.
  std::vector<Record> expire(TimeMs now);
  // Earliest expires_at held; INT64_MAX when empty.
  TimeMs next_expiry() const;

  std::size_t keys() const;
  std::size_t values() const;
  std::size_t bytes() const;          // sum of stored_cost()
  std::size_t load_keys() const;      // keys with tracked request times
  const StoreStats& stats() const;
  const StoreLimits& limits() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace bc::routing
