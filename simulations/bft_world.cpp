// `blockcloud-sim bft`: every live validator a real BftCore, one event queue
// in virtual time (µs), frames delayed by the sender's uplink and the latency
// model. docs/consensus.md, "Simulation at scale", gives the model.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <stdexcept>

#include "layers/assert.hpp"
#include "simulations/bft_committee.hpp"
#include "simulations/bft_floor.hpp"
#include "simulations/bft_scenario.hpp"
#include "simulations/bft_stats.hpp"
#include "simulations/event_queue.hpp"
#include "simulations/proc_stats.hpp"

namespace bc::sim {
namespace {

constexpr std::int64_t kNoTick = -1;

Hash256 chain_id() { return sha256(as_bytes("blockcloud/sim-bft")); }

// A frame arriving at `node` from `from`, or (tick) node's wake-up.
struct Event {
  std::int64_t t_us = 0;
  std::uint64_t seq = 0;
  std::uint32_t node = 0;
  std::uint32_t from = 0;
  bool tick = false;
  Bytes payload;
};

struct Node {
  std::unique_ptr<SimApp> app;
  std::unique_ptr<bft::BftCore> core;
  std::int64_t wake_us = kNoTick;  // the pending tick event; others are superseded
  double uplink_free_us = 0;       // when the uplink has sent everything queued so far
  std::uint64_t entered = 0;       // highest height this core has entered
  std::uint64_t decided = 0;
  std::int64_t last_decision_us = -1;
};

class BftWorld {
 public:
  explicit BftWorld(const BftSimOptions& opt)
      : opt_(opt),
        rng_(opt.seed),
        model_(rng_.fork(), opt.regions, opt.continents),
        members_(make_committee(opt, rng_, model_)),
        // 1 ms buckets over 1 s: a drained bucket keeps its capacity, so a
        // longer ring would hold the peak of every millisecond it covers.
        queue_(1000, 1024),
        stats_(opt, info()) {
    build_floor_committee();
    std::vector<bft::Validator> vs;
    for (const BftMember& m : members_) vs.push_back(bft::Validator{m.key.public_key(), m.power, 0});
    auto set = bft::ValidatorSet::genesis(std::move(vs));
    if (!set.ok()) throw std::invalid_argument("validator set: " + set.status().text());
    sets_ = std::make_unique<SetHistory>(std::move(*set));
  }

  // Runs until every live validator decided opt.heights heights.
  const BftStats& run();
  double virtual_s() const { return static_cast<double>(now_us_) / 1e6; }

 private:
  BftCommitteeInfo info() const;
  void build_floor_committee();
  bft::BftOptions core_options() const;
  void start();
  void drain(std::uint32_t i, Outbox& out);
  void send(std::uint32_t from, std::uint32_t to, Bytes payload, std::int64_t ready_us);
  void reschedule(std::uint32_t i);
  void on_decided(std::uint32_t i, const bft::Decided& d);
  const std::vector<std::int64_t>& floor_of(std::uint32_t proposer);
  void note_height(std::uint32_t i);
  void push(Event ev) {
    ev.seq = seq_++;
    queue_.push(std::move(ev));
  }
  TimeMs now_ms() const { return now_us_ / 1000; }

