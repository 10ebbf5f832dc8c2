#include "layers/memnet.hpp"

#include <algorithm>
#include <stdexcept>

#include "layers/assert.hpp"

namespace bc {

namespace {

std::uint64_t mix64(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace

MemNet::MemNet(std::uint64_t seed, TimeMs start)
    : seed_(seed), now_(start), rng_(seed), latency_([](const Endpoint&, const Endpoint&) { return TimeMs{5}; }) {}

Endpoint MemNet::endpoint(std::uint32_t index, std::uint16_t port) {
  // 10.0.0.1 upwards; 16M nodes before wrapping out of 10/8.
  return Endpoint::v4(0x0A000000u + ((index + 1) & 0x00FFFFFFu), port);
}

// ---- nodes ------------------------------------------------------------------

MemNet::NodeSlot& MemNet::attach(const Endpoint& ep, Core* core, DatagramProtocol* dgram, StreamProtocol* stream) {
  if (core == nullptr) throw std::invalid_argument("MemNet::add_node: node for " + ep.to_string() + " is null");
  auto [it, inserted] = nodes_.try_emplace(ep);
  if (!inserted)
    throw std::invalid_argument("MemNet::add_node: endpoint " + ep.to_string() +
                                " already has a node; remove_node() it first or use another endpoint");
  it->second.core = core;
  it->second.dgram = dgram;
  it->second.stream = stream;
  it->second.incarnation = next_incarnation_++;
  schedule_tick(ep, it->second, false);
  return it->second;
}

void MemNet::add_node(const Endpoint& ep, DatagramProtocol* node) { attach(ep, node, node, nullptr); }

void MemNet::add_stream_node(const Endpoint& ep, StreamProtocol* node) { attach(ep, node, nullptr, node); }

void MemNet::add_node(const Endpoint& ep, DatagramProtocol* dgram, StreamProtocol* stream) {
  if (dgram == nullptr || stream == nullptr || static_cast<Core*>(dgram) != static_cast<Core*>(stream))
    throw std::invalid_argument("MemNet::add_node: " + ep.to_string() + " needs one object as both protocols");
  attach(ep, dgram, dgram, stream);
}

void MemNet::remove_node(const Endpoint& ep) {
  close_streams_of(ep, /*notify_self=*/false);
  nodes_.erase(ep);
}

void MemNet::set_down(const Endpoint& ep, bool down) {
  auto it = nodes_.find(ep);
  if (it == nodes_.end()) throw std::invalid_argument("MemNet::set_down: no node at " + ep.to_string());
  if (it->second.down == down) return;
  if (down) close_streams_of(ep, /*notify_self=*/true);
  NodeSlot& slot = nodes_.at(ep);
  slot.down = down;
  if (down) {
    slot.tick_token++;  // cancel the pending tick
    slot.tick_at = kNever;
  } else {
    schedule_tick(ep, slot, false);
  }
}

bool MemNet::has_node(const Endpoint& ep) const { return nodes_.count(ep) != 0; }

bool MemNet::is_down(const Endpoint& ep) const {
  auto it = nodes_.find(ep);
  return it != nodes_.end() && it->second.down;
}

std::vector<Endpoint> MemNet::endpoints() const {
  std::vector<Endpoint> out;
  out.reserve(nodes_.size());
  for (const auto& [ep, slot] : nodes_) out.push_back(ep);
  return out;
}

std::uint64_t MemNet::node_seed(const Endpoint& ep) const {
  return mix64(seed_ ^ mix64(EndpointHasher{}(ep) + 0x9e3779b97f4a7c15ULL));
}

// ---- network model ----------------------------------------------------------

void MemNet::set_latency(LatencyFn fn) {
  if (!fn) throw std::invalid_argument("MemNet::set_latency: latency function is empty");
  latency_ = std::move(fn);
}

void MemNet::set_jitter(TimeMs max_jitter_ms) {
  if (max_jitter_ms < 0) throw std::invalid_argument("MemNet::set_jitter: jitter must be >= 0 ms");
  jitter_ = max_jitter_ms;
}

void MemNet::set_loss(double p) {
  if (!(p >= 0 && p <= 1)) throw std::invalid_argument("MemNet::set_loss: probability must be in [0, 1]");
  loss_ = p;
}

void MemNet::set_duplication(double p) {
  if (!(p >= 0 && p <= 1)) throw std::invalid_argument("MemNet::set_duplication: probability must be in [0, 1]");
  duplication_ = p;
}

void MemNet::partition(std::vector<std::set<Endpoint>> groups) {
  groups_.clear();
  for (std::size_t g = 0; g < groups.size(); ++g)
    for (const auto& ep : groups[g]) {
      if (!groups_.emplace(ep, static_cast<int>(g) + 1).second)
        throw std::invalid_argument("MemNet::partition: endpoint " + ep.to_string() + " is listed in two groups");
    }
  close_partitioned_streams();
}

void MemNet::heal() { groups_.clear(); }

void MemNet::set_drop_filter(DropFn fn) { drop_filter_ = std::move(fn); }

int MemNet::group_of(const Endpoint& ep) const {
  auto it = groups_.find(ep);
  return it == groups_.end() ? 0 : it->second;  // 0: the unlisted group
}

bool MemNet::can_reach(const Endpoint& from, const Endpoint& to) const {
  return groups_.empty() || group_of(from) == group_of(to);
}

void MemNet::set_trace(std::function<void(const TraceEntry&)> fn) { trace_ = std::move(fn); }

// ---- events -----------------------------------------------------------------

void MemNet::push(Event e) {
  e.seq = next_seq_++;
  queue_.push_back(std::move(e));
  std::push_heap(queue_.begin(), queue_.end(), Later{});
}

void MemNet::record(TimeMs at, const Endpoint& from, const Endpoint& to, std::size_t bytes, Fate fate) {
  switch (fate) {
    case Fate::kDelivered: stats_.delivered++; break;
    case Fate::kLost: stats_.lost++; break;
    case Fate::kPartitioned: stats_.partitioned++; break;
    case Fate::kFiltered: stats_.filtered++; break;
    case Fate::kReceiverDown: stats_.receiver_down++; break;
    case Fate::kNoReceiver: stats_.no_receiver++; break;
  }
  if (trace_) trace_(TraceEntry{at, from, to, bytes, fate});
}

void MemNet::send_one(const Endpoint& from, const Endpoint& to, Bytes payload) {
  if (!can_reach(from, to)) return record(now_, from, to, payload.size(), Fate::kPartitioned);
  if (drop_filter_ && drop_filter_(from, to, payload)) return record(now_, from, to, payload.size(), Fate::kFiltered);
  // Draw order is fixed (loss, then jitter) so runs replay exactly.
  if (loss_ > 0 && rng_.unit() < loss_) return record(now_, from, to, payload.size(), Fate::kLost);
  TimeMs base = std::max<TimeMs>(0, latency_(from, to));
  TimeMs jitter = jitter_ > 0 ? static_cast<TimeMs>(rng_.uniform(static_cast<std::uint64_t>(jitter_) + 1)) : 0;
  Event e;
  e.at = now_ + base + jitter;
  e.kind = Kind::kDeliver;
  e.from = from;
  e.to = to;
  e.payload = std::move(payload);
  push(std::move(e));
}

void MemNet::dispatch(const Endpoint& from, Outbox& out) {
  for (auto& d : out.datagrams) {
    stats_.sent++;
    // Decide duplication first so the common case can move the payload.
    bool dup = duplication_ > 0 && rng_.unit() < duplication_;
    if (dup) {
      stats_.duplicated++;
      send_one(from, d.to, d.payload);
    }
    send_one(from, d.to, std::move(d.payload));
  }
  // MemNet has no store: a core that writes runs under a driver that has one.
  BC_ASSERT_MSG(out.writes.empty(), "MemNet carries no store writes (node %s)", from.to_string().c_str());
  for (auto& f : out.frames) send_frame(from, f);
  for (PeerId p : out.disconnects) close_stream(p);
  out.clear();
}

void MemNet::schedule_tick(const Endpoint& ep, NodeSlot& slot, bool after_tick) {
  if (slot.down) return;
  TimeMs want = slot.core->next_wakeup();
  if (want >= kNever) {
    slot.tick_token++;
    slot.tick_at = kNever;
    return;
  }
  // A core that still wants a tick right after one would spin forever at the
  // same instant; push it at least 1 ms ahead.
  want = std::max(want, after_tick ? now_ + 1 : now_);
  if (want == slot.tick_at) return;  // already scheduled: no duplicate event
  slot.tick_token++;
  slot.tick_at = want;
  Event e;
  e.at = want;
  e.kind = Kind::kTick;
  e.to = ep;
  e.incarnation = slot.incarnation;
  e.token = slot.tick_token;
  push(std::move(e));
}

void MemNet::run_input(const Endpoint& ep, const std::function<void(NodeSlot&, Outbox&)>& fn) {
  Outbox out;
  fn(nodes_.at(ep), out);
  dispatch(ep, out);
  auto it = nodes_.find(ep);  // fn may have removed the node
  if (it != nodes_.end()) schedule_tick(ep, it->second, false);
}

bool MemNet::invoke(const Endpoint& ep, const Action& fn) {
  auto it = nodes_.find(ep);
  if (it == nodes_.end()) throw std::invalid_argument("MemNet::invoke: no node at " + ep.to_string());
  if (it->second.down) return false;
  run_input(ep, [&](NodeSlot&, Outbox& out) { fn(now_, out); });
  return true;
}

void MemNet::at(TimeMs t, std::function<void()> fn) {
  if (t < now_) throw std::invalid_argument("MemNet::at: time is in the past (t < now())");
  Event e;
  e.at = t;
  e.kind = Kind::kAction;
  e.action = std::move(fn);
  push(std::move(e));
}

void MemNet::deliver(Event& e) {
  auto it = nodes_.find(e.to);
  if (it == nodes_.end()) return record(e.at, e.from, e.to, e.payload.size(), Fate::kNoReceiver);
  if (it->second.down) return record(e.at, e.from, e.to, e.payload.size(), Fate::kReceiverDown);
  if (!can_reach(e.from, e.to)) return record(e.at, e.from, e.to, e.payload.size(), Fate::kPartitioned);
  if (drop_filter_ && drop_filter_(e.from, e.to, e.payload)) return record(e.at, e.from, e.to, e.payload.size(), Fate::kFiltered);
  if (it->second.dgram == nullptr) return record(e.at, e.from, e.to, e.payload.size(), Fate::kNoReceiver);
  record(e.at, e.from, e.to, e.payload.size(), Fate::kDelivered);
  run_input(e.to, [&](NodeSlot& slot, Outbox& out) { slot.dgram->on_datagram(e.from, e.payload, now_, out); });
}

void MemNet::process(Event& e) {
  switch (e.kind) {
    case Kind::kDeliver:
      deliver(e);
      break;
    case Kind::kTick: {
      auto it = nodes_.find(e.to);
      if (it == nodes_.end()) return;
      NodeSlot& slot = it->second;
      if (slot.down || slot.incarnation != e.incarnation || slot.tick_token != e.token) return;  // stale
      slot.tick_at = kNever;
      stats_.ticks++;
      Outbox out;
      slot.core->on_tick(now_, out);
      dispatch(e.to, out);
      it = nodes_.find(e.to);
      if (it != nodes_.end()) schedule_tick(e.to, it->second, true);
      break;
    }
    case Kind::kAction:
      e.action();
      break;
    case Kind::kDial:
      dial(e);
      break;
    case Kind::kFrame:
      deliver_frame(e);
      break;
    case Kind::kPeerDown:
      deliver_peer_down(e);
      break;
  }
}

// ---- framed streams ---------------------------------------------------------

void MemNet::connect(const Endpoint& from, const Endpoint& to) {
  auto it = nodes_.find(from);
  if (it == nodes_.end()) throw std::invalid_argument("MemNet::connect: no node at " + from.to_string());
  Event e;
  e.at = now_ + std::max<TimeMs>(0, latency_(from, to));
  e.kind = Kind::kDial;
  e.from = from;
  e.to = to;
  e.incarnation = it->second.incarnation;
  push(std::move(e));
}

bool MemNet::connected(const Endpoint& from, const Endpoint& to) const {
  for (const auto& [id, end] : streams_)
    if (end.owner == from && end.remote == to) return true;
  return false;
}

void MemNet::dial(Event& e) {
  auto a = nodes_.find(e.from);
  auto b = nodes_.find(e.to);
  if (a == nodes_.end() || b == nodes_.end() || a->second.incarnation != e.incarnation) return;
  if (a->second.down || b->second.down || !a->second.stream || !b->second.stream || !can_reach(e.from, e.to)) return;
  const PeerId pa = next_peer_id_++, pb = next_peer_id_++;
  streams_[pa] = StreamEnd{e.from, a->second.incarnation, e.to, pb, now_};
  streams_[pb] = StreamEnd{e.to, b->second.incarnation, e.from, pa, now_};
  stats_.streams_opened++;
  run_input(e.from, [&](NodeSlot& s, Outbox& out) { s.stream->on_peer_up(pa, e.to, true, now_, out); });
  // The dialler's outputs may already have closed the connection.
  if (streams_.count(pb) && nodes_.count(e.to))
    run_input(e.to, [&](NodeSlot& s, Outbox& out) { s.stream->on_peer_up(pb, e.from, false, now_, out); });
}

void MemNet::send_frame(const Endpoint& from, Outbox::Frame& f) {
  auto it = streams_.find(f.to);
  if (it == streams_.end() || it->second.owner != from) return;  // closed meanwhile: lost, like TCP after a reset
  StreamEnd& end = it->second;
  if (!can_reach(from, end.remote)) return close_stream(f.to);
  stats_.frames_sent++;
  const TimeMs jitter = jitter_ > 0 ? static_cast<TimeMs>(rng_.uniform(static_cast<std::uint64_t>(jitter_) + 1)) : 0;
  // Same-time events run in push order, so max() keeps the frames in order.
  end.last_arrival = std::max(end.last_arrival, now_ + std::max<TimeMs>(0, latency_(from, end.remote)) + jitter);
  Event e;
  e.at = end.last_arrival;
  e.kind = Kind::kFrame;
  e.to = end.remote;
  e.peer = end.other;
  e.payload = std::move(f.payload);
  push(std::move(e));
}

void MemNet::deliver_frame(Event& e) {
  auto it = streams_.find(e.peer);
  if (it == streams_.end()) return;  // the connection broke while the frame was in flight
  if (!can_reach(it->second.remote, it->second.owner)) return close_stream(e.peer);
  stats_.frames_delivered++;
  run_input(e.to, [&](NodeSlot& s, Outbox& out) { s.stream->on_frame(e.peer, e.payload, now_, out); });
}

void MemNet::deliver_peer_down(Event& e) {
  auto it = nodes_.find(e.to);
  if (it == nodes_.end() || it->second.down || it->second.incarnation != e.incarnation) return;
  run_input(e.to, [&](NodeSlot& s, Outbox& out) { s.stream->on_peer_down(e.peer, now_, out); });
}

void MemNet::close_stream(PeerId peer, const Endpoint* quiet) {
  auto it = streams_.find(peer);
  if (it == streams_.end()) return;
  const StreamEnd one = it->second;
  streams_.erase(it);
  auto other_it = streams_.find(one.other);
  BC_ASSERT(other_it != streams_.end());
  const StreamEnd other = other_it->second;
  streams_.erase(other_it);
  stats_.streams_closed++;
  // Each side hears of it: the side at hand now, the far side after latency.
  const std::pair<PeerId, const StreamEnd*> sides[] = {{peer, &one}, {one.other, &other}};
  for (const auto& [id, end] : sides) {
    if (quiet && end->owner == *quiet) continue;
    Event e;
    e.at = end == &one ? now_ : now_ + std::max<TimeMs>(0, latency_(one.owner, other.owner));
    e.kind = Kind::kPeerDown;
    e.to = end->owner;
    e.peer = id;
    e.incarnation = end->incarnation;
    push(std::move(e));
  }
}

void MemNet::close_streams_of(const Endpoint& ep, bool notify_self) {
  std::vector<PeerId> own;
  for (const auto& [id, end] : streams_)
    if (end.owner == ep) own.push_back(id);
  for (PeerId id : own) {
    close_stream(id, &ep);  // the far side hears of it after latency
    if (!notify_self) continue;
    auto slot = nodes_.find(ep);
    if (slot != nodes_.end() && slot->second.stream)
      run_input(ep, [&](NodeSlot& s, Outbox& out) { s.stream->on_peer_down(id, now_, out); });
  }
}

void MemNet::close_partitioned_streams() {
  std::vector<PeerId> cut;
  for (const auto& [id, end] : streams_)
    if (id < end.other && !can_reach(end.owner, end.remote)) cut.push_back(id);
  for (PeerId id : cut) close_stream(id);
}

bool MemNet::step() {
  if (queue_.empty()) return false;
  std::pop_heap(queue_.begin(), queue_.end(), Later{});
  Event e = std::move(queue_.back());
  queue_.pop_back();
  now_ = std::max(now_, e.at);
  process(e);
  return true;
}

void MemNet::run_until(TimeMs t) {
  while (!queue_.empty() && queue_.front().at <= t) step();
  now_ = std::max(now_, t);
}

bool MemNet::run_until(const std::function<bool()>& pred, TimeMs deadline) {
  for (;;) {
    if (pred()) return true;
    if (queue_.empty() || queue_.front().at > deadline) break;
    step();
  }
  now_ = std::max(now_, deadline);
  return pred();
}

}  // namespace bc
