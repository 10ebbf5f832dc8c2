// Internal state of DhtNode (routing/dht.hpp); included only by routing/'s
// dht_*.cpp files, one per job:
//   dht.cpp              the public API: entry points (CallScope), status
//   dht_transport.cpp    requests, txids, timeouts and retries, PING/PONG,
//                        the dispatch of received datagrams
//   dht_peers.cpp        verified peers, routing tables, Coral clusters
//   dht_serve.cpp        answers to other nodes' requests
//   dht_lookup.cpp       iterative lookups per cluster level
//   dht_put.cpp          puts (PutOp, detail/put_op.hpp) and publish
//   dht_maintenance.cpp  timers, bucket refresh, bootstrap and join
//   dht_watch.cpp        watches we hold and NOTIFYs we send
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <unordered_map>
#include <vector>

#include "layers/assert.hpp"
#include "routing/detail/clusters.hpp"
#include "routing/dht.hpp"
#include "routing/detail/lookup.hpp"
#include "routing/messages.hpp"
#include "routing/detail/rate_limiter.hpp"
#include "routing/detail/routing_table.hpp"
#include "routing/store.hpp"
#include "routing/detail/watch_table.hpp"
#include "routing/detail/watches.hpp"
#include "routing/detail/write_tokens.hpp"

namespace bc::routing {

inline constexpr std::size_t kMaxPending = 8192;  // outstanding requests
// Floor of the adaptive request timeout: a spurious timeout only costs a
// resend (the answer is still taken), but a contact fails after the retry.
inline constexpr TimeMs kMinRtoMs = 100;
// What QUIC allows a server toward an address not yet validated (RFC 9000,
// 8.1): three bytes out per byte in.
inline constexpr std::size_t kAmplificationFactor = 3;

// The drop counter a record failing check_record() or the validator feeds.
DropReason drop_of(RecordError e);

// A node that proved its id at `endpoint` (PING/PONG), with what it last
// told us about its clusters and our smoothed RTT to it.
struct Peer {
  NodeId id;
  Endpoint endpoint;
  TimeMs rtt = -1;      // smoothed RTT (RFC 6298 SRTT); -1 if never measured
  TimeMs rttvar = -1;   // RTT variation (RFC 6298 RTTVAR)
  TimeMs last_seen = 0;
  TimeMs last_failure = -1;  // when a request to it last failed; -1 once it answered since
  // What it reports for levels 1 and 2 (level 0 is global: nothing to
  // keep; up to 512 peers per node, so 36 bytes each count at 100k nodes).
  Hash256& cluster(int level) { return inner_cluster[level - 1]; }
  const Hash256& cluster(int level) const { return inner_cluster[level - 1]; }
  std::uint32_t& cluster_size(int level) { return inner_cluster_size[level - 1]; }
  Hash256 inner_cluster[kLevels - 1];
  std::uint32_t inner_cluster_size[kLevels - 1] = {0, 0};
};

// An outstanding request, keyed by txid. `done` gets the response, or
// nullptr once every retry timed out (or an ERROR came back). A retry
// resends the same txid, so a late answer to the first try still counts.
// `on_stall` (lookups) runs once when the request outlives its RTO.
struct Pending {
  enum class Kind { kPing, kOther };
  Kind kind = Kind::kOther;
  Endpoint to;
  std::optional<NodeId> expect;  // id we expect to answer (unknown for seeds)
  Body body;
  TimeMs sent_at = 0;
  TimeMs timeout = 0;       // of the current try (adaptive RTO, doubled on retry)
  TimeMs deadline = 0;
  int tries = 1;
  int max_tries = 1;
  std::uint64_t nonce = 0;  // PING
  bool need_proof = true;   // PING: the PONG must be signed (identity challenge)
  TimeMs stall_at = 0;      // 0: no stall notice (or already given)
  std::function<void()> on_stall;
  std::function<void(const Envelope*)> done;
};

// Keeps r in `by_owner` unless the owner's record there has a higher seq:
// every answer a get assembles is each owner's newest record.
inline void keep_newest(std::map<XOnlyPubKey, Record>& by_owner, const Record& r) {
  auto f = by_owner.find(r.owner);
  if (f == by_owner.end() || f->second.seq < r.seq) by_owner[r.owner] = r;
}

struct LookupOp {
  enum class Purpose { kNodes, kGet, kPutProbe };
  LookupOp(const Hash256& target, const DhtConfig& c)
      : lk(target, static_cast<std::size_t>(c.search_width),
           static_cast<std::size_t>(std::max(c.bucket_size, c.replicas)), c.alpha) {}
  Purpose purpose = Purpose::kNodes;
  Lookup lk;
  int level = 0;
  TimeMs new_ttl_ms = 0;
  bool completed = false;
  // Outward probe of a hot key (Coral put): ask only the seeds, never the
  // contacts they return, and stop once this many answered not full+loaded.
  bool expand = true;
  std::size_t stop_at_eligible = 0;
  bool exhaustive = false;  // kGet: keep walking to the closest nodes after values are found
  // Bucket refresh (kNodes): the level's bucket it is filling; the lookup
  // stops once that bucket would be full. -1: not a refresh.
  int fill_bucket = -1;
  std::map<XOnlyPubKey, Record> found;  // kGet: best verified record per owner
  std::function<void(LookupOp&)> on_done;
};

// A key we published ourselves and keep alive.
struct Published {
  Bytes payload;
  TimeMs ttl_ms = 0;
  std::uint64_t last_seq = 0;
  TimeMs republish_at = 0;
  bool active = true;
  // The last put: whether one is under way, when it ended, on how many
  // distinct nodes it landed and how many global contacts we had then. A
  // record published while the network was still forming sits on few nodes;
  // it goes out again as the routing table grows (thin_and_grown).
  bool in_flight = false;
  TimeMs put_done_at = 0;
  int nodes = 0;
  std::size_t contacts_then = 0;
};

// A thin record is put again at most this often while the table grows.
inline constexpr TimeMs kThinRepublishMs = 2'000;

struct DhtNode::Impl {
  Impl(KeyPair identity, Endpoint self, DhtConfig config, std::uint64_t rng_seed,
       metrics::Registry& metrics);

