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
// Bounds on the search for byte-bound victims (the largest sources, their
// newest records), so one put costs O(log n) plus a constant.
constexpr int kMaxVictimSources = 16;
constexpr int kMaxScan = 64;

// Position of a record in the expiry index; ties broken by key and owner
// so the order is deterministic.
struct ExpiryRef {
  TimeMs at;
  Key key;
  XOnlyPubKey owner;
  friend auto operator<=>(const ExpiryRef&, const ExpiryRef&) = default;
};

struct RecordRef {
  Key key;
  XOnlyPubKey owner;
  friend bool operator==(const RecordRef&, const RecordRef&) = default;
};

// The last beta+1 request times of one key, in a ring.
struct LoadState {
  std::vector<TimeMs> ring;
  std::size_t next = 0;   // slot the next request overwrites
  std::size_t count = 0;  // filled slots
  TimeMs last = std::numeric_limits<TimeMs>::min();
};

template <class H>
bool owner_less(const H& h, const XOnlyPubKey& o) { return h.rec.owner < o; }

StoreLimits with_defaults(StoreLimits l) {
  if (l.max_bytes_per_source == 0) l.max_bytes_per_source = l.max_bytes / 4;
  if (l.max_bytes_per_owner == 0) l.max_bytes_per_owner = l.max_bytes / 16;
  if (l.max_values_per_source_key == 0) {
    l.max_values_per_source_key = std::max<std::size_t>(1, l.max_values_per_key / 4);
  }
  if (l.max_pinned_bytes_per_source == 0) l.max_pinned_bytes_per_source = l.max_bytes / 64;
  return l;
}

constexpr StoreOutcome kOutcomes[] = {
    StoreOutcome::kStored, StoreOutcome::kReplaced, StoreOutcome::kDuplicate, StoreOutcome::kStale,
    StoreOutcome::kNoRoom, StoreOutcome::kExpired,  StoreOutcome::kWrongKind};

struct StoreMetrics {
  metrics::Counter* puts[std::size(kOutcomes)] = {};
  metrics::Counter* evict_key = nullptr;
  metrics::Counter* evict_bytes = nullptr;
  metrics::Counter* evict_kind = nullptr;
  metrics::Counter* expired = nullptr;
  metrics::Gauge* keys = nullptr;
  metrics::Gauge* values = nullptr;
  metrics::Gauge* bytes = nullptr;

  void bind(metrics::Registry& reg) {
    const char* help = "DHT store put outcomes";
    for (auto o : kOutcomes) {
      puts[static_cast<int>(o)] =
          &reg.counter("bc_dht_store_puts_total", help, {{"outcome", to_string(o)}});
    }
    const char* ehelp = "Records evicted to make room, by the bound that was hit";
    evict_key = &reg.counter("bc_dht_store_evictions_total", ehelp, {{"bound", "key"}});
    evict_bytes = &reg.counter("bc_dht_store_evictions_total", ehelp, {{"bound", "bytes"}});
    evict_kind = &reg.counter("bc_dht_store_evictions_total", ehelp, {{"bound", "kind"}});
    expired = &reg.counter("bc_dht_store_expired_total", "Records removed at expiry");
    keys = &reg.gauge("bc_dht_store_keys", "Keys held by DHT stores");
    values = &reg.gauge("bc_dht_store_values", "Records held by DHT stores");
    bytes = &reg.gauge("bc_dht_store_bytes", "Bytes charged to DHT stores");
  }
  void gauge_delta(long dkeys, long dvalues, long dbytes) {
    if (keys && dkeys) keys->add(static_cast<double>(dkeys));
    if (values && dvalues) values->add(static_cast<double>(dvalues));
    if (bytes && dbytes) bytes->add(static_cast<double>(dbytes));
  }
};

}  // namespace

SourceId source_of(const Endpoint& from) {
  SourceId s = from.ip;
  // IPv6 (not v4-mapped): the /64.
  if (!from.is_v4()) std::fill(s.begin() + 8, s.end(), std::uint8_t{0});
  return s;
}

const char* to_string(StoreOutcome o) {
  switch (o) {
    case StoreOutcome::kStored: return "stored";
    case StoreOutcome::kReplaced: return "replaced";
    case StoreOutcome::kDuplicate: return "duplicate";
    case StoreOutcome::kStale: return "stale";
    case StoreOutcome::kNoRoom: return "no_room";
    case StoreOutcome::kExpired: return "expired";
    case StoreOutcome::kWrongKind: return "wrong_kind";
  }
  return "unknown";
}

