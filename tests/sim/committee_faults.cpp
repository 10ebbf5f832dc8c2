#include "tests/sim/committee_faults.hpp"

#include <algorithm>

#include "layers/assert.hpp"

namespace bc::bft::sim {

BftOptions sim_options(const Hash256& chain_id, TimeMs commit_ms) {
  BftOptions o;
  o.chain_id = chain_id;
  o.propose_ms = 200;
  o.propose_delta_ms = 50;
  o.prevote_ms = 100;
  o.precommit_ms = 100;
  o.vote_delta_ms = 50;
  o.commit_ms = commit_ms;
  o.gossip_ms = 150;
  return o;
}

void EventLoop::at(TimeMs at, std::function<void()> fn) {
  queue_.push(Event{std::max(at, now_), seq_++, std::move(fn)});
}

bool EventLoop::run_next(TimeMs end) {
  if (queue_.empty() || queue_.top().at > end) return false;
  Event e = queue_.top();
  queue_.pop();
  BC_ASSERT(e.at >= now_);
  now_ = e.at;
  e.fn();
  return true;
}

bool FaultPlan::reachable(int a, int b, TimeMs now) const {
  for (const auto& p : partitions) {
    if (now >= p.from && now < p.to && p.side[a] != p.side[b]) return false;
  }
  return true;
}

FaultPlan plan_faults(Rng& rng, int nodes, TimeMs start, TimeMs window_ms) {
  BC_ASSERT(nodes > 0 && window_ms > 0);
  FaultPlan plan;
  plan.loss = rng.unit() * 0.2;
  plan.duplication = rng.unit() * 0.2;
  plan.jitter = static_cast<TimeMs>(rng.uniform(60));
  const auto window = static_cast<std::uint64_t>(window_ms);
  for (int p = static_cast<int>(rng.uniform(3)); p > 0; --p) {
    Partition part{start + static_cast<TimeMs>(rng.uniform(window)), 0, {}};
    part.to = part.from + 200 + static_cast<TimeMs>(rng.uniform(3000));
    for (int i = 0; i < nodes; ++i) part.side.push_back(rng.uniform(2) == 0);
    plan.last_fault = std::max(plan.last_fault, part.to);
    plan.partitions.push_back(std::move(part));
  }
  for (int c = static_cast<int>(rng.uniform(3)); c > 0; --c) {
    CrashPlan crash;
    crash.victim = static_cast<int>(rng.uniform(static_cast<std::uint64_t>(nodes)));
    crash.at = start + static_cast<TimeMs>(rng.uniform(window));
    crash.back = crash.at + 100 + static_cast<TimeMs>(rng.uniform(2000));
    crash.at_write = rng.uniform(2) == 0;
    plan.last_fault = std::max(plan.last_fault, restart_time(crash, crash.at));
    plan.crashes.push_back(crash);
  }
  if (plan.last_fault == 0) plan.last_fault = start;
  return plan;
}

FaultyNet::FaultyNet(EventLoop& loop, Rng& rng, const FaultPlan& plan, int nodes, Deliver deliver)
    : loop_(loop), rng_(rng), plan_(plan), deliver_(std::move(deliver)), peer_node_(nodes), conn_to_(nodes) {}

std::pair<PeerId, PeerId> FaultyNet::connect(int i, int j) {
  BC_ASSERT(i != j && !connected(i, j));
  const PeerId at_i = next_conn_++, at_j = next_conn_++;
  peer_node_[i][at_i] = j;
  conn_to_[i][j] = at_i;
  peer_node_[j][at_j] = i;
  conn_to_[j][i] = at_j;
  return {at_i, at_j};
}

std::optional<std::pair<PeerId, PeerId>> FaultyNet::cut(int i, int j) {
  auto it = conn_to_[i].find(j);
  if (it == conn_to_[i].end()) return std::nullopt;
  const PeerId at_i = it->second, at_j = conn_to_[j].at(i);
  conn_to_[i].erase(it);
  conn_to_[j].erase(i);
  peer_node_[i].erase(at_i);
  peer_node_[j].erase(at_j);
  return std::pair{at_i, at_j};
}

std::optional<int> FaultyNet::peer_of(int at, PeerId conn) const {
  auto it = peer_node_[at].find(conn);
  if (it == peer_node_[at].end()) return std::nullopt;
  return it->second;
}

void FaultyNet::transmit(int from, int to, Bytes frame) {
  auto link = conn_to_[to].find(from);
  if (link == conn_to_[to].end() || !plan_.reachable(from, to, loop_.now())) return;
  const PeerId conn = link->second;
  const int copies = rng_.unit() < plan_.duplication ? 2 : 1;
  for (int c = 0; c < copies; ++c) {
    if (rng_.unit() < plan_.loss) continue;
    const TimeMs delay = 2 + static_cast<TimeMs>(rng_.uniform(static_cast<std::uint64_t>(plan_.jitter) + 1));
    loop_.at(loop_.now() + delay, [this, from, to, conn, frame] {
      // The connection may be gone (a crash, a disconnect) or cut by a partition in flight.
      if (peer_of(to, conn) != from || !plan_.reachable(from, to, loop_.now())) return;
      deliveries_++;
      deliver_(to, conn, frame);
    });
  }
}

std::vector<std::optional<ByzantineRole>> pick_byzantine(Rng& rng, const std::vector<std::int64_t>& powers) {
  std::int64_t total = 0, coalition = 0;
  for (auto p : powers) total += p;
  std::vector<std::optional<ByzantineRole>> roles(powers.size());
  for (std::size_t i = 0; i < powers.size(); ++i) {
    if (rng.uniform(3) != 0 || 3 * (coalition + powers[i]) >= total) continue;
    coalition += powers[i];
    ByzantineRole r;
    r.equivocate = rng.uniform(4) != 0;
    r.withhold = rng.uniform(2) == 0;
    r.bad_proposals = rng.uniform(2) == 0;
    roles[i] = r;
  }
  BC_ASSERT(3 * coalition < total);
  return roles;
}

std::vector<Bytes> tamper_vote(const Vote& v, Bytes frame, const ByzantineRole& role, bool other_half, Rng& rng,
                               const KeyPair& key, const Hash256& other_value) {
  std::vector<Bytes> out;
  if (role.withhold && rng.uniform(2) == 0) return out;
  if (role.equivocate && (other_half || rng.uniform(4) == 0)) {
    Vote other = v;
    other.value = v.value ? VoteValue{} : VoteValue{other_value};
    sign_vote(other, key);
    out.push_back(encode(other));
    if (other_half) return out;
  }
  out.push_back(std::move(frame));
  return out;
}

std::optional<VoteSlot> EquivocationOracle::observe(int node, const Vote& v, bool valid, std::uint64_t height,
                                                    std::uint32_t round, std::uint32_t future_rounds) {
  if (!valid || v.height != height || v.round > round + future_rounds) return std::nullopt;
  const VoteSlot slot{v.validator, v.height, v.round, v.type};
  auto& values = seen_[node][slot];
  values.insert(v.value);
  if (values.size() < 2) return std::nullopt;
  return slot;
}

}  // namespace bc::bft::sim
