#include "tests/consensus/bft_sim.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <queue>
#include <set>
#include <sstream>
#include <tuple>

#include "consensus/bft/core.hpp"
#include "layers/assert.hpp"

namespace bc::bft::sim {
namespace {

Hash256 chain_id() { return sha256(as_bytes("blockcloud/bft-sim")); }

// The validator set of every height: the genesis set advanced once per
// height, as the ledger will hand it over within one epoch.
class SetHistory {
 public:
  explicit SetHistory(ValidatorSet genesis) { sets_.push_back(std::move(genesis)); }
  const ValidatorSet& at(std::uint64_t height) {
    while (sets_.size() < height) sets_.push_back(sets_.back().advanced(1));
    return sets_[height - 1];
  }

 private:
  std::vector<ValidatorSet> sets_;
};

// A value is "block <height> <text>" and its hash is sha256 of the bytes.
Value make_value(std::uint64_t height, const std::string& text) {
  const std::string s = "block " + std::to_string(height) + " " + text;
  Value v;
  v.bytes.assign(s.begin(), s.end());
  v.hash = sha256(v.bytes);
  return v;
}

// The ledger's part: validator sets, values, and the certificates of the
// blocks this node has (kept by the driver across restarts).
class TestApp final : public Application {
 public:
  TestApp(SetHistory& sets, int node, const std::map<std::uint64_t, CommitCertificate>& ledger)
      : sets_(sets), node_(node), ledger_(ledger) {}
  std::optional<CommitCertificate> certificate(std::uint64_t height) override {
    auto it = ledger_.find(height);
    if (it == ledger_.end()) return std::nullopt;
    return it->second;
  }
  std::optional<ValidatorSet> validators(std::uint64_t height) override {
    if (height == 0) return std::nullopt;
    return sets_.at(height);
  }
  Value propose_value(std::uint64_t height, TimeMs now) override {
    return make_value(height, "by " + std::to_string(node_) + " at " + std::to_string(now));
  }
  bool valid_value(std::uint64_t height, const Value& v) override {
    const std::string prefix = "block " + std::to_string(height) + " by ";
    return sha256(v.bytes) == v.hash && v.bytes.size() >= prefix.size() &&
           std::equal(prefix.begin(), prefix.end(), v.bytes.begin());
  }

 private:
  SetHistory& sets_;
  int node_;
  const std::map<std::uint64_t, CommitCertificate>& ledger_;
};

using VoteSlot = std::tuple<XOnlyPubKey, std::uint64_t, std::uint32_t, VoteType>;

struct Node {
  std::optional<KeyPair> key;
  std::int64_t power = 0;
  bool byzantine = false, equivocate = false, withhold = false, bad_proposals = false;
  std::map<std::string, Bytes> store;  // what the driver made durable
  std::unique_ptr<TestApp> app;
  std::unique_ptr<BftCore> core;
  bool up = false;
  bool crash_mid_outbox = false;  // crash right after the writes of the next Outbox that has any
  std::map<PeerId, int> peer_node;
  std::map<int, PeerId> conn_to;
  std::uint64_t tick_token = 0;
  std::map<std::uint64_t, Hash256> decided;        // over every incarnation
  std::map<std::uint64_t, CommitCertificate> ledger;  // certificates of decided heights (durable)
  std::map<VoteSlot, std::set<VoteValue>> seen;    // this incarnation, at its height
};

struct Event {
  TimeMs at = 0;
  std::uint64_t seq = 0;
  enum class Kind { kDeliver, kTick, kAction } kind = Kind::kAction;
  int to = 0;
  PeerId conn = 0;
  Bytes payload;
  std::uint64_t token = 0;
  std::function<void()> action;
};
struct Later {
  bool operator()(const Event& a, const Event& b) const { return a.at != b.at ? a.at > b.at : a.seq > b.seq; }
};

struct Partition {
  TimeMs from, to;
  std::vector<bool> side;
};

class Sim {
 public:
  Sim(std::uint64_t seed, const SimOptions& options) : rng_(seed), options_(options) { result_.seed = seed; }
  SimResult run();

 private:
  void setup_committee();
  void setup_faults();
  void start_node(int i);
  void crash(int i);
  void connect(int i, int j);
  void drain(int i, Outbox& out);
  void transmit(int from, int to, Bytes frame);
  void byzantine_transmit(int from, int to, Bytes frame);
  void deliver(Event& e);
  void on_decided(int i, const Decided& d);
  std::optional<VoteSlot> snoop(int to, ByteView frame);
  bool reachable(int a, int b) const;
  void push(Event e);
  void check_end();
  void fail(const std::string& what);
  BftOptions options() const;

