// Per-node storage of DHT records with Coral's sloppy predicates.
//
// A key holds at most one record per owner; only a higher seq replaces it.
// Storage is bounded: values per key and total bytes, and within those, what
// one source address (source_of: an IPv4 address, an IPv6 /64) may hold in a
// key and in the store, and what one owner key may hold in the store. A put
// past a per-source or per-owner cap is refused (kNoRoom). When a key or the
// byte budget is full, a put may evict, in this order:
//   1. records already expired but not yet collected;
//   2. (service kinds only) generic records under the same key;
//   3. the newest record of the source holding the most (values in the key,
//      bytes in the store), if that source holds strictly more than the
//      newcomer's source will after the put.
// Never a kPinned record, never by anything but its owner's higher seq.
// Otherwise the put is refused (kNoRoom) and the store is left unchanged.
// So a value stored earlier outlives new arrivals from sources that hold as
// much as its own: TTLs play no part (docs/routing.md, "Storage policy").
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
#include <array>
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
  // Fair shares; 0 picks the default in parentheses.
  std::size_t max_bytes_per_source = 0;         // (max_bytes / 4)
  std::size_t max_bytes_per_owner = 0;          // (max_bytes / 16)
  std::size_t max_values_per_source_key = 0;    // (max(1, max_values_per_key / 4))
  std::size_t max_pinned_bytes_per_source = 0;  // (max_bytes / 64); beyond, stored unpinned
};

// The address a record's bytes are charged to: an IPv4 address, or the /64
// of an IPv6 one (one host usually holds a whole /64). All zero: this node.
using SourceId = std::array<std::uint8_t, 16>;
SourceId source_of(const Endpoint& from);

struct PutContext {
  SourceId source{};
  RecordKind kind = RecordKind::kGeneric;
};

enum class StoreOutcome {
  kStored,     // new (key, owner)
  kReplaced,   // same owner, higher seq: the old record is gone
  kDuplicate,  // same owner and seq as held: nothing changed
  kStale,      // lower seq than held (a replay): nothing changed
  kNoRoom,     // a bound is hit and nothing evictable expires sooner: nothing changed
  kExpired,    // expires_at <= now: nothing changed
  kWrongKind,  // a generic record under a key that holds service records: nothing changed
};
const char* to_string(StoreOutcome o);

// Bytes a record is charged: payload plus a fixed overhead for the fixed
// fields (key, owner, seq, expiry, signature = 144 B) and index entries.
inline constexpr std::size_t kStoredRecordOverhead = 256;
inline std::size_t stored_cost(const Record& r) { return r.payload.size() + kStoredRecordOverhead; }

// Plain counters, also mirrored into the metrics registry when one is given:
//   bc_dht_store_puts_total{outcome=stored|replaced|duplicate|stale|no_room|expired|wrong_kind}
//   bc_dht_store_evictions_total{bound=key|bytes|kind} (kind: generic records
//   under a key that became a service key)
//   bc_dht_store_expired_total
//   gauges bc_dht_store_keys, bc_dht_store_values, bc_dht_store_bytes (summed
//   over every Store sharing the registry)
struct StoreStats {
  std::uint64_t stored = 0, replaced = 0, duplicate = 0, stale = 0, no_room = 0, expired_puts = 0;
  std::uint64_t wrong_kind = 0;
  std::uint64_t evictions_key = 0, evictions_bytes = 0, evictions_kind = 0;
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

  // A put from this node itself (source all zero), of a generic record.
  StoreOutcome put(const Record& r, TimeMs now);
  StoreOutcome put(const Record& r, const PutContext& ctx, TimeMs now);

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
  std::size_t source_bytes(const SourceId& s) const;  // charged to one source
  std::size_t owner_bytes(const XOnlyPubKey& o) const;
  std::size_t load_keys() const;      // keys with tracked request times
  const StoreStats& stats() const;
  const StoreLimits& limits() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace bc::routing