struct Store::Impl {
  StoreLimits limits;
  StoreStats stats;

  // A held record with what eviction needs: who it is charged to, when it
  // arrived (serial), and its kind.
  struct Held {
    Record rec;
    SourceId src;
    std::uint64_t serial = 0;
    RecordKind kind = RecordKind::kGeneric;
  };
  struct SourceUse {
    std::size_t bytes = 0;
    std::size_t pinned_bytes = 0;
    std::map<std::uint64_t, RecordRef> by_serial;  // oldest first
  };
  // A record the put being planned will remove, and what that frees.
  struct Victim {
    RecordRef ref;
    TimeMs at;
    std::size_t cost;
    SourceId src;
  };
  struct Plan {
    std::vector<Victim> victims;
    std::optional<RecordRef> replaced;
    std::size_t freed = 0;  // bytes, replaced record included
    bool takes(const RecordRef& r) const {
      if (replaced && *replaced == r) return true;
      return std::any_of(victims.begin(), victims.end(), [&](const Victim& v) { return v.ref == r; });
    }
    std::size_t freed_from(const SourceId& s) const {
      std::size_t n = 0;
      for (const auto& v : victims) n += v.src == s ? v.cost : 0;
      return n;
    }
  };

  // Records of a key, sorted by owner.
  std::unordered_map<Key, std::vector<Held>, detail::SaltedHash256> by_key;
  // Every record's expiry, with its charged size.
  std::map<ExpiryRef, std::size_t> by_expiry;
  std::map<SourceId, SourceUse> sources;
  std::set<std::pair<std::size_t, SourceId>> sources_by_bytes;  // largest last
  std::map<XOnlyPubKey, std::size_t> owners;                    // bytes per owner
  std::uint64_t next_serial = 1;
  std::size_t bytes = 0;
  std::size_t values = 0;

  std::unordered_map<Key, LoadState, detail::SaltedHash256> load;
  std::set<std::pair<TimeMs, Key>> load_by_last;  // least recently requested first

  StoreMetrics m;

