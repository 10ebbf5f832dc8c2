// Resolver: cached, watched, validated service lookups over the DSHT.
#include "sal/records/resolver.hpp"

#include <algorithm>
#include <limits>

#include "sal/records/record_validator.hpp"

namespace bc::sal {
namespace {

constexpr TimeMs kNoWakeup = std::numeric_limits<TimeMs>::max() / 2;
constexpr const char* kResolves = "bc_sal_resolves_total";
constexpr const char* kResolvesHelp = "Service resolves, by how they were answered";

}  // namespace

Resolver::Resolver(routing::DhtNode& node, metrics::Registry& metrics, ResolverConfig config)
    : node_(node),
      cfg_(config),
      verified_(config.signature_cache_entries),
      alive_(std::make_shared<bool>(true)),
      reg_(metrics),
      hits_(metrics.counter(kResolves, kResolvesHelp, {{"result", "hit"}})),
      negative_hits_(metrics.counter(kResolves, kResolvesHelp, {{"result", "negative_hit"}})),
      misses_(metrics.counter(kResolves, kResolvesHelp, {{"result", "miss"}})),
      coalesced_(metrics.counter(kResolves, kResolvesHelp, {{"result", "coalesced"}})),
      lookups_(metrics.counter("bc_sal_resolver_lookups_total", "DSHT gets started by the resolver")),
      lookup_failures_(metrics.counter("bc_sal_resolver_lookup_failures_total",
                                       "Resolver DSHT gets that failed")),
      revoked_(metrics.counter("bc_sal_resolver_revoked_total",
                               "Endpoints left out of answers because the owner revoked their delegation")),
      events_added_(metrics.counter("bc_sal_resolver_watch_events_total", "Watch pushes received, by kind",
                                    {{"kind", "added"}})),
      events_expired_(metrics.counter("bc_sal_resolver_watch_events_total", "Watch pushes received, by kind",
                                      {{"kind", "expired"}})),
      overflow_(metrics.counter(kResolves, kResolvesHelp, {{"result", "refused_too_many_waiters"}})),
      entries_gauge_(metrics.gauge("bc_sal_resolver_cache_entries", "Services in the resolver cache")),
      watches_gauge_(metrics.gauge("bc_sal_resolver_watches", "Services the resolver watches in the DSHT")) {}

Resolver::~Resolver() {
  *alive_ = false;
  for (auto& [id, e] : entries_) drop_watch(e);
}

std::size_t Resolver::watch_count() const {
  std::size_t n = 0;
  for (const auto& [id, e] : entries_) n += e.watch_id != 0;
  return n;
}

void Resolver::update_gauges() {
  entries_gauge_.set(static_cast<double>(entries_.size()));
  watches_gauge_.set(static_cast<double>(watch_count()));
}

void Resolver::set_change_listener(ChangeListener listener) { listener_ = std::move(listener); }

Resolution Resolver::answer(const ServiceId& id, const Entry& e, TimeMs now, bool from_cache) const {
  Resolution r;
  r.service = id;
  r.from_cache = from_cache;
  for (const auto& [key, h] : e.endpoints) {
    const Delegation& d = h.info.delegation;
    if (h.info.withdrawn() || h.expires_at <= now || now < d.not_before || now >= d.expires_at) continue;
    if (e.statement && e.statement_expires_at > now && e.statement->revokes(d)) continue;
    ResolvedEndpoint ep;
    ep.provider_key = key;
    ep.provider_id = node_id_of(key);
    ep.addresses = h.info.addresses;
    ep.weight = h.info.weight;
    ep.cluster_hints = h.info.cluster_hints;
    ep.expires_at = h.expires_at;
    ep.seq = h.seq;
    ep.delegation = d;
    r.endpoints.push_back(std::move(ep));
  }
  return r;
}

bool Resolver::fresh(const Entry& e, TimeMs now) const {
  if (!e.answered || now >= e.fresh_until) return false;
  // A positive answer whose endpoints all expired meanwhile is not served.
  if (!e.endpoints.empty()) {
    for (const auto& [key, h] : e.endpoints) {
      if (!h.info.withdrawn() && h.expires_at > now) return true;
    }
    return e.watch_id != 0;  // watched: the pushes say it is really empty now
  }
  return true;
}

bool Resolver::absorb(Entry& e, const routing::Record& r, TimeMs now) {
  SalPayload parsed;
  RecordReason reason = validate_service_record(r, now, &verified_, &parsed);
  if (reason != RecordReason::kOk) {
    reg_.counter("bc_sal_resolver_rejected_total", "Records under a service id the resolver refused, by reason",
                 {{"reason", to_string(reason)}})
        .inc();
    return false;
  }
  if (auto* info = std::get_if<EndpointInfo>(&parsed)) {
    auto it = e.endpoints.find(r.owner);
    if (it != e.endpoints.end() && it->second.seq >= r.seq) return false;
    e.endpoints[r.owner] = Held{r.seq, r.expires_at, std::move(*info)};
    return true;
  }
  OwnerStatement& s = std::get<OwnerStatement>(parsed);
  if (e.statement && e.statement->seq >= s.seq) {
    // Same statement re-signed with a later expiry: keep it alive longer.
    if (e.statement->seq == s.seq) e.statement_expires_at = std::max(e.statement_expires_at, r.expires_at);
    return false;
  }
  e.statement = std::move(s);
  e.statement_expires_at = r.expires_at;
  e.statement_record_owner = r.owner;
  return true;
}

void Resolver::resolve(const ServiceId& service, TimeMs now, Outbox& out, Callback done) {
  now_ = std::max(now_, now);
  auto it = entries_.find(service);
  if (it == entries_.end()) {
    make_room(now);
    it = entries_.emplace(service, Entry{}).first;
  }
  Entry& e = it->second;
  e.last_used = now;
  e.use_order = next_use_++;
  ensure_watch(service, e, now, out);
  if (fresh(e, now)) {
    Resolution r = answer(service, e, now, true);
    for (const auto& [key, h] : e.endpoints) {
      if (e.statement && e.statement_expires_at > now && e.statement->revokes(h.info.delegation)) {
        revoked_.inc();
      }
    }
    (r.endpoints.empty() ? negative_hits_ : hits_).inc();
    update_gauges();
    if (done) done(r);
    return;
  }
  if (e.pending) {
    if (e.waiters.size() >= cfg_.max_waiters) {
      overflow_.inc();
      Resolution r;
      r.service = service;
      r.status = fail(bc::Errc::kResourceExhausted,
                      "too many resolves are waiting for " + service_id_to_text(service) + "; retry shortly");
      if (done) done(r);
      return;
    }
    coalesced_.inc();
    e.waiters.push_back(std::move(done));
    return;
  }
  misses_.inc();
  e.waiters.push_back(std::move(done));
  start_lookup(service, e, now, out);
  update_gauges();
}

void Resolver::start_lookup(const ServiceId& id, Entry& e, TimeMs now, Outbox& out) {
  e.pending = true;
  e.generation = next_generation_++;
  lookups_.inc();
  std::weak_ptr<bool> alive = alive_;
  const std::uint64_t gen = e.generation;
  // The callback may run at once (we store the key ourselves): e stays valid,
  // map nodes do not move.
  const bool fresh_get = fresh_next_.erase(id) > 0;
  node_.get(
      id, now, out,
      [this, alive, id, gen](const routing::GetResult& g) {
        if (auto a = alive.lock(); a && *a) on_lookup(id, gen, g);
      },
      routing::DhtNode::GetOptions{.fresh = fresh_get});
}

void Resolver::on_lookup(const ServiceId& id, std::uint64_t generation, const routing::GetResult& g) {
  auto it = entries_.find(id);
  if (it == entries_.end() || it->second.generation != generation || !it->second.pending) return;
  Entry& e = it->second;
  const TimeMs now = now_;
  e.pending = false;
  std::vector<Callback> waiters = std::move(e.waiters);
  e.waiters.clear();
  Resolution r;
  if (!g.ok()) {
    lookup_failures_.inc();
    r.service = id;
    r.status = fail(g.status.code, "DSHT lookup for " + service_id_to_text(id) + " failed: " + g.status.message);
  } else {
    // Replace the view by what the storage nodes hold now, keeping anything
    // newer a watch pushed meanwhile.
    Entry fetched;
    for (const routing::Record& rec : g.values) absorb(fetched, rec, now);
    for (auto& [key, h] : e.endpoints) {
      auto f = fetched.endpoints.find(key);
      if (f != fetched.endpoints.end() && f->second.seq < h.seq) f->second = h;
    }
    if (e.statement && (!fetched.statement || fetched.statement->seq < e.statement->seq) &&
        e.statement_expires_at > now) {
      fetched.statement = e.statement;
      fetched.statement_expires_at = e.statement_expires_at;
      fetched.statement_record_owner = e.statement_record_owner;
    }
    e.endpoints = std::move(fetched.endpoints);
    e.statement = std::move(fetched.statement);
    e.statement_expires_at = fetched.statement_expires_at;
    e.statement_record_owner = fetched.statement_record_owner;
    e.answered = true;
    r = answer(id, e, now, false);
    for (const auto& [key, h] : e.endpoints) {
      if (e.statement && e.statement_expires_at > now && e.statement->revokes(h.info.delegation)) {
        revoked_.inc();
      }
    }
    const TimeMs ttl = r.endpoints.empty() ? cfg_.negative_ttl_ms
                                           : (e.watch_id != 0 ? cfg_.watched_ttl_ms : cfg_.positive_ttl_ms);
    e.fresh_until = now + ttl;
  }
  update_gauges();
  // Waiters may call back into the resolver: e is not touched after this.
  for (auto& w : waiters) {
    if (w) w(r);
  }
}

void Resolver::ensure_watch(const ServiceId& id, Entry& e, TimeMs now, Outbox& out) {
  if (e.watch_id != 0 || watch_count() >= cfg_.max_watches) return;
  std::weak_ptr<bool> alive = alive_;
  e.watch_id = node_.watch(id, now, out, [this, alive, id](const routing::WatchEvent& ev) {
    if (auto a = alive.lock(); a && *a) on_watch_event(id, ev);
  });
}

void Resolver::drop_watch(Entry& e) {
  if (e.watch_id == 0) return;
  node_.unwatch(e.watch_id);
  e.watch_id = 0;
}

void Resolver::on_watch_event(const ServiceId& id, const routing::WatchEvent& ev) {
  auto it = entries_.find(id);
  if (it == entries_.end()) return;
  Entry& e = it->second;
  const TimeMs now = now_;
  bool changed = false;
  if (ev.kind == routing::WatchEvent::Kind::kAdded) {
    events_added_.inc();
    changed = absorb(e, ev.record, now);
  } else {
    events_expired_.inc();
    auto h = e.endpoints.find(ev.record.owner);
    if (h != e.endpoints.end() && h->second.seq <= ev.record.seq) {
      e.endpoints.erase(h);
      changed = true;
    }
    if (e.statement && ev.record.owner == e.statement_record_owner &&
        e.statement_expires_at <= ev.record.expires_at) {
      e.statement.reset();
      changed = true;
    }
  }
  if (!changed) return;
  // A pushed change keeps an answered view current: answer from it (this
  // also turns a cached "not found" into a hit as soon as a provider
  // appears). A view no lookup completed is not trusted on pushes alone.
  if (e.answered && !e.pending) e.fresh_until = std::max(e.fresh_until, now + cfg_.watched_ttl_ms);
  if (listener_) listener_(id);
}

void Resolver::invalidate(const ServiceId& service) {
  if (fresh_next_.size() >= cfg_.max_entries) fresh_next_.clear();  // bounded; a plain get is still an answer
  fresh_next_.insert(service);
  auto it = entries_.find(service);
  if (it == entries_.end()) return;
  if (it->second.pending) {
    // Its lookup's waiters still get their answer; the data is not cached.
    it->second.fresh_until = 0;
    it->second.endpoints.clear();
    return;
  }
  drop_watch(it->second);
  entries_.erase(it);
  update_gauges();
}

void Resolver::make_room(TimeMs now) {
  if (entries_.size() < cfg_.max_entries) return;
  // Least recently used entry with no lookup in flight.
  auto victim = entries_.end();
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    if (it->second.pending) continue;
    if (victim == entries_.end() || it->second.use_order < victim->second.use_order) victim = it;
  }
  if (victim == entries_.end()) return;  // all pending: bounded by max_entries lookups anyway
  drop_watch(victim->second);
  entries_.erase(victim);
}

void Resolver::on_tick(TimeMs now, Outbox& out) {
  now_ = std::max(now_, now);
  for (auto it = entries_.begin(); it != entries_.end();) {
    Entry& e = it->second;
    const bool in_use = now - e.last_used < cfg_.in_use_ms;
    if (!in_use) drop_watch(e);
    if (!in_use && !e.pending && now >= e.fresh_until) {
      it = entries_.erase(it);
      continue;
    }
    ++it;
  }
  update_gauges();
}

TimeMs Resolver::next_wakeup() const {
  TimeMs t = kNoWakeup;
  for (const auto& [id, e] : entries_) {
    if (e.watch_id != 0) t = std::min(t, e.last_used + cfg_.in_use_ms);
    if (!e.pending) t = std::min(t, std::max(e.fresh_until, e.last_used + cfg_.in_use_ms));
  }
  return t;
}

std::optional<Resolution> Resolver::cached(const ServiceId& service, TimeMs now) const {
  auto it = entries_.find(service);
  if (it == entries_.end() || !fresh(it->second, now)) return std::nullopt;
  return answer(service, it->second, now, true);
}

}  // namespace bc::sal