  Rng rng_;
  SimOptions options_;
  SimResult result_;
  TimeMs now_ = 1'700'000'000'000;
  TimeMs start_ = now_;
  std::uint64_t seq_ = 0;
  std::uint64_t next_conn_ = 1;
  std::priority_queue<Event, std::vector<Event>, Later> queue_;
  std::vector<Node> nodes_;
  std::unique_ptr<SetHistory> sets_;
  SignatureCache cache_{1 << 16};
  double loss_ = 0, duplication_ = 0;
  bool trace_ = std::getenv("BC_BFT_TRACE") != nullptr;
  TimeMs jitter_ = 0;
  std::vector<Partition> partitions_;
  std::vector<bool> half_;  // which copy of an equivocation a node gets
  std::map<std::uint64_t, Hash256> honest_decided_;
  std::uint64_t height_at_fault_ = 0;
  TimeMs last_fault_ = 0;
  std::set<VoteSlot> evidence_;  // every EvidenceFound of an honest node, over incarnations
  std::set<VoteSlot> equivocations_;  // slots where an honest node received two values
};

BftOptions Sim::options() const {
  BftOptions o;
  o.chain_id = chain_id();
  o.propose_ms = 200;
  o.propose_delta_ms = 50;
  o.prevote_ms = 100;
  o.precommit_ms = 100;
  o.vote_delta_ms = 50;
  o.commit_ms = 10;
  o.gossip_ms = 150;
  return o;
}

void Sim::fail(const std::string& what) {
  if (!result_.ok) return;
  result_.ok = false;
  std::ostringstream s;
  s << "seed " << result_.seed << " at +" << (now_ - start_) << " ms: " << what
    << " (reproduce: BC_BFT_SEED=" << result_.seed << ")";
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    const Node& n = nodes_[i];
    s << "\n  node " << i << (n.byzantine ? " byzantine" : "") << " power " << n.power;
    if (!n.up) {
      s << " down";
      continue;
    }
    if (auto it = n.store.find(std::string(kSignerKey)); it != n.store.end()) {
      auto r = decode_signer_record(it->second, CodecLimits{});
      if (r.ok()) s << " signed h" << r->height << " r" << r->round << " s" << static_cast<int>(r->step);
    }
    const BftStats& st = n.core->stats();
    s << " height " << n.core->height() << " round " << n.core->round() << " step "
      << static_cast<int>(n.core->step()) << " locked " << n.core->lock().locked_round << " accepted "
      << st.messages_accepted << " dup " << st.duplicates << " stale " << st.stale << " future " << st.future
      << " served " << st.certificates_served << " skips " << st.rounds_skipped;
    for (const auto& [why, count] : st.drops) s << " " << why << "=" << count;
  }
  result_.failure = s.str();
}

void Sim::setup_committee() {
  const int n = 4 + static_cast<int>(rng_.uniform(7));
  nodes_.resize(n);
  std::vector<Validator> members;
  for (auto& node : nodes_) {
    std::array<std::uint8_t, 32> secret;
    rng_.fill(secret);
    secret[0] = 1;  // far below the curve order
    node.key = KeyPair::from_secret(secret);
    node.power = 1 + static_cast<std::int64_t>(rng_.uniform(100));
    members.push_back(Validator{node.key->public_key(), node.power, 0});
  }
  auto set = ValidatorSet::genesis(members);
  BC_ASSERT(set.ok());
  sets_ = std::make_unique<SetHistory>(*set);
  // Byzantine validators: a random coalition holding under 1/3 of the power.
  std::int64_t byz = 0;
  for (int i = 0; i < n; ++i) {
    if (rng_.uniform(3) != 0 || 3 * (byz + nodes_[i].power) >= set->total_power()) continue;
    byz += nodes_[i].power;
    Node& b = nodes_[i];
    b.byzantine = true;
    b.equivocate = rng_.uniform(4) != 0;
    b.withhold = rng_.uniform(2) == 0;
    b.bad_proposals = rng_.uniform(2) == 0;
    result_.byzantine++;
  }
  result_.validators = n;
  for (int i = 0; i < n; ++i) half_.push_back(rng_.uniform(2) == 0);
}

void Sim::setup_faults() {
  loss_ = rng_.unit() * 0.2;
  duplication_ = rng_.unit() * 0.2;
  jitter_ = static_cast<TimeMs>(rng_.uniform(60));
  const int n = static_cast<int>(nodes_.size());
  for (int p = static_cast<int>(rng_.uniform(3)); p > 0; --p) {
    Partition part{start_ + static_cast<TimeMs>(rng_.uniform(4000)), 0, {}};
    part.to = part.from + 200 + static_cast<TimeMs>(rng_.uniform(3000));
    for (int i = 0; i < n; ++i) part.side.push_back(rng_.uniform(2) == 0);
    last_fault_ = std::max(last_fault_, part.to);
    partitions_.push_back(std::move(part));
  }
  for (int c = static_cast<int>(rng_.uniform(3)); c > 0; --c) {
    const int victim = static_cast<int>(rng_.uniform(n));
    const TimeMs at = start_ + static_cast<TimeMs>(rng_.uniform(4000));
    const TimeMs back = at + 100 + static_cast<TimeMs>(rng_.uniform(2000));
    const bool mid = rng_.uniform(2) == 0;
    last_fault_ = std::max(last_fault_, back + 1000);  // a mid-Outbox crash may come up to 1 s late
    push(Event{at, 0, Event::Kind::kAction, 0, 0, {}, 0, [this, victim, mid, back] {
                 Node& node = nodes_[victim];
                 if (!node.up) return;
                 if (mid) {
                   node.crash_mid_outbox = true;  // at its next write; or in 1 s at the latest
                   push(Event{now_ + 1000, 0, Event::Kind::kAction, 0, 0, {}, 0, [this, victim] {
                                if (nodes_[victim].crash_mid_outbox) crash(victim);
                              }});
                 } else {
                   crash(victim);
                 }
                 push(Event{std::max(back, now_ + 1001), 0, Event::Kind::kAction, 0, 0, {}, 0,
                            [this, victim] { if (!nodes_[victim].up) start_node(victim); }});
               }});
  }
  if (last_fault_ == 0) last_fault_ = start_;
}

void Sim::push(Event e) {
  e.seq = seq_++;
  queue_.push(std::move(e));
}

bool Sim::reachable(int a, int b) const {
  for (const auto& p : partitions_) {
    if (now_ >= p.from && now_ < p.to && p.side[a] != p.side[b]) return false;
  }
  return true;
}

void Sim::start_node(int i) {
  Node& node = nodes_[i];
  Recovery recovery;
  if (auto it = node.store.find(std::string(kSignerKey)); it != node.store.end()) recovery.signer_record = it->second;
  if (auto it = node.store.find(std::string(kDecidedKey)); it != node.store.end()) recovery.decided_record = it->second;
  if (recovery.decided_record) {
    // The block of the last decision may have been lost with the crash's
    // events; the ledger takes it from the core's record.
    auto m = decode(*recovery.decided_record, CodecLimits{});
    if (!m.ok() || !std::holds_alternative<CommitCertificate>(*m)) return fail("decided record does not decode");
    const auto& cert = std::get<CommitCertificate>(*m);
    node.ledger.emplace(cert.height, cert);
  }
  node.app = std::make_unique<TestApp>(*sets_, i, node.ledger);
  auto core = BftCore::create(options(), *node.app, node.key, recovery, &cache_);
  if (!core.ok()) return fail("restart failed: " + core.status().text());
  node.core = std::move(*core);
  node.up = true;
  node.seen.clear();
  Outbox out;
  node.core->start(now_, out);
  drain(i, out);
  for (int j = 0; j < static_cast<int>(nodes_.size()); ++j) {
    if (j != i && nodes_[j].up && node.up) connect(i, j);
  }
}

void Sim::crash(int i) {
  Node& node = nodes_[i];
  node.up = false;
  node.crash_mid_outbox = false;
  node.core.reset();  // everything not in node.store is gone
  node.tick_token++;
  node.peer_node.clear();
  node.conn_to.clear();
  result_.crashes++;
  for (int j = 0; j < static_cast<int>(nodes_.size()); ++j) {
    Node& peer = nodes_[j];
    auto it = peer.conn_to.find(i);
    if (!peer.up || it == peer.conn_to.end()) continue;
    const PeerId id = it->second;
    peer.conn_to.erase(it);
    peer.peer_node.erase(id);
    Outbox out;
    peer.core->on_peer_down(id, now_, out);
    drain(j, out);
  }
}

void Sim::connect(int i, int j) {
  for (auto [a, b] : {std::pair{i, j}, std::pair{j, i}}) {
    const PeerId id = next_conn_++;
    nodes_[a].peer_node[id] = b;
    nodes_[a].conn_to[b] = id;
  }
  for (auto [a, b] : {std::pair{i, j}, std::pair{j, i}}) {
    if (!nodes_[a].up) continue;
    Outbox out;
    nodes_[a].core->on_peer_up(nodes_[a].conn_to[b], Endpoint::v4(0x0a000001u + b, 4000), a < b, now_, out);
    drain(a, out);
  }
}

void Sim::drain(int i, Outbox& out) {
  Node& node = nodes_[i];
  if (trace_) {
    for (const auto& f : out.frames) {
      auto m = decode(f.payload, CodecLimits{});
      if (!m.ok()) continue;
      if (auto* v = std::get_if<Vote>(&*m)) {
        std::printf("%6lld n%d -> %d vote h%llu r%u t%d %s\n", (long long)(now_ - start_), i, node.peer_node[f.to],
                    (unsigned long long)v->height, v->round, (int)v->type,
                    v->value ? v->value->hex().substr(0, 6).c_str() : "nil");
      } else if (auto* p = std::get_if<ProposalMsg>(&*m)) {
        std::printf("%6lld n%d -> %d proposal h%llu r%u pol%d %s\n", (long long)(now_ - start_), i,
                    node.peer_node[f.to], (unsigned long long)p->proposal.height, p->proposal.round,
                    p->proposal.pol_round, p->proposal.value_hash.hex().substr(0, 6).c_str());
      }
    }
  }
  for (const auto& w : out.writes) {
    for (const auto& op : w.ops) {
      if (op.value) node.store[op.key] = *op.value;
      else node.store.erase(op.key);
    }
  }
  if (node.crash_mid_outbox && !out.writes.empty()) return crash(i);  // written, never sent
  for (auto& f : out.frames) {
    auto it = node.peer_node.find(f.to);
    if (it == node.peer_node.end()) return fail("frame to an unknown peer id");
    if (node.byzantine) byzantine_transmit(i, it->second, std::move(f.payload));
    else transmit(i, it->second, std::move(f.payload));
  }
  while (auto e = node.core->poll_event()) {
    if (auto* d = std::get_if<Decided>(&*e)) on_decided(i, *d);
    if (auto* ev = std::get_if<EvidenceFound>(&*e); ev && !node.byzantine) {
      const Vote& a = ev->evidence.a;
      evidence_.insert({a.validator, a.height, a.round, a.type});
    }
  }
  const TimeMs wake = node.core->next_wakeup();
  node.tick_token++;
  if (wake < kNever) push(Event{std::max(wake, now_), 0, Event::Kind::kTick, i, 0, {}, node.tick_token, {}});
}

void Sim::transmit(int from, int to, Bytes frame) {
  if (!reachable(from, to)) return;
  const int copies = rng_.unit() < duplication_ ? 2 : 1;
  for (int c = 0; c < copies; ++c) {
    if (rng_.unit() < loss_) continue;
    const TimeMs delay = 2 + static_cast<TimeMs>(rng_.uniform(jitter_ + 1));
    push(Event{now_ + delay, 0, Event::Kind::kDeliver, to, nodes_[to].conn_to[from], frame, 0, {}});
  }
}

// A Byzantine node runs the honest core, then tampers with what leaves it:
// its votes and proposals differ between the two halves of the committee
// (equivocation, signed with its key outside the core), some votes are
// withheld, and some proposals carry invalid values.
void Sim::byzantine_transmit(int from, int to, Bytes frame) {
  Node& node = nodes_[from];
  auto m = decode(frame, CodecLimits{});
  if (!m.ok()) return fail("honest core sent an undecodable frame");
  if (auto* v = std::get_if<Vote>(&*m)) {
    if (node.withhold && rng_.uniform(2) == 0) return;
    if (node.equivocate && (half_[to] || rng_.uniform(4) == 0)) {
      // The other half gets another vote; now and then a node gets both.
      Vote other = *v;
      other.value = v->value ? VoteValue{} : VoteValue{make_value(v->height, "by byzantine").hash};
      sign_vote(other, *node.key);
      transmit(from, to, encode(other));
      if (half_[to]) return;
    }
  } else if (auto* p = std::get_if<ProposalMsg>(&*m); p && p->proposal.pol_round < 0 && half_[to]) {
    if (node.equivocate || node.bad_proposals) {
      ProposalMsg other = *p;
      Value alt = node.bad_proposals ? Value{sha256(as_bytes("junk")), Bytes{'j'}}
                                     : make_value(p->proposal.height, "by " + std::to_string(from) + " other");
      other.value = alt.bytes;
      other.proposal.value_hash = alt.hash;
      sign_proposal(other.proposal, *node.key);
      return transmit(from, to, encode(other));
    }
  }
  transmit(from, to, std::move(frame));
}

// The evidence oracle: a vote the receiver will store (its height, inside
// its round window) is remembered per slot; two values in one slot are an
// equivocation it saw.
std::optional<VoteSlot> Sim::snoop(int to, ByteView frame) {
  Node& node = nodes_[to];
  auto m = decode(frame, CodecLimits{});
  if (!m.ok()) return std::nullopt;
  const Vote* v = std::get_if<Vote>(&*m);
  if (!v || v->height != node.core->height() || v->round > node.core->round() + options().future_rounds)
    return std::nullopt;
  if (!verify_vote(*v, sets_->at(v->height), &cache_).ok()) return std::nullopt;
  const VoteSlot slot{v->validator, v->height, v->round, v->type};
  auto& values = node.seen[slot];
  values.insert(v->value);
  if (values.size() < 2) return std::nullopt;
  for (const auto& other : nodes_) {
    if (other.key->public_key() == v->validator && !other.byzantine)
      fail("an honest validator signed two votes in one slot");
  }
  return slot;
}

void Sim::deliver(Event& e) {
  Node& node = nodes_[e.to];
  if (!node.up || !node.peer_node.count(e.conn)) return;  // down, or the connection is gone
  if (!reachable(node.peer_node[e.conn], e.to)) return;   // the partition cut it in flight
  result_.deliveries++;
  const auto equivocation = node.byzantine ? std::nullopt : snoop(e.to, e.payload);
  Outbox out;
  node.core->on_frame(e.conn, e.payload, now_, out);
  drain(e.to, out);
  // Seen, unless the node crashed in this very input (its events were lost with it).
  if (equivocation && node.up) equivocations_.insert(*equivocation);
}

void Sim::on_decided(int i, const Decided& d) {
  Node& node = nodes_[i];
  if (!verify_certificate(d.certificate, chain_id(), sets_->at(d.height)).ok())
    return fail("node " + std::to_string(i) + " decided without a valid certificate");
  node.ledger.emplace(d.height, d.certificate);
  auto [mine, fresh] = node.decided.emplace(d.height, d.value.hash);
  if (!fresh && mine->second != d.value.hash)
    return fail("node " + std::to_string(i) + " changed its decision at height " + std::to_string(d.height));
  if (node.byzantine) return;
  auto [it, first] = honest_decided_.emplace(d.height, d.value.hash);
  if (!first && it->second != d.value.hash)
    return fail("SAFETY: two honest nodes decided different values at height " + std::to_string(d.height));
  result_.max_height = std::max(result_.max_height, d.height);
}

void Sim::check_end() {
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    const Node& node = nodes_[i];
    if (node.byzantine) continue;
    const std::uint64_t have = node.decided.empty() ? 0 : node.decided.rbegin()->first;
    if (have < height_at_fault_ + options_.heights_after_fault)
      return fail("LIVENESS: node " + std::to_string(i) + " reached height " + std::to_string(have) + ", not " +
                  std::to_string(height_at_fault_ + options_.heights_after_fault) + " within " +
                  std::to_string(options_.liveness_bound_ms) + " ms of the last fault");
  }
  for (const auto& slot : equivocations_) {
    if (!evidence_.count(slot))
      return fail("an equivocation at height " + std::to_string(std::get<1>(slot)) + " left no evidence");
  }
}