  // ---- identity and configuration ----
  KeyPair key;
  NodeId id;
  Endpoint self;
  DhtConfig cfg;
  Rng rng;
  metrics::Registry& reg;
  Clusters clusters;
  DecodeLimits limits;

  // ---- state ----
  std::vector<RoutingTable> tables;  // one per level in use
  std::unordered_map<NodeId, Peer, Hash256Hasher> peers;
  std::map<std::uint64_t, Pending> pending;
  // (time, txid) for every deadline and stall time set on a pending request,
  // earliest first. Entries go stale when the request ends or its time
  // changes; they are skipped when they reach the top. Scanning `pending`
  // for each wakeup was the largest cost of a 10k-node simulation.
  std::priority_queue<std::pair<TimeMs, std::uint64_t>, std::vector<std::pair<TimeMs, std::uint64_t>>,
                      std::greater<>>
      request_timers;
  bool timer_live(TimeMs t, std::uint64_t txid) const {
    auto it = pending.find(txid);
    return it != pending.end() && (it->second.deadline == t || it->second.stall_at == t);
  }
  std::unordered_map<Endpoint, std::uint64_t, EndpointHasher> pinging;  // endpoint -> txid of our PING in flight
  Store store;
  WatchTable watch_table;
  WriteTokens tokens;
  SignatureCache own_sigs;  // empty when cfg.shared_signature_cache is set
  SignatureCache& verified_sigs;
  // Our address certificate (see DhtConfig::addr_cert_lifetime_ms).
  Endpoint cert_address;
  TimeMs cert_expires_at = 0;
  Signature cert_signature;
  RecordValidator validator;  // empty: every well-signed record is accepted
  // check_record() and then the validator: every record from the network and
  // every record we are asked to put passes here.
  // `kind` (optional) gets the validator's RecordKind of an accepted record.
  RecordError checked(const Record& r, RecordKind* kind = nullptr) {
    RecordError e = check_record(r, now, cfg.max_ttl_ms, &verified_sigs);
    if (e != RecordError::kNone || !validator) return e;
    const RecordVerdict v = validator(r, now);
    if (!v.accepted) return RecordError::kRejected;
    if (kind) *kind = v.kind;
    return e;
  }
  RateLimiter limiter;
  std::size_t active_lookups = 0;
  std::map<Key, Published> published;
  // A record of ours older than the last one we published for its key.
  bool superseded_own(const Record& r) const {
    if (r.owner != key.public_key()) return false;
    auto p = published.find(r.key);
    return p != published.end() && r.seq < p->second.last_seq;
  }
  // Local records with our own superseded ones left out (a replay we took
  // before we published again is never served, to us or to others).
  std::vector<Record> local_records(const Key& k) const {
    std::vector<Record> out = store.get(k, now);
    std::erase_if(out, [this](const Record& r) { return superseded_own(r); });
    return out;
  }
  Watches watches{*this};  // the watches we hold (detail/watches.hpp)
  TimeMs next_maintenance = 0;
  // Node-wide high-water RTT (jumps up to a larger sample, decays slowly):
  // the stall time for a peer we never measured. A mean over near and far
  // peers would stall every far one.
  TimeMs rtt_high = -1;
  bool bootstrap_lookup_started = false;
  std::vector<Endpoint> seeds;  // retried while our table is empty

