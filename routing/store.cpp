// Bounded record storage with Coral's full/loaded predicates.
#include "routing/store.hpp"

#include "layers/assert.hpp"

#include <algorithm>
#include <limits>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>

#include "routing/detail/salted_hash.hpp"

namespace bc::routing {
namespace {

constexpr TimeMs kLoadWindowMs = 60 * 1000;
// beta is a per-minute request count; a larger value is a configuration
// mistake and would make every tracked key cost beta+1 timestamps.
constexpr int kMaxBeta = 100000;

// Position of a record in the expiry index; ties broken by key and owner
// so the order (and thus eviction) is deterministic.
struct ExpiryRef {
  TimeMs at;
  Key key;
  XOnlyPubKey owner;
  friend auto operator<=>(const ExpiryRef&, const ExpiryRef&) = default;
};

// The last beta+1 request times of one key, in a ring.
struct LoadState {
  std::vector<TimeMs> ring;
  std::size_t next = 0;   // slot the next request overwrites
  std::size_t count = 0;  // filled slots
  TimeMs last = std::numeric_limits<TimeMs>::min();
};

bool owner_less(const Record& r, const XOnlyPubKey& o) { return r.owner < o; }

}  // namespace

const char* to_string(StoreOutcome o) {
  switch (o) {
    case StoreOutcome::kStored: return "stored";
    case StoreOutcome::kReplaced: return "replaced";
    case StoreOutcome::kDuplicate: return "duplicate";
    case StoreOutcome::kStale: return "stale";
    case StoreOutcome::kNoRoom: return "no_room";
    case StoreOutcome::kExpired: return "expired";
  }
  return "unknown";
}

struct Store::Impl {
  StoreLimits limits;
  StoreStats stats;

  // Records of a key, sorted by owner.
  std::unordered_map<Key, std::vector<Record>, detail::SaltedHash256> by_key;
  // Every record's expiry, with its charged size.
  std::map<ExpiryRef, std::size_t> by_expiry;
  std::size_t bytes = 0;
  std::size_t values = 0;

  std::unordered_map<Key, LoadState, detail::SaltedHash256> load;
  std::set<std::pair<TimeMs, Key>> load_by_last;  // least recently requested first

  struct Metrics {
    metrics::Counter* puts[6] = {};
    metrics::Counter* evict_key = nullptr;
    metrics::Counter* evict_bytes = nullptr;
    metrics::Counter* expired = nullptr;
    metrics::Gauge* keys = nullptr;
    metrics::Gauge* values = nullptr;
    metrics::Gauge* bytes = nullptr;
  } m;

  Impl(StoreLimits l, metrics::Registry* reg, std::uint64_t seed)
      : limits(l),
        by_key(16, detail::SaltedHash256{detail::SipKey(seed)}),
        load(16, detail::SaltedHash256{detail::SipKey(seed ^ 0x5a5a5a5a5a5a5a5aull)}) {
    if (limits.sloppy_beta_per_min < 0 || limits.sloppy_beta_per_min > kMaxBeta) {
      throw std::invalid_argument("StoreLimits.sloppy_beta_per_min must be in [0, 100000]; got " +
                                  std::to_string(limits.sloppy_beta_per_min));
    }
    if (limits.sloppy_l < 0) {
      throw std::invalid_argument("StoreLimits.sloppy_l must be >= 0; got " +
                                  std::to_string(limits.sloppy_l));
    }
    if (!reg) return;
    const char* help = "DHT store put outcomes";
    for (auto o : {StoreOutcome::kStored, StoreOutcome::kReplaced, StoreOutcome::kDuplicate,
                   StoreOutcome::kStale, StoreOutcome::kNoRoom, StoreOutcome::kExpired}) {
      m.puts[static_cast<int>(o)] =
          &reg->counter("bc_dht_store_puts_total", help, {{"outcome", to_string(o)}});
    }
    const char* ehelp = "Records evicted to make room, by the bound that was hit";
    m.evict_key = &reg->counter("bc_dht_store_evictions_total", ehelp, {{"bound", "key"}});
    m.evict_bytes = &reg->counter("bc_dht_store_evictions_total", ehelp, {{"bound", "bytes"}});
    m.expired = &reg->counter("bc_dht_store_expired_total", "Records removed at expiry");
    m.keys = &reg->gauge("bc_dht_store_keys", "Keys held by DHT stores");
    m.values = &reg->gauge("bc_dht_store_values", "Records held by DHT stores");
    m.bytes = &reg->gauge("bc_dht_store_bytes", "Bytes charged to DHT stores");
  }

  ~Impl() {
    // Shared gauges are sums over stores: take this store's share back out.
    if (m.keys) m.keys->add(-static_cast<double>(by_key.size()));
    if (m.values) m.values->add(-static_cast<double>(values));
    if (m.bytes) m.bytes->add(-static_cast<double>(bytes));
  }