SimResult Sim::run() {
  setup_committee();
  setup_faults();
  for (int i = 0; i < static_cast<int>(nodes_.size()); ++i) start_node(i);
  result_.last_fault_ms = last_fault_ - start_;
  bool fault_snapshot = false;
  const TimeMs end = last_fault_ + options_.liveness_bound_ms;
  while (!queue_.empty() && result_.ok) {
    Event e = queue_.top();
    queue_.pop();
    if (e.at > end) break;
    now_ = e.at;
    if (!fault_snapshot && now_ >= last_fault_) {
      fault_snapshot = true;
      height_at_fault_ = result_.max_height;
    }
    if (fault_snapshot && std::all_of(nodes_.begin(), nodes_.end(), [&](const Node& n) {
          return n.byzantine || (!n.decided.empty() && n.decided.rbegin()->first >= height_at_fault_ + options_.heights_after_fault);
        })) {
      result_.recovery_ms = now_ - last_fault_;
      break;
    }
    if (e.kind == Event::Kind::kAction) {
      e.action();
    } else if (e.kind == Event::Kind::kDeliver) {
      deliver(e);
    } else if (nodes_[e.to].up && e.token == nodes_[e.to].tick_token) {
      Outbox out;
      nodes_[e.to].core->on_tick(now_, out);
      drain(e.to, out);
    }
  }
  result_.equivocations_seen = equivocations_.size();
  if (result_.ok) check_end();
  return result_;
}

}  // namespace

SimResult run_seed(std::uint64_t seed, const SimOptions& options) { return Sim(seed, options).run(); }

}  // namespace bc::bft::sim