  // The current call's time and outbox (set by every entry point).
  TimeMs now = 0;
  Outbox* out = nullptr;
  // True while an input is being processed (CallScope): the node's state
  // may be half-changed, so nothing may call into it.
  bool busy = false;
  // Completions of user operations, run by the outermost CallScope once
  // the node is consistent (see "Completion callbacks" in routing/dht.hpp).
  std::vector<std::function<void()>> completions;
  template <class Callback, class Result>
  void complete(Callback cb, Result result) {
    if (!cb) return;
    completions.push_back([cb = std::move(cb), result = std::move(result)]() { cb(result); });
  }

  // ---- metrics ----
  metrics::Counter* dropped[kDropReasonCount];
  metrics::Counter* rx;
  metrics::Counter* tx;
  metrics::Counter* stores_received;
  metrics::Counter* find_values_received;
  metrics::Counter* bad_records;
  metrics::Counter* lookups;
  metrics::Counter* cluster_joins;
  metrics::Counter* notifies_sent;
  std::uint64_t n_stores_received = 0;
  std::uint64_t n_find_values_received = 0;
  std::uint64_t n_bad_records = 0;

  // ---- dht_transport.cpp: requests, timeouts, PING/PONG, dispatch ----
  void drop(DropReason r);
  Envelope envelope(Body body, std::uint64_t txid) const;
  void transmit(const Endpoint& to, const Envelope& env);
  std::uint64_t fresh_txid();
  void request(const Endpoint& to, std::optional<NodeId> expect, Body body,
               std::function<void(const Envelope*)> done,
               std::function<void()> on_stall = {});
  // The peer verified at exactly this endpoint, if any.
  Peer* verified_at(const std::optional<NodeId>& nid, const Endpoint& ep);
  TimeMs rto(const Peer& p) const;  // clamp(srtt + 4 rttvar, floor, request_timeout_ms)
  TimeMs default_stall() const;     // 1.5 x the node-wide high-water RTT, same bounds
  void rtt_sample(Peer* p, TimeMs sample);
  void ping(const Endpoint& to, std::optional<NodeId> expect,
            std::function<void(const Envelope*)> done = {});
  void handle(const Endpoint& from, ByteView data);
  // ---- dht_serve.cpp: answers to other nodes ----
  // Size of the request being answered: until its sender proved its
  // address, an answer is at most kAmplificationFactor times that.
  std::size_t request_bytes = 0;
  bool address_proven(const Endpoint& from, const Envelope& env, ByteView token);
  // VALUES cut to `cap` bytes: contacts first, then records; need_token set.
  void cut_values(msg::Values& v, std::uint64_t txid, std::size_t cap) const;
  void handle_response(const Endpoint& from, Envelope& env);
  void handle_request(const Endpoint& from, const Envelope& env);
  void serve_ping(const Endpoint& from, const Envelope& env, const msg::Ping& m);
  void serve_find_value(const Endpoint& from, const Envelope& env, const msg::FindValue& m);
  void serve_store(const Endpoint& from, const Envelope& env, const msg::Store& m);
  void serve_watch(const Endpoint& from, const Envelope& env, const msg::Watch& m);
  // A record that failed checked(): counted as dropped and as bad.
  void count_bad_record(RecordError e);
  // ---- dht_peers.cpp: verified peers, tables, clusters ----
  void heard_from(const Endpoint& from, const Envelope& env);
  // Whether proving an unverified sender's id could change anything: a
  // table or replacement cache would keep it, or its cluster is one to join.
  void refresh_addr_cert();  // (re)signs our certificate when due
  bool worth_proving(const Envelope& env) const;
  void verified(const Endpoint& from, const Envelope& env, TimeMs rtt);
  void update_membership(Peer& p);
  void observe_in(int level, const Peer& p);
  void rebuild_level(int level);
  void note_failure(const NodeId& id);
  void expire_requests();  // dht_transport.cpp
  std::vector<WireContact> contacts_for(int level, const Hash256& cluster,
                                        const Hash256& target) const;
  void notify_watchers(const Record& r, NotifyKind kind);  // dht_watch.cpp
  int levels() const { return static_cast<int>(tables.size()); }
  std::uint32_t cluster_size(int level) const {
    return level == 0 ? 0 : static_cast<std::uint32_t>(tables[level].size() + 1);
  }

