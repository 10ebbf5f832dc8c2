// Service ID -> valid endpoints, through the DSHT (docs/sal-records.md).
//
// Sans-I/O: wraps the node's routing::DhtNode; every call takes `now` and an
// Outbox like the node's own API, callbacks run from inside the node's
// on_datagram()/on_tick() (or at once on a cache hit). The driver calls
// on_tick() when now >= next_wakeup().
//
//   - TTL cache, bounded (max_entries, least recently used leaves first);
//   - negative cache: a service with no valid endpoint is remembered for
//     negative_ttl_ms;
//   - services in use (resolved within in_use_ms) are watched in the DSHT:
//     storage nodes push added, replaced, withdrawn and expired records, so
//     the cache follows providers within seconds; the watch is dropped when
//     the service is no longer used;
//   - every record is checked with validate_service_record(); the owner's
//     newest statement excludes the delegations it revokes;
//   - concurrent resolves of one service share one lookup.
// Counters: bc_sal_resolves_total{result}, bc_sal_resolver_lookups_total,
// bc_sal_resolver_lookup_failures_total, bc_sal_resolver_rejected_total{reason},
// bc_sal_resolver_revoked_total, bc_sal_resolver_watch_events_total{kind};
// gauges bc_sal_resolver_cache_entries, bc_sal_resolver_watches.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "layers/ids.hpp"
#include "layers/metrics.hpp"
#include "layers/core.hpp"
#include "layers/sig_cache.hpp"
#include "layers/status.hpp"
#include "routing/dht.hpp"
#include "sal/records/delegation.hpp"
#include "sal/records/endpoint_record.hpp"
#include "sal/records/service_id.hpp"

namespace bc::sal {

struct ResolvedEndpoint {
  NodeId provider_id;        // node_id_of(provider_key)
  XOnlyPubKey provider_key;  // the key a flow's TLS handshake must prove
  std::vector<Endpoint> addresses;
  std::uint16_t weight = 1;
  std::vector<ClusterHint> cluster_hints;
  TimeMs expires_at = 0;     // the endpoint record's expiry
  std::uint64_t seq = 0;
  Delegation delegation;
};

struct Resolution {
  ServiceId service;
  // Not ok: the lookup failed (kResourceExhausted: too many waiting; else the
  // DSHT's reason); nothing is known.
  Status status;
  std::vector<ResolvedEndpoint> endpoints;  // ok and empty: no valid endpoint (not found)
  bool from_cache = false;

  bool ok() const { return status.ok(); }
};

struct ResolverConfig {
  std::size_t max_entries = 1024;          // cached services
  TimeMs positive_ttl_ms = 30'000;         // an unwatched answer is trusted this long
  TimeMs watched_ttl_ms = 5 * 60'000;      // a watched answer (kept current by pushes), re-fetched after
  TimeMs negative_ttl_ms = 5'000;          // "not found" is remembered this long
  TimeMs in_use_ms = 2 * 60'000;           // watch a service while resolved within this
  std::size_t max_watches = 256;           // services watched at once
  std::size_t max_waiters = 256;           // resolves waiting on one lookup
  std::size_t signature_cache_entries = 4096;
};

class Resolver {
 public:
  using Callback = std::function<void(const Resolution&)>;
  using ChangeListener = std::function<void(const ServiceId&)>;

  // `node` and `metrics` must outlive the resolver.
  Resolver(routing::DhtNode& node, metrics::Registry& metrics, ResolverConfig config = {});
  ~Resolver();
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  void resolve(const ServiceId& service, TimeMs now, Outbox& out, Callback done);
  // The fresh cached answer, without a lookup and without marking it used.
  std::optional<Resolution> cached(const ServiceId& service, TimeMs now) const;
  // Forget a service (e.g. after every endpoint failed); its watch goes too.
  // Its next lookup is a fresh DSHT get: a plain get stops at the nearest
  // copy (our own, if we store the key), which misses a provider that just
  // moved when that copy missed its republish.
  void invalidate(const ServiceId& service);
  // Called (on the driver's thread) whenever a watch changes a service's
  // endpoints, so the service table can drop departed providers at once.
  void set_change_listener(ChangeListener listener);

  void on_tick(TimeMs now, Outbox& out);
  TimeMs next_wakeup() const;

  std::size_t cache_size() const { return entries_.size(); }
  std::size_t watch_count() const;

 private:
  struct Held {
    std::uint64_t seq = 0;
    TimeMs expires_at = 0;
    EndpointInfo info;
  };
  struct Entry {
    std::map<XOnlyPubKey, Held> endpoints;  // by provider key, withdrawals included
    std::optional<OwnerStatement> statement;
    TimeMs statement_expires_at = 0;
    XOnlyPubKey statement_record_owner;
    bool answered = false;      // a lookup finished (or a watch brought a record)
    TimeMs fresh_until = 0;
    bool pending = false;
    std::uint64_t generation = 0;  // lookups of an invalidated entry are ignored
    std::vector<Callback> waiters;
    TimeMs last_used = 0;
    std::uint64_t use_order = 0;  // LRU order (time alone ties within one ms)
    std::uint64_t watch_id = 0;
  };

  Resolution answer(const ServiceId& id, const Entry& e, TimeMs now, bool from_cache) const;
  bool fresh(const Entry& e, TimeMs now) const;
  // Validates r and merges it into e; true if e's view changed.
  bool absorb(Entry& e, const routing::Record& r, TimeMs now);
  void start_lookup(const ServiceId& id, Entry& e, TimeMs now, Outbox& out);
  void on_lookup(const ServiceId& id, std::uint64_t generation, const routing::GetResult& g);
  void on_watch_event(const ServiceId& id, const routing::WatchEvent& ev);
  void ensure_watch(const ServiceId& id, Entry& e, TimeMs now, Outbox& out);
  void drop_watch(Entry& e);
  void make_room(TimeMs now);
  void update_gauges();

  routing::DhtNode& node_;
  ResolverConfig cfg_;
  std::map<ServiceId, Entry> entries_;
  std::set<ServiceId> fresh_next_;  // invalidated: the next lookup is fresh
  SignatureCache verified_;
  ChangeListener listener_;
  TimeMs now_ = 0;  // latest time seen (watch pushes carry none)
  std::uint64_t next_generation_ = 1;
  std::uint64_t next_use_ = 1;
  std::shared_ptr<bool> alive_;  // callbacks in the node check it

  metrics::Registry& reg_;
  metrics::Counter &hits_, &negative_hits_, &misses_, &coalesced_, &lookups_, &lookup_failures_,
      &revoked_, &events_added_, &events_expired_, &overflow_;
  metrics::Gauge &entries_gauge_, &watches_gauge_;
};

}  // namespace bc::sal