  StoreOutcome count(StoreOutcome o) {
    switch (o) {
      case StoreOutcome::kStored: ++stats.stored; break;
      case StoreOutcome::kReplaced: ++stats.replaced; break;
      case StoreOutcome::kDuplicate: ++stats.duplicate; break;
      case StoreOutcome::kStale: ++stats.stale; break;
      case StoreOutcome::kNoRoom: ++stats.no_room; break;
      case StoreOutcome::kExpired: ++stats.expired_puts; break;
    }
    if (auto* c = m.puts[static_cast<int>(o)]) c->inc();
    return o;
  }

  void gauge_delta(long dkeys, long dvalues, long dbytes) {
    if (m.keys && dkeys) m.keys->add(static_cast<double>(dkeys));
    if (m.values && dvalues) m.values->add(static_cast<double>(dvalues));
    if (m.bytes && dbytes) m.bytes->add(static_cast<double>(dbytes));
  }

  static std::vector<Record>::iterator find_owner(std::vector<Record>& recs, const XOnlyPubKey& o) {
    auto it = std::lower_bound(recs.begin(), recs.end(), o, owner_less);
    return (it != recs.end() && it->owner == o) ? it : recs.end();
  }

  // Removes one record by its expiry ref; returns it. `ref` is a copy: it
  // often points into by_expiry, which this erases.
  Record remove(ExpiryRef ref) {
    auto e = by_expiry.find(ref);
    const std::size_t cost = e->second;
    by_expiry.erase(e);
    auto k = by_key.find(ref.key);
    auto it = find_owner(k->second, ref.owner);
    Record out = std::move(*it);
    k->second.erase(it);
    long dkeys = 0;
    if (k->second.empty()) {
      by_key.erase(k);
      dkeys = -1;
    }
    bytes -= cost;
    --values;
    gauge_delta(dkeys, -1, -static_cast<long>(cost));
    return out;
  }

  void insert(const Record& r) {
    auto [k, created] = by_key.try_emplace(r.key);
    auto& recs = k->second;
    recs.insert(std::lower_bound(recs.begin(), recs.end(), r.owner, owner_less), r);
    const std::size_t cost = stored_cost(r);
    by_expiry.emplace(ExpiryRef{r.expires_at, r.key, r.owner}, cost);
    bytes += cost;
    ++values;
    gauge_delta(created ? 1 : 0, 1, static_cast<long>(cost));
  }

  StoreOutcome put(const Record& r, TimeMs now) {
    if (r.expires_at <= now) return count(StoreOutcome::kExpired);
    const std::size_t cost = stored_cost(r);
    if (cost > limits.max_bytes || limits.max_values_per_key == 0) {
      return count(StoreOutcome::kNoRoom);
    }

    auto k = by_key.find(r.key);
    const Record* held = nullptr;
    if (k != by_key.end()) {
      auto it = find_owner(k->second, r.owner);
      if (it != k->second.end()) held = &*it;
    }
    if (held) {
      if (r.seq < held->seq) return count(StoreOutcome::kStale);
      if (r.seq == held->seq) return count(StoreOutcome::kDuplicate);
    }

    // Plan every eviction before changing anything, so a refused put leaves
    // the store exactly as it was.
    std::vector<ExpiryRef> victims;
    std::size_t freed = 0;
    std::optional<ExpiryRef> replaced;
    if (held) {
      replaced = ExpiryRef{held->expires_at, held->key, held->owner};
      freed += stored_cost(*held);
    } else if (k != by_key.end() && k->second.size() >= limits.max_values_per_key) {
      // The key is at its bound: the value expiring soonest makes room, if
      // the new one outlives it. (size > bound cannot happen; one victim suffices.)
      const Record* v = &*std::min_element(
          k->second.begin(), k->second.end(), [](const Record& a, const Record& b) {
            return std::tie(a.expires_at, a.owner) < std::tie(b.expires_at, b.owner);
          });
      if (v->expires_at >= r.expires_at) return count(StoreOutcome::kNoRoom);
      victims.push_back({v->expires_at, v->key, v->owner});
      freed += stored_cost(*v);
    }
    const std::size_t key_victims = victims.size();

    // Byte bound: take the soonest-expiring records across the store.
    auto e = by_expiry.begin();
    while (bytes - freed + cost > limits.max_bytes) {
      while (e != by_expiry.end() &&
             ((replaced && e->first == *replaced) ||
              std::find(victims.begin(), victims.end(), e->first) != victims.end())) {
        ++e;
      }
      if (e == by_expiry.end() || e->first.at >= r.expires_at) return count(StoreOutcome::kNoRoom);
      victims.push_back(e->first);
      freed += e->second;
      ++e;
    }

    for (const auto& v : victims) remove(v);
    stats.evictions_key += key_victims;
    stats.evictions_bytes += victims.size() - key_victims;
    if (m.evict_key && key_victims) m.evict_key->inc(key_victims);
    if (m.evict_bytes && victims.size() > key_victims) m.evict_bytes->inc(victims.size() - key_victims);

    if (replaced) {
      // remove() may erase the key entry if it held only this record; insert() recreates it.
      remove(*replaced);
      insert(r);
      BC_ASSERT(bytes <= limits.max_bytes);
      return count(StoreOutcome::kReplaced);
    }
    insert(r);
    BC_ASSERT(bytes <= limits.max_bytes);
    return count(StoreOutcome::kStored);
  }