  const BftSimOptions& opt_;
  SimRng rng_;
  LatencyModel model_;
  std::vector<BftMember> members_;
  FloorCommittee floor_committee_;
  std::map<std::uint32_t, std::vector<std::int64_t>> floors_;  // by proposer
  std::unique_ptr<SetHistory> sets_;
  SignatureCache cache_{1 << 18};  // shared: a signature is checked once per run, not once per node
  std::vector<Node> nodes_;
  BucketQueue<Event> queue_;
  BftStats stats_;
  std::int64_t now_us_ = 0;
  std::uint64_t seq_ = 0;
  std::map<std::uint64_t, Hash256> decided_;         // the safety oracle: one value per height
  std::map<std::uint64_t, std::int64_t> entered_us_;  // first live validator entering each height
  std::uint32_t live_ = 0, finished_ = 0;
  std::uint64_t all_decided_ = 0;  // heights every live validator decided
  std::map<std::uint64_t, std::uint32_t> decisions_at_;
};

BftCommitteeInfo BftWorld::info() const {
  BftCommitteeInfo c;
  for (const BftMember& m : members_) {
    c.total_power += m.power;
    if (m.live) {
      ++c.live;
    } else {
      ++c.crashed;
      c.crashed_power += m.power;
    }
  }
  return c;
}

void BftWorld::build_floor_committee() {
  const std::size_t n = members_.size();
  FloorCommittee& c = floor_committee_;
  c.delay_us.assign(n * n, 0);
  for (std::size_t a = 0; a < n; ++a) {
    c.power.push_back(members_[a].power);
    c.live.push_back(members_[a].live);
    c.total_power += members_[a].power;
    // The model's one-way delay without jitter (which only adds), truncated
    // as LatencyModel::one_way_us truncates.
    for (std::size_t b = 0; b < n; ++b)
      c.delay_us[a * n + b] = static_cast<std::int64_t>(model_.rtt_ms(members_[a].at, members_[b].at) / 2.0 * 1000.0);
  }
}

bft::BftOptions BftWorld::core_options() const {
  bft::BftOptions o;
  o.chain_id = chain_id();
  o.commit_ms = opt_.commit_ms;
  o.propose_ms = opt_.propose_ms;
  o.gossip_ms = opt_.gossip_ms;
  return o;
}

void BftWorld::start() {
  const auto n = static_cast<std::uint32_t>(members_.size());
  nodes_.resize(n);
  for (std::uint32_t i = 0; i < n; ++i) {
    if (!members_[i].live) continue;
    ++live_;
    Node& node = nodes_[i];
    node.app = std::make_unique<SimApp>(*sets_, i, n, opt_.block_bytes, now_us_);
    auto core = bft::BftCore::create(core_options(), *node.app, members_[i].key, bft::Recovery{}, &cache_);
    if (!core.ok()) throw std::runtime_error("BftCore::create: " + core.status().text());
    node.core = std::move(*core);
    Outbox out;
    node.core->start(now_ms(), out);
    drain(i, out);
  }
  entered_us_[1] = 0;
  // A full mesh of live validators; crashed ones are never connected. Peer
  // ids are the peer's index + 1: no connection ever closes, so none is reused.
  for (std::uint32_t i = 0; i < n; ++i) {
    if (!members_[i].live) continue;
    for (std::uint32_t j = 0; j < n; ++j) {
      if (j == i || !members_[j].live) continue;
      Outbox out;
      nodes_[i].core->on_peer_up(j + 1, Endpoint::v4(0x0a000000u + j, 26656), i < j, now_ms(), out);
      drain(i, out);
    }
  }
}

void BftWorld::drain(std::uint32_t i, Outbox& out) {
  Node& node = nodes_[i];
  // No node restarts in this run, so the store is not kept; a synced write
  // still costs its time before the frames of the same Outbox leave.
  const bool synced = std::any_of(out.writes.begin(), out.writes.end(), [](const StoreWrite& w) { return w.sync; });
  const std::int64_t ready = now_us_ + (synced ? opt_.sync_us : 0);
  for (auto& f : out.frames) {
    BC_ASSERT(f.to >= 1 && f.to <= members_.size());
    send(i, static_cast<std::uint32_t>(f.to - 1), std::move(f.payload), ready);
  }
  note_height(i);  // first: a lone validator enters a height and decides it in one input
  while (auto e = node.core->poll_event()) {
    if (auto* d = std::get_if<bft::Decided>(&*e)) on_decided(i, *d);
    if (std::holds_alternative<bft::EvidenceFound>(*e)) stats_.on_evidence();
  }
  reschedule(i);
}

// The uplink sends frames one after another at uplink_mbps (bits per µs);
// the frame then takes the model's one-way delay with its jitter.
void BftWorld::send(std::uint32_t from, std::uint32_t to, Bytes payload, std::int64_t ready_us) {
  Node& node = nodes_[from];
  stats_.on_frame(payload.size());
  const double serialise_us = static_cast<double>(payload.size()) * 8.0 / opt_.uplink_mbps;
  node.uplink_free_us = std::max(node.uplink_free_us, static_cast<double>(ready_us)) + serialise_us;
  const auto depart = static_cast<std::int64_t>(std::ceil(node.uplink_free_us));
  const std::int64_t arrive = depart + model_.one_way_us(members_[from].at, members_[to].at, rng_);
  push(Event{arrive, 0, to, from, false, std::move(payload)});
}

void BftWorld::reschedule(std::uint32_t i) {
  Node& node = nodes_[i];
  const TimeMs w = node.core->next_wakeup();
  if (w >= kNever) return;
  const std::int64_t at = std::max(w * 1000, now_us_);
  if (at == node.wake_us) return;
  node.wake_us = at;
  push(Event{at, 0, i, 0, true, {}});
}

void BftWorld::note_height(std::uint32_t i) {
  Node& node = nodes_[i];
  const std::uint64_t h = node.core->height();
  if (h <= node.entered) return;
  node.entered = h;
  entered_us_.emplace(h, now_us_);  // keeps the first
}

void BftWorld::on_decided(std::uint32_t i, const bft::Decided& d) {
  Node& node = nodes_[i];
  auto [it, fresh] = decided_.emplace(d.height, d.value.hash);
  if (!fresh && it->second != d.value.hash)
    throw std::runtime_error("SAFETY: two validators decided different values at height " + std::to_string(d.height));
  BC_ASSERT_MSG(d.height == node.decided + 1, "validator %u decided height %llu after %llu", i,
                static_cast<unsigned long long>(d.height), static_cast<unsigned long long>(node.decided));
  node.decided = d.height;
  if (node.last_decision_us >= 0 && d.height <= opt_.heights) stats_.on_interval(now_us_ - node.last_decision_us);
  node.last_decision_us = now_us_;
  if (d.height > opt_.heights) return;
  const auto header = read_header(d.value.bytes);
  BC_ASSERT(header && header->height == d.height && header->proposer < members_.size());
  stats_.on_decision(BftSample{d.height, i, header->proposer, d.certificate.round, now_us_ - header->proposed_us,
                               floor_of(header->proposer)[i], now_us_ - entered_us_.at(d.height)});
  if (d.height == opt_.heights) ++finished_;
  if (++decisions_at_[d.height] < live_) return;
  decisions_at_.erase(d.height);
  if (opt_.progress && d.height % opt_.progress == 0) stats_.progress_line(d.height, virtual_s());
}

const std::vector<std::int64_t>& BftWorld::floor_of(std::uint32_t proposer) {
  auto it = floors_.find(proposer);
  if (it == floors_.end()) it = floors_.emplace(proposer, finality_floor(floor_committee_, proposer)).first;
  return it->second;
}

const BftStats& BftWorld::run() {
  start();
  const auto limit_us = static_cast<std::int64_t>(opt_.max_virtual_s * 1e6);
  while (finished_ < live_) {
    if (queue_.empty()) throw std::runtime_error("no event left before every live validator decided: the committee stalled");
    queue_.top();
    Event ev = queue_.pop();
    now_us_ = ev.t_us;
    if (now_us_ > limit_us) {
      std::uint64_t slowest = opt_.heights;
      for (const Node& n : nodes_) slowest = n.core ? std::min(slowest, n.decided) : slowest;
      throw std::runtime_error("not every live validator decided " + std::to_string(opt_.heights) +
                               " heights within --max-virtual-s " + std::to_string(opt_.max_virtual_s) +
                               " (the slowest decided " + std::to_string(slowest) +
                               "); raise --max-virtual-s or ask for fewer --heights");
    }
    Node& node = nodes_[ev.node];
    Outbox out;
    if (ev.tick) {
      if (ev.t_us != node.wake_us) continue;  // superseded by a later reschedule
      node.wake_us = kNoTick;
      node.core->on_tick(now_ms(), out);
    } else {
      node.core->on_frame(ev.from + 1, ev.payload, now_ms(), out);
    }
    drain(ev.node, out);
  }
  for (const Node& n : nodes_) {
    if (!n.core) continue;
    for (const auto& [why, count] : n.core->stats().drops) stats_.on_drops(count);
    stats_.on_certificates_served(n.core->stats().certificates_served);
    stats_.on_future(n.core->stats().future);
  }
  return stats_;
}

}  // namespace

int run_bft(const BftSimOptions& opt) {
  check_bft_options(opt);
  if (!opt.csv.empty()) {
    // Fail before the run, not after it.
    std::FILE* f = std::fopen(opt.csv.c_str(), "w");
    if (!f) throw std::invalid_argument("cannot write --csv " + opt.csv + "; name a file in a writable directory");
    std::fclose(f);
  }
  WallTimer wall;
  BftWorld world(opt);
  const BftStats& st = world.run();
  std::printf("%s\n", st.render(world.virtual_s(), wall.seconds(), peak_rss_mib()).c_str());
  if (!opt.csv.empty()) st.write_csv(opt.csv);
  return 0;
}

}  // namespace bc::sim
