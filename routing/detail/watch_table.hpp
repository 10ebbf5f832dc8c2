// Subscriptions other nodes hold on keys this node stores: when a record for
// the key is added or expires here, the DHT node pushes it to each
// subscriber's endpoint.
//
// A subscription is identified by (key, subscriber node ID, subscription
// id); subscribing again refreshes its expiry and endpoint. The table is
// bounded per key, per subscriber endpoint and in total, so a peer cannot
// grow it without limit. Sans-I/O: expiry times come from the caller.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "layers/ids.hpp"
#include "layers/metrics.hpp"
#include "layers/runtime.hpp"
#include "routing/record.hpp"

namespace bc::routing {

struct WatchLimits {
  std::size_t max_per_key = 64;         // subscribers of one key
  std::size_t max_per_endpoint = 256;   // subscriptions from one subscriber endpoint
  std::size_t max_total = 1u << 16;
};

struct Subscription {
  Key key;
  NodeId subscriber;
  Endpoint endpoint;
  std::uint64_t subscription_id = 0;
  TimeMs expires_at = 0;

  friend bool operator==(const Subscription&, const Subscription&) = default;
};

enum class SubscribeOutcome {
  kAdded,
  kRefreshed,      // existed: expiry and endpoint updated
  kKeyFull,        // max_per_key reached for the key
  kEndpointFull,   // max_per_endpoint reached for that endpoint
  kTableFull,      // max_total reached
};
const char* to_string(SubscribeOutcome o);
inline bool accepted(SubscribeOutcome o) {
  return o == SubscribeOutcome::kAdded || o == SubscribeOutcome::kRefreshed;
}

class WatchTable {
 public:
  // `metrics` may be null; counters bc_dht_watch_{added,refreshed,rejected,expired}_total.
  explicit WatchTable(WatchLimits limits = {}, metrics::Registry* metrics = nullptr);
  ~WatchTable();
  WatchTable(WatchTable&&) noexcept;
  WatchTable& operator=(WatchTable&&) noexcept;

  // Bounds are checked against entries still present; call expire(now)
  // first (the DHT node does so on every tick) so dead entries free room.
  SubscribeOutcome subscribe(const Key& key, const NodeId& subscriber, const Endpoint& endpoint,
                             std::uint64_t subscription_id, TimeMs expires_at);
  // True if it existed.
  bool unsubscribe(const Key& key, const NodeId& subscriber, std::uint64_t subscription_id);
  // Removes every subscription of a node (e.g. it left or failed); returns how many.
  std::size_t unsubscribe_all(const NodeId& subscriber);

  // Unexpired subscriptions of the key (expires_at > now), ordered by
  // (subscriber, subscription_id).
  std::vector<Subscription> subscribers(const Key& key, TimeMs now) const;
  // Removes and returns subscriptions with expires_at <= now.
  std::vector<Subscription> expire(TimeMs now);
  // Earliest expires_at held; INT64_MAX when empty.
  TimeMs next_expiry() const;

  std::size_t size() const;
  std::size_t size(const Key& key) const;
  const WatchLimits& limits() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace bc::routing