  void forget_idle_load(TimeMs now) {
    while (!load_by_last.empty() && now - load_by_last.begin()->first >= kLoadWindowMs) {
      load.erase(load_by_last.begin()->second);
      load_by_last.erase(load_by_last.begin());
    }
  }

  void note_request(const Key& key, TimeMs now) {
    forget_idle_load(now);
    auto it = load.find(key);
    if (it == load.end()) {
      if (limits.max_load_keys == 0) return;
      if (load.size() >= limits.max_load_keys) {
        // Forget the key requested least recently.
        load.erase(load_by_last.begin()->second);
        load_by_last.erase(load_by_last.begin());
      }
      it = load.emplace(key, LoadState{}).first;
      it->second.ring.assign(static_cast<std::size_t>(limits.sloppy_beta_per_min) + 1, 0);
    } else {
      load_by_last.erase({it->second.last, key});
    }
    LoadState& s = it->second;
    s.ring[s.next] = now;
    s.next = (s.next + 1) % s.ring.size();
    s.count = std::min(s.count + 1, s.ring.size());
    s.last = std::max(s.last, now);
    load_by_last.emplace(s.last, key);
  }

  bool is_loaded(const Key& key, TimeMs now) const {
    auto it = load.find(key);
    if (it == load.end()) return false;
    const LoadState& s = it->second;
    std::size_t recent = 0;
    for (std::size_t i = 0; i < s.count; ++i) {
      if (now - s.ring[i] < kLoadWindowMs) ++recent;
    }
    return recent > static_cast<std::size_t>(limits.sloppy_beta_per_min);
  }
};

Store::Store(StoreLimits limits, metrics::Registry* metrics, std::uint64_t hash_seed)
    : impl_(std::make_unique<Impl>(limits, metrics, hash_seed)) {}
Store::~Store() = default;
Store::Store(Store&&) noexcept = default;
Store& Store::operator=(Store&&) noexcept = default;

StoreOutcome Store::put(const Record& r, TimeMs now) { return impl_->put(r, now); }

std::vector<Record> Store::get(const Key& key, TimeMs now) const {
  std::vector<Record> out;
  auto k = impl_->by_key.find(key);
  if (k == impl_->by_key.end()) return out;
  for (const auto& r : k->second) {
    if (r.expires_at > now) out.push_back(r);
  }
  return out;
}

std::optional<Record> Store::get_one(const Key& key, const XOnlyPubKey& owner, TimeMs now) const {
  auto k = impl_->by_key.find(key);
  if (k == impl_->by_key.end()) return std::nullopt;
  auto it = Impl::find_owner(k->second, owner);
  if (it == k->second.end() || it->expires_at <= now) return std::nullopt;
  return *it;
}

bool Store::is_full(const Key& key, TimeMs new_ttl_ms, TimeMs now) const {
  auto k = impl_->by_key.find(key);
  if (k == impl_->by_key.end()) return impl_->limits.sloppy_l <= 0;
  std::size_t lasting = 0;
  for (const auto& r : k->second) {
    // remaining >= new_ttl / 2, compared as 2*remaining >= new_ttl to avoid rounding.
    const __int128 remaining = static_cast<__int128>(r.expires_at) - now;
    if (remaining > 0 && 2 * remaining >= new_ttl_ms) ++lasting;
  }
  return lasting >= static_cast<std::size_t>(impl_->limits.sloppy_l);
}

void Store::note_request(const Key& key, TimeMs now) { impl_->note_request(key, now); }
bool Store::is_loaded(const Key& key, TimeMs now) const { return impl_->is_loaded(key, now); }

std::vector<Record> Store::expire(TimeMs now) {
  std::vector<Record> out;
  while (!impl_->by_expiry.empty() && impl_->by_expiry.begin()->first.at <= now) {
    out.push_back(impl_->remove(impl_->by_expiry.begin()->first));
  }
  impl_->stats.expired += out.size();
  if (impl_->m.expired && !out.empty()) impl_->m.expired->inc(out.size());
  impl_->forget_idle_load(now);
  return out;
}

TimeMs Store::next_expiry() const {
  return impl_->by_expiry.empty() ? std::numeric_limits<TimeMs>::max()
                                  : impl_->by_expiry.begin()->first.at;
}

std::size_t Store::keys() const { return impl_->by_key.size(); }
std::size_t Store::values() const { return impl_->values; }
std::size_t Store::bytes() const { return impl_->bytes; }
std::size_t Store::load_keys() const { return impl_->load.size(); }
const StoreStats& Store::stats() const { return impl_->stats; }
const StoreLimits& Store::limits() const { return impl_->limits; }

}  // namespace bc::routing