  // ---- dht_lookup.cpp, dht_get.cpp, dht_put.cpp: lookups, gets, puts ----
  std::shared_ptr<LookupOp> start_lookup(LookupOp::Purpose purpose, const Hash256& target,
                                         int level, TimeMs new_ttl_ms,
                                         std::function<void(LookupOp&)> on_done);
  std::shared_ptr<LookupOp> start_outward_probe(const Key& key, int level, TimeMs new_ttl_ms,
                                                const std::vector<NodeId>& exclude,
                                                std::size_t needed,
                                                std::function<void(LookupOp&)> on_done);
  void pump(const std::shared_ptr<LookupOp>& op);
  msg::FindValue find_value_of(const LookupOp& op, Bytes token) const;
  void send_lookup_request(const std::shared_ptr<LookupOp>& op, const Candidate& c, Body body);
  void on_lookup_reply(const std::shared_ptr<LookupOp>& op, const NodeId& cid,
                       const Envelope* resp);
  // A VALUES answer to a lookup: its records, fullness and contacts.
  void take_values(LookupOp& op, Candidate& c, const msg::Values& v);
  void on_lookup_stall(const std::shared_ptr<LookupOp>& op, const NodeId& cid);
  std::vector<int> lookup_levels() const;
  bool collapsed(int inner, int outer) const;
  void put_record(const Record& r, PutCallback done);
  void start_get(const Key& key, GetCallback done, bool fresh);
  void publish_now(const Key& k, Published& p, PutCallback done);
  // Fewer copies than `replicas` and more global contacts than at that put.
  bool thin_and_grown(const Published& p) const {
    return p.nodes < cfg.replicas && tables[0].size() > p.contacts_then;
  }

  // ---- dht_maintenance.cpp: timers, bootstrap, join, refresh ----
  void bootstrap(const std::vector<Endpoint>& seed_list);
  void contact_seeds();
  // A lookup toward a random id in `bucket` of `level`'s table.
  void refresh_bucket(int level, int bucket, std::function<void(LookupOp&)> done);
  // After the lookup of our own id: level-0 buckets [bucket, end) that are
  // not full, one at a time.
  void join_refresh(int bucket, int end);
  bool bucket_filled(const LookupOp& op) const;
  void maintenance();
  void run_timers();
  TimeMs wakeup();  // drops stale request timers on the way
  TimeMs cached_wakeup = 0;  // wakeup() as of the end of the last call (0: tick at once)
};

// Opens one input or API call: sets the time and Outbox, refuses re-entry
// while the node is busy, and at the end of the outermost call runs the
// queued completions (a completion may call the API again: that opens a
// nested scope, whose completions join the same queue) and then computes
// next_wakeup() once.
// (A template so it can name the private DhtNode::Impl only where used.)
template <class Impl>
class CallScope {
 public:
  CallScope(Impl& impl, TimeMs now, Outbox& out)
      : impl_(impl), prev_out_(impl.out), outermost_(impl.out == nullptr) {
    BC_ASSERT_MSG(!impl.busy, "DhtNode called from inside itself (a validator or a re-entrant call)");
    impl.busy = true;
    impl.now = std::max(impl.now, now);
    impl.out = &out;
  }
  ~CallScope() {
    impl_.busy = false;
    if (outermost_) {
      // Index loop: a completion may queue more.
      for (std::size_t i = 0; i < impl_.completions.size(); ++i) {
        auto done = std::move(impl_.completions[i]);
        done();
      }
      impl_.completions.clear();
    }
    impl_.out = prev_out_;
    // next_wakeup() is read after each input and walks every pending
    // request, so it is computed once, now. (unwatch() and unpublish() only
    // make it later: an early tick is harmless.)
    impl_.cached_wakeup = impl_.wakeup();
  }
  CallScope(const CallScope&) = delete;
  CallScope& operator=(const CallScope&) = delete;

 private:
  Impl& impl_;
  Outbox* prev_out_;
  bool outermost_;
};

}  // namespace bc::routing
