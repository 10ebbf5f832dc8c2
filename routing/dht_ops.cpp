// DhtNode: iterative lookups and the public API (bootstrap, put, publish,
// get, watch) plus the periodic work run from on_tick.
#include <algorithm>

#include "routing/dht_impl.hpp"

namespace bc::routing {
namespace {

// Bookkeeping work (pings of quiet contacts, bucket refresh) runs this often.
TimeMs maintenance_interval(const DhtConfig& c) {
  return std::max<TimeMs>(1000, std::min(c.ping_interval_ms, c.bucket_refresh_ms) / 4);
}

constexpr int kMaxRefreshLookupsPerRound = 4;

}  // namespace

// ---------------------------------------------------------------------------
// Lookups

std::shared_ptr<LookupOp> DhtNode::Impl::start_lookup(LookupOp::Purpose purpose,
                                                      const Hash256& target, int level,
                                                      TimeMs new_ttl_ms,
                                                      std::function<void(LookupOp&)> on_done) {
  auto op = std::make_shared<LookupOp>(target, cfg);
  op->purpose = purpose;
  op->level = level;
  op->new_ttl_ms = new_ttl_ms;
  op->on_done = std::move(on_done);
  for (const auto& e : tables[level].closest(target, static_cast<std::size_t>(cfg.search_width))) {
    op->lk.add(e.id, e.endpoint, 1);
  }
  int bucket = tables[level].bucket_of(target);
  if (bucket >= 0) tables[level].touch_bucket(bucket, now);
  lookups->inc();
  ++active_lookups;
  pump(op);
  return op;
}

std::shared_ptr<LookupOp> DhtNode::Impl::start_outward_probe(
    const Key& k, int level, TimeMs new_ttl_ms, const std::vector<NodeId>& exclude,
    std::size_t needed, std::function<void(LookupOp&)> on_done) {
  DhtConfig wide = cfg;
  wide.search_width = cfg.search_width * 2;
  wide.bucket_size = wide.replicas = wide.search_width;  // converge only when all asked
  auto op = std::make_shared<LookupOp>(k, wide);
  op->purpose = LookupOp::Purpose::kPutProbe;
  op->level = level;
  op->new_ttl_ms = new_ttl_ms;
  op->expand = false;
  op->stop_at_eligible = needed;
  op->on_done = std::move(on_done);
  // Nodes we know, nearest the key first, that the first lookup did not ask.
  for (const auto& e : tables[level].closest(k, tables[level].size())) {
    if (std::find(exclude.begin(), exclude.end(), e.id) != exclude.end()) continue;
    if (!op->lk.add(e.id, e.endpoint, 1)) break;
  }
  lookups->inc();
  ++active_lookups;
  pump(op);
  return op;
}

void DhtNode::Impl::pump(const std::shared_ptr<LookupOp>& op) {
  if (op->completed) return;
  for (Candidate* c : op->lk.next_to_query()) {
    Body body;
    if (op->purpose == LookupOp::Purpose::kNodes) {
      body = msg::FindNode{op->lk.target(), static_cast<std::uint8_t>(op->level),
                           clusters.id(op->level)};
    } else {
      body = msg::FindValue{op->lk.target(), static_cast<std::uint8_t>(op->level),
                            clusters.id(op->level),
                            static_cast<std::uint64_t>(std::max<TimeMs>(op->new_ttl_ms, 0)),
                            op->purpose == LookupOp::Purpose::kGet};
    }
    NodeId cid = c->id;
    request(
        c->endpoint, cid, std::move(body),
        [this, op, cid](const Envelope* resp) { on_lookup_reply(op, cid, resp); },
        [this, op, cid]() { on_lookup_stall(op, cid); });
  }
  if (op->lk.finished() && !op->completed) {
    op->completed = true;
    --active_lookups;
    auto done = std::move(op->on_done);
    if (done) done(*op);
  }
}

void DhtNode::Impl::on_lookup_reply(const std::shared_ptr<LookupOp>& op, const NodeId& cid,
                                    const Envelope* resp) {
  if (op->completed) return;
  auto& cands = op->lk.candidates();
  auto it = std::find_if(cands.begin(), cands.end(), [&](const Candidate& c) { return c.id == cid; });
  if (it == cands.end()) return;
  Candidate& c = *it;
  if (!resp) {
    op->lk.on_failure(c);
  } else if (auto* nodes = std::get_if<msg::Nodes>(&resp->body)) {
    op->lk.on_response(c, nodes->contacts, id);
    if (op->fill_bucket >= 0 && bucket_filled(*op)) op->lk.stop();
  } else if (auto* v = std::get_if<msg::Values>(&resp->body)) {
    c.token = v->token;
    c.full = v->full;
    c.loaded = v->loaded;
    bool got_values = false;
    for (const auto& r : v->records) {
      if (r.key != op->lk.target()) {
        ++n_bad_records;
        bad_records->inc();
        continue;
      }
      if (RecordError e = checked(r); e != RecordError::kNone) {
        ++n_bad_records;
        bad_records->inc();
        continue;
      }
      got_values = true;
      keep_newest(op->found, r);
    }
    c.had_values = got_values;
    // Copy: on_response may reorder the candidate vector.
    std::vector<WireContact> contacts;
    if (op->expand) contacts = v->contacts;
    op->lk.on_response(c, contacts, id);
    if (op->purpose == LookupOp::Purpose::kGet && got_values && !op->exhaustive) {
      op->lk.stop();  // Coral: the first values found end the search (in-flight answers still count)
    }
    if (op->purpose == LookupOp::Purpose::kPutProbe && cfg.mode == Mode::kCoral && v->full &&
        v->loaded && op->expand) {
      op->lk.stop();  // Coral: do not crowd a hot key's nodes; store farther out
    }
    if (op->stop_at_eligible > 0) {
      std::size_t eligible = 0;
      for (const auto& x : op->lk.candidates()) {
        if (x.state == Candidate::State::kDone && !(x.full && x.loaded)) ++eligible;
      }
      if (eligible >= op->stop_at_eligible) op->lk.stop();
    }
  } else {
    op->lk.on_failure(c);
  }
  pump(op);
}

// Whether a bucket refresh has what it came for: the bucket's entries plus
// the responders in it that are not in the table yet (each is being asked to
// prove its id, and joins the bucket when it does) make k.
bool DhtNode::Impl::bucket_filled(const LookupOp& op) const {
  const RoutingTable& t = tables[op.level];
  std::size_t have = t.bucket_size(op.fill_bucket);
  for (const auto& c : op.lk.candidates()) {
    if (have >= t.k()) break;
    if (c.state == Candidate::State::kDone && t.bucket_of(c.id) == op.fill_bucket && !t.contains(c.id)) {
      ++have;
    }
  }
  return have >= t.k();
}

void DhtNode::Impl::refresh_bucket(int level, int bucket, std::function<void(LookupOp&)> done) {
  tables[level].touch_bucket(bucket, now);
  auto op = start_lookup(LookupOp::Purpose::kNodes, tables[level].random_id_in(bucket, rng), level,
                         0, std::move(done));
  op->fill_bucket = bucket;  // replies come later than this
}

// A request of the lookup outlived its RTO: ask the next candidate so
// `alpha` stay in flight; a late answer is still taken by on_lookup_reply.
void DhtNode::Impl::on_lookup_stall(const std::shared_ptr<LookupOp>& op, const NodeId& cid) {
  if (op->completed) return;
  auto& cands = op->lk.candidates();
  auto it = std::find_if(cands.begin(), cands.end(), [&](const Candidate& c) { return c.id == cid; });
  if (it == cands.end()) return;
  op->lk.on_stall(*it);
  pump(op);
}

// Cluster levels a get or put walks, innermost first. A level whose table is
// empty (singleton cluster) is skipped, and so is a level that would reach no
// node outside the previous (inner) level's cluster.
std::vector<int> DhtNode::Impl::lookup_levels() const {
  std::vector<int> out;
  int inner = -1;
  for (int l = levels() - 1; l >= 0; --l) {
    if (l > 0 && tables[l].size() == 0) continue;
    if (inner >= 0 && collapsed(inner, l)) continue;
    out.push_back(l);
    inner = l;
  }
  if (out.empty()) out.push_back(0);
  return out;
}

bool DhtNode::Impl::collapsed(int inner, int outer) const {
  for (const auto& e : tables[outer].all()) {
    auto p = peers.find(e.id);
    if (p == peers.end()) return false;
    if (!clusters.member(inner, p->second.cluster(inner), p->second.rtt)) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------
// put / publish

namespace {
struct StoreTarget {
  NodeId id;
  Endpoint endpoint;
  Bytes token;
};

// Responders, nearest the key first; in Coral mode only those with room
// (not full and loaded).
std::vector<StoreTarget> eligible_targets(LookupOp& op, std::size_t n, bool sloppy) {
  std::vector<StoreTarget> out;
  for (const Candidate* c : op.lk.closest_done(op.lk.candidates().size())) {
    if (out.size() >= n) break;
    if (sloppy && c->full && c->loaded) continue;
    out.push_back({c->id, c->endpoint, c->token});
  }
  return out;
}

struct PutState {
  Record record;
  std::vector<int> levels;
  std::size_t next = 0;
  int stored = 0;
  int hops = 0;
  int acks_outstanding = 0;
  std::vector<std::string> problems;
  DhtNode::PutCallback done;
};
}  // namespace

void DhtNode::Impl::put_record(const Record& r, PutCallback done) {
  if (RecordError e = checked(r); e != RecordError::kNone) {
    PutResult res;
    res.error = std::string("record rejected before sending: ") + to_string(e) +
                (e == RecordError::kRejected
                     ? " (its payload failed this node's record validator)"
                     : " (re-sign it with a fresh expiry and a payload <= 1024 bytes)");
    if (done) done(res);
    return;
  }
  auto st = std::make_shared<PutState>();
  st->record = r;
  st->levels = lookup_levels();
  st->done = std::move(done);
  // Walks the levels one after the other: lookup, then STOREs, then next.
  // The step function is owned by the callbacks in flight (weak self-reference:
  // no cycle, freed when the last callback is gone).
  auto step = std::make_shared<std::function<void()>>();
  std::weak_ptr<std::function<void()>> weak = step;
  *step = [this, st, weak]() {
    auto step = weak.lock();
    if (st->next >= st->levels.size()) {
      PutResult res;
      res.stored = st->stored;
      res.hops = st->hops;
      res.ok = st->stored > 0;
      if (!res.ok) {
        res.error = "no storage node accepted the record";
        if (!st->problems.empty()) res.error += " (" + st->problems.back() + ")";
        res.error += "; check that the node is bootstrapped and peers are reachable";
      }
      auto cb = std::move(st->done);
      if (cb) cb(res);
      return;
    }
    int level = st->levels[st->next++];
    TimeMs ttl = st->record.expires_at - now;
    start_lookup(
        LookupOp::Purpose::kPutProbe, st->record.key, level, ttl,
        [this, st, step, level, ttl](LookupOp& op) {
          st->hops = std::max(st->hops, op.lk.hops());
          auto targets = std::make_shared<std::vector<StoreTarget>>(
              eligible_targets(op, static_cast<std::size_t>(cfg.replicas), cfg.mode == Mode::kCoral));
          // Every responder full and loaded (the key is hot everywhere we
          // looked): spread the copies over random responders, so no node
          // takes every put.
          auto fallback = std::make_shared<std::vector<StoreTarget>>();
          auto spread = [this](LookupOp& o, std::vector<StoreTarget>& into) {
            for (const Candidate* c : o.lk.closest_done(o.lk.candidates().size())) {
              into.push_back({c->id, c->endpoint, c->token});
            }
            for (std::size_t i = 0; i < into.size(); ++i) {
              std::swap(into[i], into[i + rng.uniform(into.size() - i)]);
            }
            if (into.size() > static_cast<std::size_t>(cfg.replicas)) {
              into.resize(static_cast<std::size_t>(cfg.replicas));
            }
          };
          if (cfg.mode == Mode::kCoral) spread(op, *fallback);
          auto send = [this, st, step, level, targets, fallback]() {
            if (targets->empty()) *targets = *fallback;
            if (targets->empty()) {
              st->problems.push_back("no node answered at level " + std::to_string(level));
              (*step)();
              return;
            }
            st->acks_outstanding = static_cast<int>(targets->size());
            for (const StoreTarget& c : *targets) {
              msg::Store s{st->record, c.token, static_cast<std::uint8_t>(level)};
              request(c.endpoint, c.id, std::move(s), [st, step](const Envelope* e) {
                auto* ack = e ? std::get_if<msg::StoreAck>(&e->body) : nullptr;
                if (ack && is_success(ack->outcome)) {
                  ++st->stored;
                } else if (ack) {
                  st->problems.push_back(std::string("a node answered ") +
                                         to_string(ack->outcome));
                }
                if (--st->acks_outstanding == 0) (*step)();
              });
            }
          };
          std::size_t want = static_cast<std::size_t>(cfg.replicas);
          if (!op.lk.stopped() || targets->size() >= want) {
            send();
            return;
          }
          // Coral stopped at a full and loaded node before finding enough
          // room: ask the nodes we know next-nearest to the key, outward.
          std::vector<NodeId> asked;
          for (const auto& c : op.lk.candidates()) asked.push_back(c.id);
          start_outward_probe(st->record.key, level, ttl, asked, want - targets->size(),
                              [targets, want, send, fallback, spread](LookupOp& more) {
                                for (auto& t : eligible_targets(more, want - targets->size(), true)) {
                                  targets->push_back(t);
                                }
                                // Saturated: choose among the outward probe's nodes too.
                                if (targets->empty()) spread(more, *fallback);
                                send();
                              });
        });
  };
  (*step)();
}

void DhtNode::Impl::publish_now(const Key& k, Published& p, PutCallback done) {
  // seq never repeats across restarts as long as the clock moves forward.
  p.last_seq = std::max<std::uint64_t>(p.last_seq + 1, static_cast<std::uint64_t>(std::max<TimeMs>(now, 0)));
  p.republish_at = now + std::max<TimeMs>(p.ttl_ms / 2, 1);
  Record r = make_record(key, k, p.payload, p.last_seq, now + p.ttl_ms);
  put_record(r, std::move(done));
}

// ---------------------------------------------------------------------------
// watch

void DhtNode::Impl::refresh_watch(std::uint64_t watch_id) {
  auto it = my_watches.find(watch_id);
  if (it == my_watches.end() || it->second.refreshing) return;
  it->second.refreshing = true;
  it->second.refresh_at = now + std::max<TimeMs>(cfg.watch_ttl_ms / 2, 1);
  Key k = it->second.key;
  start_lookup(LookupOp::Purpose::kNodes, k, 0, 0, [this, watch_id](LookupOp& op) {
    auto w = my_watches.find(watch_id);
    if (w == my_watches.end()) return;
    w->second.refreshing = false;
    w->second.targets.clear();
    for (const Candidate* c : op.lk.closest_done(static_cast<std::size_t>(cfg.replicas))) {
      w->second.targets.push_back({c->id, c->endpoint});
      msg::Watch m{w->second.key, watch_id, static_cast<std::uint64_t>(cfg.watch_ttl_ms)};
      request(c->endpoint, c->id, m, [this, watch_id](const Envelope* e) {
        auto* ack = e ? std::get_if<msg::WatchAck>(&e->body) : nullptr;
        if (ack && ack->ttl_ms > 0) return;
        // Refused (the node had not verified us yet) or lost: retry soon.
        auto w2 = my_watches.find(watch_id);
        if (w2 != my_watches.end()) {
          w2->second.refresh_at = std::min(w2->second.refresh_at, now + cfg.request_timeout_ms);
        }
      });
    }
    if (w->second.targets.empty()) w->second.refresh_at = now + cfg.request_timeout_ms;
  });
}

// ---------------------------------------------------------------------------
// Timers

void DhtNode::Impl::maintenance() {
  next_maintenance = now + maintenance_interval(cfg);
  // Alone (every seed failed, or every contact left): try the seeds again.
  if (tables[0].size() == 0 && !seeds.empty()) contact_seeds();
  // Liveness of quiet contacts (failures evict after fails_before_evict).
  for (int l = 0; l < levels(); ++l) {
    for (const auto& e : tables[l].all()) {
      if (now - e.last_seen < cfg.ping_interval_ms) continue;
      if (pinging.count(e.endpoint)) continue;  // one probe per contact, whatever its levels
      NodeId nid = e.id;
      ping(e.endpoint, nid, [this, nid](const Envelope* r) {
        if (!r) note_failure(nid);
      });
    }
  }
  // Refresh stale buckets with a lookup toward a random id in each, stopped
  // once the bucket is full. Buckets deeper than our k-th closest contact
  // can hold only nodes nearer to us than it: one lookup of our own id
  // covers all of them (the empty ones among them are usually empty in the
  // network too).
  int started = 0;
  for (int l = 0; l < levels() && started < kMaxRefreshLookupsPerRound; ++l) {
    const int near = tables[l].neighbourhood_bucket();
    std::vector<int> deeper;
    for (int b : tables[l].stale_buckets(now, cfg.bucket_refresh_ms)) {
      if (near >= 0 && b > near) {
        deeper.push_back(b);
        continue;
      }
      if (started >= kMaxRefreshLookupsPerRound) break;
      refresh_bucket(l, b, nullptr);
      ++started;
    }
    if (!deeper.empty() && started < kMaxRefreshLookupsPerRound) {
      for (int b : deeper) tables[l].touch_bucket(b, now);
      start_lookup(LookupOp::Purpose::kNodes, id, l, 0, nullptr);
      ++started;
    }
  }
}

void DhtNode::Impl::run_timers() {
  expire_requests();
  for (const Record& r : store.expire(now)) notify_watchers(r, NotifyKind::kExpired);
  watch_table.expire(now);
  for (auto& [k, p] : published) {
    if (p.active && p.republish_at <= now) publish_now(k, p, nullptr);
  }
  std::vector<std::uint64_t> due;
  for (const auto& [wid, w] : my_watches) {
    if (!w.refreshing && w.refresh_at <= now) due.push_back(wid);
  }
  for (auto wid : due) refresh_watch(wid);
  if (now >= next_maintenance) maintenance();
}

TimeMs DhtNode::Impl::wakeup() {
  TimeMs t = next_maintenance;
  while (!request_timers.empty() && !timer_live(request_timers.top().first, request_timers.top().second)) {
    request_timers.pop();
  }
  if (!request_timers.empty()) t = std::min(t, request_timers.top().first);
  t = std::min(t, store.next_expiry());
  t = std::min(t, watch_table.next_expiry());
  for (const auto& [k, p] : published) {
    if (p.active) t = std::min(t, p.republish_at);
  }
  for (const auto& [wid, w] : my_watches) {
    if (!w.refreshing) t = std::min(t, w.refresh_at);
  }
  return t;
}

// ---------------------------------------------------------------------------
// Public API

void DhtNode::bootstrap(const std::vector<Endpoint>& seeds, TimeMs now, Outbox& out) {
  CallScope<Impl> scope(*impl_, now, out);
  Impl& m = *impl_;
  if (m.next_maintenance == 0) m.next_maintenance = m.now + maintenance_interval(m.cfg);
  m.seeds = seeds;
  m.contact_seeds();
}

// Pings every seed; the first one that proves its id starts the lookup of
// our own id, which fills the table with our neighbourhood.
void DhtNode::Impl::contact_seeds() {
  auto started = std::make_shared<bool>(false);
  for (const auto& s : seeds) {
    if (s == self) continue;
    ping(s, std::nullopt, [this, started](const Envelope* e) {
      if (!e || *started) return;
      *started = true;
      bootstrap_lookup_started = true;
      start_lookup(LookupOp::Purpose::kNodes, id, 0, 0, [this](LookupOp& op) {
        // Then the level-0 buckets farther than our neighbours (the k
        // closest responders: some are still proving their ids, so the
        // table does not show them yet), so distant buckets are not empty
        // (Kademlia's join refresh), up to 8 of them.
        int near = 0;
        for (const Candidate* c : op.lk.closest_done(tables[0].k())) near = tables[0].bucket_of(c->id);
        join_refresh(0, std::min(near, 8));
      });
    });
  }
}

// One bucket at a time, farthest (largest) first: a bucket that the lookup
// of our own id, an earlier refresh or the traffic since has filled is
// skipped, and each refresh stops once its bucket is full. Doing all of
// them at once, each to convergence, was ~1,000 datagrams per joining node.
void DhtNode::Impl::join_refresh(int bucket, int end) {
  for (; bucket < end; ++bucket) {
    if (tables[0].bucket_size(bucket) >= tables[0].k()) continue;
    refresh_bucket(0, bucket, [this, bucket, end](LookupOp&) { join_refresh(bucket + 1, end); });
    return;
  }
}

void DhtNode::put(const Record& record, TimeMs now, Outbox& out, PutCallback done) {
  CallScope<Impl> scope(*impl_, now, out);
  impl_->put_record(record, std::move(done));
}

void DhtNode::publish(const Key& key, Bytes payload, TimeMs ttl_ms, TimeMs now, Outbox& out,
                      PutCallback done) {
  CallScope<Impl> scope(*impl_, now, out);
  Impl& m = *impl_;
  if (payload.size() > kMaxPayloadBytes) {
    PutResult res;
    res.error = "payload of " + std::to_string(payload.size()) + " bytes is over the " +
                std::to_string(kMaxPayloadBytes) + "-byte limit; store a hash or a pointer instead";
    if (done) done(res);
    return;
  }
  if (ttl_ms <= 0) ttl_ms = m.cfg.default_ttl_ms;
  ttl_ms = std::min(ttl_ms, m.cfg.max_ttl_ms);
  Published& p = m.published[key];
  p.payload = std::move(payload);
  p.ttl_ms = ttl_ms;
  p.active = true;
  m.publish_now(key, p, std::move(done));
}

void DhtNode::unpublish(const Key& key) {
  auto it = impl_->published.find(key);
  // Keep last_seq: a later publish() of the same key must still go up.
  if (it != impl_->published.end()) it->second.active = false;
}

void DhtNode::get(const Key& key, TimeMs now, Outbox& out, GetCallback done) {
  get(key, now, out, std::move(done), GetOptions{});
}

void DhtNode::get(const Key& key, TimeMs now, Outbox& out, GetCallback done, GetOptions options) {
  CallScope<Impl> scope(*impl_, now, out);
  Impl& m = *impl_;
  auto levels = m.lookup_levels();
  // We may be one of the key's storage nodes ourselves.
  auto local = m.store.get(key, m.now);
  if (!local.empty() && !options.fresh) {
    GetResult res;
    res.ok = true;
    res.level = levels.front();
    res.values = std::move(local);
    if (done) done(res);
    return;
  }
  struct GetState {
    Key key;
    std::vector<int> levels;
    bool fresh = false;
    std::size_t next = 0;
    int hops = 0;
    int level = -1;  // innermost level that had values
    std::map<XOnlyPubKey, Record> newest;
    GetCallback done;
  };
  auto st = std::make_shared<GetState>();
  st->key = key;
  st->levels = std::move(levels);
  st->fresh = options.fresh;
  st->done = std::move(done);
  for (const auto& r : local) keep_newest(st->newest, r);
  if (!local.empty()) st->level = st->levels.front();
  auto step = std::make_shared<std::function<void()>>();
  std::weak_ptr<std::function<void()>> weak = step;
  auto finish = [st]() {
    GetResult res;
    res.ok = true;
    res.hops = st->hops;
    res.level = st->level;
    for (auto& [owner, r] : st->newest) res.values.push_back(r);
    auto cb = std::move(st->done);
    if (cb) cb(res);
  };
  *step = [&m, st, weak, finish]() {
    auto step = weak.lock();
    if (st->next >= st->levels.size()) {
      finish();
      return;
    }
    int level = st->levels[st->next++];
    auto op = m.start_lookup(LookupOp::Purpose::kGet, st->key, level, 0,
                             [st, step, level, finish](LookupOp& op) {
      st->hops = std::max(st->hops, op.lk.hops());
      for (auto& [owner, r] : op.found) keep_newest(st->newest, r);
      if (!op.found.empty() && st->level < 0) st->level = level;
      // A plain get ends at the first level with values; a fresh one asks every level.
      if (!op.found.empty() && !st->fresh) {
        finish();
        return;
      }
      (*step)();
    });
    if (op) op->exhaustive = st->fresh;  // answers arrive later than this: set in time
  };
  (*step)();
}

std::uint64_t DhtNode::watch(const Key& key, TimeMs now, Outbox& out, WatchCallback on_event) {
  CallScope<Impl> scope(*impl_, now, out);
  Impl& m = *impl_;
  std::uint64_t wid;
  do {
    wid = m.rng.next();
  } while (wid == 0 || m.my_watches.count(wid));
  MyWatch w;
  w.key = key;
  w.sub_id = wid;
  w.cb = std::move(on_event);
  w.refresh_at = m.now;
  m.my_watches.emplace(wid, std::move(w));
  m.refresh_watch(wid);
  return wid;
}

void DhtNode::unwatch(std::uint64_t watch_id) {
  // Storage nodes drop the subscription when it expires; NOTIFYs until then
  // are dropped here as unsolicited.
  impl_->my_watches.erase(watch_id);
}

}  // namespace bc::routing
