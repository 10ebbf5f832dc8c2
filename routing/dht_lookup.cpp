// DhtNode lookups: iterative FIND_NODE / FIND_VALUE walks per cluster level.
#include <algorithm>

#include "routing/detail/dht_impl.hpp"

namespace bc::routing {
// ---------------------------------------------------------------------------
// Lookups

std::shared_ptr<LookupOp> DhtNode::Impl::start_lookup(LookupOp::Purpose purpose,
                                                      const Hash256& target, int level,
                                                      TimeMs new_ttl_ms,
                                                      std::function<void(LookupOp&)> on_done) {
  BC_ASSERT_MSG(level >= 0 && level < levels(), "lookup level %d of %d", level, levels());
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
    if (op->purpose == LookupOp::Purpose::kNodes) {
      send_lookup_request(op, *c, msg::FindNode{op->lk.target(), static_cast<std::uint8_t>(op->level),
                                                clusters.id(op->level)});
    } else {
      send_lookup_request(op, *c, find_value_of(*op, {}));
    }
  }
  if (op->lk.finished() && !op->completed) {
    op->completed = true;
    BC_ASSERT(active_lookups > 0);
    --active_lookups;
    auto done = std::move(op->on_done);
    if (done) done(*op);
  }
}

msg::FindValue DhtNode::Impl::find_value_of(const LookupOp& op, Bytes token) const {
  return msg::FindValue{op.lk.target(), static_cast<std::uint8_t>(op.level), clusters.id(op.level),
                        static_cast<std::uint64_t>(std::max<TimeMs>(op.new_ttl_ms, 0)),
                        op.purpose == LookupOp::Purpose::kGet, std::move(token)};
}

void DhtNode::Impl::send_lookup_request(const std::shared_ptr<LookupOp>& op, const Candidate& c,
                                        Body body) {
  NodeId cid = c.id;
  request(
      c.endpoint, cid, std::move(body),
      [this, op, cid](const Envelope* resp) { on_lookup_reply(op, cid, resp); },
      [this, op, cid]() { on_lookup_stall(op, cid); });
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
    // Cut to 3x our request because the node has not seen us prove our
    // address: ask once more with its token (the answer is still awaited).
    const bool got_enough = op->purpose == LookupOp::Purpose::kGet && !op->exhaustive &&
                            !v->records.empty() && !v->truncated;
    if (v->need_token && !c.sent_token && !v->token.empty() && !got_enough) {
      c.sent_token = true;
      send_lookup_request(op, c, find_value_of(*op, v->token));
      return;
    }
    take_values(*op, c, *v);
  } else {
    op->lk.on_failure(c);
  }
  pump(op);
}

void DhtNode::Impl::take_values(LookupOp& op, Candidate& c, const msg::Values& v) {
  c.token = v.token;
  c.full = v.full;
  c.loaded = v.loaded;
  bool got_values = false;
  for (const auto& r : v.records) {
    if (r.key != op.lk.target()) {
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
    keep_newest(op.found, r);
  }
  c.had_values = got_values;
  // Copy: on_response may reorder the candidate vector.
  std::vector<WireContact> contacts;
  if (op.expand) contacts = v.contacts;
  op.lk.on_response(c, contacts, id);
  if (op.purpose == LookupOp::Purpose::kGet && got_values && !op.exhaustive) {
    op.lk.stop();  // Coral: the first values found end the search (in-flight answers still count)
  }
  if (op.purpose == LookupOp::Purpose::kPutProbe && cfg.mode == Mode::kCoral && v.full && v.loaded &&
      op.expand) {
    op.lk.stop();  // Coral: do not crowd a hot key's nodes; store farther out
  }
  if (op.stop_at_eligible > 0) {
    std::size_t eligible = 0;
    for (const auto& x : op.lk.candidates()) {
      if (x.state == Candidate::State::kDone && !(x.full && x.loaded)) ++eligible;
    }
    if (eligible >= op.stop_at_eligible) op.lk.stop();
  }
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


}  // namespace bc::routing