  Impl(StoreLimits l, metrics::Registry* reg, std::uint64_t seed)
      : limits(with_defaults(l)),
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
    if (reg) m.bind(*reg);
  }

  ~Impl() {
    // Shared gauges are sums over stores: take this store's share back out.
    m.gauge_delta(-static_cast<long>(by_key.size()), -static_cast<long>(values),
                  -static_cast<long>(bytes));
  }

  StoreOutcome count(StoreOutcome o) {
    switch (o) {
      case StoreOutcome::kStored: ++stats.stored; break;
      case StoreOutcome::kReplaced: ++stats.replaced; break;
      case StoreOutcome::kDuplicate: ++stats.duplicate; break;
      case StoreOutcome::kStale: ++stats.stale; break;
      case StoreOutcome::kNoRoom: ++stats.no_room; break;
      case StoreOutcome::kExpired: ++stats.expired_puts; break;
      case StoreOutcome::kWrongKind: ++stats.wrong_kind; break;
    }
    if (auto* c = m.puts[static_cast<int>(o)]) c->inc();
    return o;
  }

  static std::vector<Held>::iterator find_owner(std::vector<Held>& recs, const XOnlyPubKey& o) {
    auto it = std::lower_bound(recs.begin(), recs.end(), o, owner_less<Held>);
    return (it != recs.end() && it->rec.owner == o) ? it : recs.end();
  }

  void charge(const SourceId& src, const XOnlyPubKey& owner, std::size_t cost, bool add) {
    SourceUse& u = sources[src];
    sources_by_bytes.erase({u.bytes, src});
    std::size_t& o = owners[owner];
    if (add) {
      u.bytes += cost;
      o += cost;
    } else {
      BC_ASSERT(u.bytes >= cost && o >= cost);  // budget accounting
      u.bytes -= cost;
      o -= cost;
    }
    if (u.bytes > 0) sources_by_bytes.emplace(u.bytes, src);
    if (o == 0) owners.erase(owner);
  }

  // Removes one record; returns it. `ref` is a copy: callers pass refs that
  // live in the indexes this erases.
  Record remove(RecordRef ref) {
    auto k = by_key.find(ref.key);
    BC_ASSERT(k != by_key.end());
    auto it = find_owner(k->second, ref.owner);
    BC_ASSERT(it != k->second.end());
    Held h = std::move(*it);
    k->second.erase(it);
    const std::size_t cost = stored_cost(h.rec);
    by_expiry.erase(ExpiryRef{h.rec.expires_at, ref.key, ref.owner});
    SourceUse& u = sources[h.src];
    u.by_serial.erase(h.serial);
    if (h.kind == RecordKind::kPinned) {
      BC_ASSERT(u.pinned_bytes >= cost);
      u.pinned_bytes -= cost;
    }
    charge(h.src, ref.owner, cost, false);
    if (u.by_serial.empty()) {
      BC_ASSERT(u.bytes == 0 && u.pinned_bytes == 0);
      sources.erase(h.src);
    }
    long dkeys = 0;
    if (k->second.empty()) {
      by_key.erase(k);
      dkeys = -1;
    }
    BC_ASSERT(bytes >= cost && values > 0);
    bytes -= cost;
    --values;
    m.gauge_delta(dkeys, -1, -static_cast<long>(cost));
    return std::move(h.rec);
  }

  void insert(const Record& r, const PutContext& ctx) {
    auto [k, created] = by_key.try_emplace(r.key);
    auto& recs = k->second;
    const std::size_t cost = stored_cost(r);
    Held h{r, ctx.source, next_serial++, ctx.kind};
    SourceUse& u = sources[ctx.source];
    if (h.kind == RecordKind::kPinned) {
      // A source pins only its share; more is kept as an ordinary service record.
      if (u.pinned_bytes + cost > limits.max_pinned_bytes_per_source) h.kind = RecordKind::kService;
      else u.pinned_bytes += cost;
    }
    u.by_serial.emplace(h.serial, RecordRef{r.key, r.owner});
    charge(ctx.source, r.owner, cost, true);
    recs.insert(std::lower_bound(recs.begin(), recs.end(), r.owner, owner_less<Held>), std::move(h));
    by_expiry.emplace(ExpiryRef{r.expires_at, r.key, r.owner}, cost);
    bytes += cost;
    ++values;
    m.gauge_delta(created ? 1 : 0, 1, static_cast<long>(cost));
  }

  StoreOutcome put(const Record& r, const PutContext& ctx, TimeMs now);
  StoreOutcome check_caps(const Record& r, const PutContext& ctx, const Held* held) const;
  bool plan_key(const std::vector<Held>& recs, const PutContext& ctx, TimeMs now, Plan& plan) const;
  bool plan_bytes(const Record& r, const PutContext& ctx, TimeMs now, Plan& plan) const;
  void apply(const Plan& plan, std::size_t key_victims, std::size_t kind_victims);
  const Held* held_record(const RecordRef& ref) const {
    auto k = by_key.find(ref.key);
    BC_ASSERT(k != by_key.end());
    auto it = std::lower_bound(k->second.begin(), k->second.end(), ref.owner, owner_less<Held>);
    BC_ASSERT(it != k->second.end() && it->rec.owner == ref.owner);
    return &*it;
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

// Caps a put may not pass whatever it evicts: per source in the key, per
// source and per owner in the store (a replacement counts its old size freed).
StoreOutcome Store::Impl::check_caps(const Record& r, const PutContext& ctx, const Held* held) const {
  const std::size_t cost = stored_cost(r);
  std::size_t src_had = 0, owner_had = 0;
  if (auto s = sources.find(ctx.source); s != sources.end()) src_had = s->second.bytes;
  if (auto o = owners.find(r.owner); o != owners.end()) owner_had = o->second;
  if (held) {
    const std::size_t old = stored_cost(held->rec);
    if (held->src == ctx.source) src_had -= old;
    owner_had -= old;
  }
  if (src_had + cost > limits.max_bytes_per_source) return StoreOutcome::kNoRoom;
  if (owner_had + cost > limits.max_bytes_per_owner) return StoreOutcome::kNoRoom;
  if (!held) {
    auto k = by_key.find(r.key);
    if (k != by_key.end()) {
      const auto n = std::count_if(k->second.begin(), k->second.end(),
                                   [&](const Held& h) { return h.src == ctx.source; });
      if (static_cast<std::size_t>(n) >= limits.max_values_per_source_key) return StoreOutcome::kNoRoom;
    }
  }
  return StoreOutcome::kStored;
}

// Key bound: an expired record first (soonest), else the newest record of
// the source with the most values in the key, if it has more than the
// newcomer's source will. false: no victim.
bool Store::Impl::plan_key(const std::vector<Held>& recs, const PutContext& ctx, TimeMs now,
                           Plan& plan) const {
  std::map<SourceId, std::size_t> per_source;
  const Held* expired = nullptr;
  for (const Held& h : recs) {
    if (plan.takes({h.rec.key, h.rec.owner})) continue;
    ++per_source[h.src];
    if (h.rec.expires_at <= now && (!expired || h.rec.expires_at < expired->rec.expires_at)) expired = &h;
  }
  const Held* victim = expired;
  if (!victim) {
    const std::size_t mine = per_source[ctx.source] + 1;
    for (const Held& h : recs) {
      if (h.kind == RecordKind::kPinned || plan.takes({h.rec.key, h.rec.owner})) continue;
      const std::size_t theirs = per_source[h.src];
      if (theirs <= mine) continue;
      if (!victim || std::tie(theirs, h.serial) > std::tie(per_source[victim->src], victim->serial)) {
        victim = &h;
      }
    }
  }
  if (!victim) return false;
  const std::size_t cost = stored_cost(victim->rec);
  plan.victims.push_back({{victim->rec.key, victim->rec.owner}, victim->rec.expires_at, cost, victim->src});
  plan.freed += cost;
  return true;
}

// Byte bound: expired records first, then the newest unpinned records of
// the sources holding the most bytes, each only while that source holds
// more than the newcomer's will. false: not enough room can be made.
bool Store::Impl::plan_bytes(const Record& r, const PutContext& ctx, TimeMs now, Plan& plan) const {
  const std::size_t cost = stored_cost(r);
  auto room = [&] { return bytes - plan.freed + cost <= limits.max_bytes; };
  for (auto e = by_expiry.begin(); !room() && e != by_expiry.end() && e->first.at <= now; ++e) {
    const RecordRef ref{e->first.key, e->first.owner};
    if (plan.takes(ref)) continue;
    plan.victims.push_back({ref, e->first.at, e->second, held_record(ref)->src});
    plan.freed += e->second;
  }
  std::size_t mine = cost;
  if (auto s = sources.find(ctx.source); s != sources.end()) mine += s->second.bytes;
  mine -= plan.freed_from(ctx.source);
  if (plan.replaced) {
    const Held* old = held_record(*plan.replaced);
    if (old->src == ctx.source) mine -= std::min(mine, stored_cost(old->rec));
  }
  int sources_seen = 0;
  for (auto s = sources_by_bytes.rbegin(); !room() && s != sources_by_bytes.rend() &&
                                           sources_seen < kMaxVictimSources; ++s, ++sources_seen) {
    const SourceUse& u = sources.at(s->second);
    int seen = 0;
    for (auto it = u.by_serial.rbegin(); !room() && it != u.by_serial.rend() && seen < kMaxScan;
         ++it, ++seen) {
      if (u.bytes - plan.freed_from(s->second) <= mine) break;
      if (plan.takes(it->second)) continue;
      const Held& h = *held_record(it->second);
      if (h.kind == RecordKind::kPinned) continue;
      const std::size_t c = stored_cost(h.rec);
      plan.victims.push_back({it->second, h.rec.expires_at, c, h.src});
      plan.freed += c;
    }
  }
  return room();
}

void Store::Impl::apply(const Plan& plan, std::size_t key_victims, std::size_t kind_victims) {
  for (const auto& v : plan.victims) remove(v.ref);
  const std::size_t byte_victims = plan.victims.size() - key_victims - kind_victims;
  stats.evictions_key += key_victims;
  stats.evictions_kind += kind_victims;
  stats.evictions_bytes += byte_victims;
  if (m.evict_key && key_victims) m.evict_key->inc(key_victims);
  if (m.evict_kind && kind_victims) m.evict_kind->inc(kind_victims);
  if (m.evict_bytes && byte_victims) m.evict_bytes->inc(byte_victims);
  if (plan.replaced) remove(*plan.replaced);
}

StoreOutcome Store::Impl::put(const Record& r, const PutContext& ctx, TimeMs now) {
  if (r.expires_at <= now) return count(StoreOutcome::kExpired);
  const std::size_t cost = stored_cost(r);
  if (cost > limits.max_bytes || limits.max_values_per_key == 0) return count(StoreOutcome::kNoRoom);
  auto k = by_key.find(r.key);
  const Held* held = nullptr;
  bool service_key = false;
  if (k != by_key.end()) {
    auto it = find_owner(k->second, r.owner);
    if (it != k->second.end()) held = &*it;
    service_key = std::any_of(k->second.begin(), k->second.end(),
                              [](const Held& h) { return h.kind != RecordKind::kGeneric; });
  }
  if (held && r.seq < held->rec.seq) return count(StoreOutcome::kStale);
  if (held && r.seq == held->rec.seq) return count(StoreOutcome::kDuplicate);
  if (ctx.kind == RecordKind::kGeneric && service_key) return count(StoreOutcome::kWrongKind);
  if (StoreOutcome o = check_caps(r, ctx, held); o != StoreOutcome::kStored) return count(o);

  // Plan every eviction before changing anything, so a refused put leaves
  // the store exactly as it was.
  Plan plan;
  if (held) {
    plan.replaced = RecordRef{r.key, r.owner};
    plan.freed += stored_cost(held->rec);
  }
  std::size_t kind_victims = 0;
  if (ctx.kind != RecordKind::kGeneric && k != by_key.end()) {
    // A service record proves the key is a service's: generic values go.
    for (const Held& h : k->second) {
      if (h.kind != RecordKind::kGeneric || (held && &h == held)) continue;
      plan.victims.push_back({{h.rec.key, h.rec.owner}, h.rec.expires_at, stored_cost(h.rec), h.src});
      plan.freed += stored_cost(h.rec);
      ++kind_victims;
    }
  }
  std::size_t key_victims = 0;
  if (!held && k != by_key.end() &&
      k->second.size() - kind_victims >= limits.max_values_per_key) {
    if (!plan_key(k->second, ctx, now, plan)) return count(StoreOutcome::kNoRoom);
    key_victims = 1;
  }
  // plan_key's victim sits after the kind victims; apply() counts by position.
  if (!plan_bytes(r, ctx, now, plan)) return count(StoreOutcome::kNoRoom);
  apply(plan, key_victims, kind_victims);
  insert(r, ctx);
  BC_ASSERT(bytes <= limits.max_bytes);
  BC_ASSERT(sources.at(ctx.source).bytes <= limits.max_bytes_per_source);
  BC_ASSERT(owners.at(r.owner) <= limits.max_bytes_per_owner);
  return count(held ? StoreOutcome::kReplaced : StoreOutcome::kStored);
}

Store::Store(StoreLimits limits, metrics::Registry* metrics, std::uint64_t hash_seed)
    : impl_(std::make_unique<Impl>(limits, metrics, hash_seed)) {}
Store::~Store() = default;
Store::Store(Store&&) noexcept = default;
Store& Store::operator=(Store&&) noexcept = default;

StoreOutcome Store::put(const Record& r, TimeMs now) { return impl_->put(r, PutContext{}, now); }
StoreOutcome Store::put(const Record& r, const PutContext& ctx, TimeMs now) {
  return impl_->put(r, ctx, now);
}

std::vector<Record> Store::get(const Key& key, TimeMs now) const {
  std::vector<Record> out;
  auto k = impl_->by_key.find(key);
  if (k == impl_->by_key.end()) return out;
  for (const auto& h : k->second) {
    if (h.rec.expires_at > now) out.push_back(h.rec);
  }
  return out;
}

std::optional<Record> Store::get_one(const Key& key, const XOnlyPubKey& owner, TimeMs now) const {
  auto k = impl_->by_key.find(key);
  if (k == impl_->by_key.end()) return std::nullopt;
  auto it = Impl::find_owner(k->second, owner);
  if (it == k->second.end() || it->rec.expires_at <= now) return std::nullopt;
  return it->rec;
}

bool Store::is_full(const Key& key, TimeMs new_ttl_ms, TimeMs now) const {
  auto k = impl_->by_key.find(key);
  if (k == impl_->by_key.end()) return impl_->limits.sloppy_l <= 0;
  std::size_t lasting = 0;
  for (const auto& h : k->second) {
    const Record& r = h.rec;
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
    const ExpiryRef& e = impl_->by_expiry.begin()->first;
    out.push_back(impl_->remove(RecordRef{e.key, e.owner}));
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
std::size_t Store::source_bytes(const SourceId& s) const {
  auto it = impl_->sources.find(s);
  return it == impl_->sources.end() ? 0 : it->second.bytes;
}
std::size_t Store::owner_bytes(const XOnlyPubKey& o) const {
  auto it = impl_->owners.find(o);
  return it == impl_->owners.end() ? 0 : it->second;
}
std::size_t Store::load_keys() const { return impl_->load.size(); }
const StoreStats& Store::stats() const { return impl_->stats; }
const StoreLimits& Store::limits() const { return impl_->limits; }

}  // namespace bc::routing
