// Bounded table of the watches other nodes hold on keys stored here.
#include "routing/detail/watch_table.hpp"

#include <limits>
#include <map>
#include <set>
#include <tuple>

namespace bc::routing {
namespace {

struct SubKey {
  Key key;
  NodeId subscriber;
  std::uint64_t id;
  friend auto operator<=>(const SubKey&, const SubKey&) = default;
};

struct Entry {
  Endpoint endpoint;
  TimeMs expires_at;
};

}  // namespace

const char* to_string(SubscribeOutcome o) {
  switch (o) {
    case SubscribeOutcome::kAdded: return "added";
    case SubscribeOutcome::kRefreshed: return "refreshed";
    case SubscribeOutcome::kKeyFull: return "key_full";
    case SubscribeOutcome::kEndpointFull: return "endpoint_full";
    case SubscribeOutcome::kTableFull: return "table_full";
  }
  return "unknown";
}

// Ordered maps only: entries are few (<= max_total) and peer-chosen, so
// O(log n) without hash-collision exposure beats a hash table here.
struct WatchTable::Impl {
  WatchLimits limits;
  std::map<SubKey, Entry> subs;                     // by (key, subscriber, id)
  std::set<std::pair<TimeMs, SubKey>> by_expiry;
  std::set<std::tuple<NodeId, Key, std::uint64_t>> by_subscriber;
  std::map<Key, std::size_t> per_key;
  std::map<Endpoint, std::size_t> per_endpoint;

  metrics::Counter* added = nullptr;
  metrics::Counter* refreshed = nullptr;
  metrics::Counter* rejected = nullptr;
  metrics::Counter* expired = nullptr;

  static void dec(auto& counts, const auto& k) {
    auto it = counts.find(k);
    if (--it->second == 0) counts.erase(it);
  }

  void erase(std::map<SubKey, Entry>::iterator it) {
    const SubKey sk = it->first;
    by_expiry.erase({it->second.expires_at, sk});
    by_subscriber.erase({sk.subscriber, sk.key, sk.id});
    dec(per_key, sk.key);
    dec(per_endpoint, it->second.endpoint);
    subs.erase(it);
  }
};

WatchTable::WatchTable(WatchLimits limits, metrics::Registry* metrics)
    : impl_(std::make_unique<Impl>()) {
  impl_->limits = limits;
  if (metrics) {
    impl_->added = &metrics->counter("bc_dht_watch_added_total", "Watch subscriptions added");
    impl_->refreshed =
        &metrics->counter("bc_dht_watch_refreshed_total", "Watch subscriptions refreshed");
    impl_->rejected = &metrics->counter("bc_dht_watch_rejected_total",
                                        "Watch subscriptions refused by a table bound");
    impl_->expired = &metrics->counter("bc_dht_watch_expired_total", "Watch subscriptions expired");
  }
}
WatchTable::~WatchTable() = default;
WatchTable::WatchTable(WatchTable&&) noexcept = default;
WatchTable& WatchTable::operator=(WatchTable&&) noexcept = default;

SubscribeOutcome WatchTable::subscribe(const Key& key, const NodeId& subscriber,
                                       const Endpoint& endpoint, std::uint64_t subscription_id,
                                       TimeMs expires_at) {
  Impl& t = *impl_;
  auto reject = [&](SubscribeOutcome o) {
    if (t.rejected) t.rejected->inc();
    return o;
  };
  const SubKey sk{key, subscriber, subscription_id};
  auto it = t.subs.find(sk);
  if (it != t.subs.end()) {
    Entry& e = it->second;
    if (e.endpoint != endpoint) {
      // The subscriber moved: the new endpoint must have room of its own.
      auto c = t.per_endpoint.find(endpoint);
      if (c != t.per_endpoint.end() && c->second >= t.limits.max_per_endpoint) {
        return reject(SubscribeOutcome::kEndpointFull);
      }
      Impl::dec(t.per_endpoint, e.endpoint);
      ++t.per_endpoint[endpoint];
      e.endpoint = endpoint;
    }
    t.by_expiry.erase({e.expires_at, sk});
    e.expires_at = expires_at;
    t.by_expiry.insert({expires_at, sk});
    if (t.refreshed) t.refreshed->inc();
    return SubscribeOutcome::kRefreshed;
  }

  auto kc = t.per_key.find(key);
  if (kc != t.per_key.end() && kc->second >= t.limits.max_per_key) {
    return reject(SubscribeOutcome::kKeyFull);
  }
  if (t.limits.max_per_key == 0) return reject(SubscribeOutcome::kKeyFull);
  auto ec = t.per_endpoint.find(endpoint);
  if ((ec != t.per_endpoint.end() && ec->second >= t.limits.max_per_endpoint) ||
      t.limits.max_per_endpoint == 0) {
    return reject(SubscribeOutcome::kEndpointFull);
  }
  if (t.subs.size() >= t.limits.max_total) return reject(SubscribeOutcome::kTableFull);

  t.subs.emplace(sk, Entry{endpoint, expires_at});
  t.by_expiry.insert({expires_at, sk});
  t.by_subscriber.insert({subscriber, key, subscription_id});
  ++t.per_key[key];
  ++t.per_endpoint[endpoint];
  if (t.added) t.added->inc();
  return SubscribeOutcome::kAdded;
}

bool WatchTable::unsubscribe(const Key& key, const NodeId& subscriber,
                             std::uint64_t subscription_id) {
  auto it = impl_->subs.find({key, subscriber, subscription_id});
  if (it == impl_->subs.end()) return false;
  impl_->erase(it);
  return true;
}

std::size_t WatchTable::unsubscribe_all(const NodeId& subscriber) {
  Impl& t = *impl_;
  std::size_t n = 0;
  auto it = t.by_subscriber.lower_bound({subscriber, Key{}, 0});
  while (it != t.by_subscriber.end() && std::get<0>(*it) == subscriber) {
    const auto [node, key, id] = *it;
    ++it;  // erase() below removes the current element
    t.erase(t.subs.find({key, node, id}));
    ++n;
  }
  return n;
}

std::vector<Subscription> WatchTable::subscribers(const Key& key, TimeMs now) const {
  std::vector<Subscription> out;
  for (auto it = impl_->subs.lower_bound({key, NodeId{}, 0});
       it != impl_->subs.end() && it->first.key == key; ++it) {
    if (it->second.expires_at > now) {
      out.push_back({key, it->first.subscriber, it->second.endpoint, it->first.id,
                     it->second.expires_at});
    }
  }
  return out;
}

std::vector<Subscription> WatchTable::expire(TimeMs now) {
  Impl& t = *impl_;
  std::vector<Subscription> out;
  while (!t.by_expiry.empty() && t.by_expiry.begin()->first <= now) {
    const SubKey sk = t.by_expiry.begin()->second;
    auto it = t.subs.find(sk);
    out.push_back({sk.key, sk.subscriber, it->second.endpoint, sk.id, it->second.expires_at});
    t.erase(it);
  }
  if (t.expired && !out.empty()) t.expired->inc(out.size());
  return out;
}

TimeMs WatchTable::next_expiry() const {
  return impl_->by_expiry.empty() ? std::numeric_limits<TimeMs>::max()
                                  : impl_->by_expiry.begin()->first;
}

std::size_t WatchTable::size() const { return impl_->subs.size(); }
std::size_t WatchTable::size(const Key& key) const {
  auto it = impl_->per_key.find(key);
  return it == impl_->per_key.end() ? 0 : it->second;
}
const WatchLimits& WatchTable::limits() const { return impl_->limits; }

}  // namespace bc::routing
