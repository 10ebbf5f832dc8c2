#include "tests/consensus/bft_sim.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <set>
#include <sstream>

#include "consensus/bft/core.hpp"
#include "layers/assert.hpp"
#include "tests/sim/committee_faults.hpp"

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

struct Node {
  std::optional<KeyPair> key;
  std::int64_t power = 0;
  std::optional<ByzantineRole> byzantine;
  std::map<std::string, Bytes> store;  // what the driver made durable
  std::unique_ptr<TestApp> app;
  std::unique_ptr<BftCore> core;
  bool up = false;
  bool crash_mid_outbox = false;  // crash right after the writes of the next Outbox that has any
  std::uint64_t tick_token = 0;
  std::map<std::uint64_t, Hash256> decided;        // over every incarnation
  std::map<std::uint64_t, CommitCertificate> ledger;  // certificates of decided heights (durable)
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
  void byzantine_transmit(int from, int to, Bytes frame);
  void deliver(int to, PeerId conn, const Bytes& frame);
  void on_decided(int i, const Decided& d);
  std::optional<VoteSlot> snoop(int to, ByteView frame);
  void trace(int i, const Outbox& out);
  bool all_decided_after_fault() const;
  void check_end();
  void fail(const std::string& what);
  BftOptions options() const;

  Rng rng_;
  SimOptions options_;
  SimResult result_;
  TimeMs start_ = 1'700'000'000'000;
  EventLoop loop_{start_};
  FaultPlan plan_;
  std::unique_ptr<FaultyNet> net_;
  std::vector<Node> nodes_;
  std::unique_ptr<SetHistory> sets_;
  SignatureCache cache_{1 << 16};
  bool trace_ = std::getenv("BC_BFT_TRACE") != nullptr;
  std::vector<bool> half_;  // which copy of an equivocation a node gets
  std::map<std::uint64_t, Hash256> honest_decided_;
  std::uint64_t height_at_fault_ = 0;
  EquivocationOracle oracle_;
  std::set<VoteSlot> evidence_;  // every EvidenceFound of an honest node, over incarnations
  std::set<VoteSlot> equivocations_;  // slots where an honest node received two values
};

BftOptions Sim::options() const { return sim_options(chain_id(), 10); }

void Sim::fail(const std::string& what) {
  if (!result_.ok) return;
  result_.ok = false;
  std::ostringstream s;
  s << "seed " << result_.seed << " at +" << (loop_.now() - start_) << " ms: " << what
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
  std::vector<std::int64_t> powers;
  for (auto& node : nodes_) {
    std::array<std::uint8_t, 32> secret;
    rng_.fill(secret);
    secret[0] = 1;  // far below the curve order
    node.key = KeyPair::from_secret(secret);
    node.power = 1 + static_cast<std::int64_t>(rng_.uniform(100));
    members.push_back(Validator{node.key->public_key(), node.power, 0});
    powers.push_back(node.power);
  }
  auto set = ValidatorSet::genesis(members);
  BC_ASSERT(set.ok());
  sets_ = std::make_unique<SetHistory>(*set);
  const auto roles = pick_byzantine(rng_, powers);
  for (int i = 0; i < n; ++i) {
    nodes_[i].byzantine = roles[i];
    result_.byzantine += roles[i].has_value();
  }
  result_.validators = n;
  for (int i = 0; i < n; ++i) half_.push_back(rng_.uniform(2) == 0);
}

void Sim::setup_faults() {
  const int n = static_cast<int>(nodes_.size());
  plan_ = plan_faults(rng_, n, start_, 4000);
  net_ = std::make_unique<FaultyNet>(loop_, rng_, plan_, n,
                                     [this](int to, PeerId conn, const Bytes& frame) { deliver(to, conn, frame); });
  for (const CrashPlan& c : plan_.crashes) {
    loop_.at(c.at, [this, c] {
      Node& node = nodes_[c.victim];
      if (!node.up) return;
      if (c.at_write) {
        node.crash_mid_outbox = true;  // at its next write; or in 1 s at the latest
        loop_.at(loop_.now() + 1000, [this, v = c.victim] {
          if (nodes_[v].crash_mid_outbox) crash(v);
        });
      } else {
        crash(c.victim);
      }
      loop_.at(restart_time(c, loop_.now()), [this, v = c.victim] {
        if (!nodes_[v].up) start_node(v);
      });
    });
  }
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
  oracle_.forget(i);
  Outbox out;
  node.core->start(loop_.now(), out);
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
  result_.crashes++;
  for (int j = 0; j < static_cast<int>(nodes_.size()); ++j) {
    auto ids = net_->cut(i, j);
    if (!ids || !nodes_[j].up) continue;
    Outbox out;
    nodes_[j].core->on_peer_down(ids->second, loop_.now(), out);
    drain(j, out);
  }
}

void Sim::connect(int i, int j) {
  const auto [at_i, at_j] = net_->connect(i, j);
  for (auto [a, b, id] : {std::tuple{i, j, at_i}, std::tuple{j, i, at_j}}) {
    if (!nodes_[a].up) continue;
    Outbox out;
    nodes_[a].core->on_peer_up(id, Endpoint::v4(0x0a000001u + b, 4000), a < b, loop_.now(), out);
    drain(a, out);
  }
}

void Sim::trace(int i, const Outbox& out) {
  const auto at = static_cast<long long>(loop_.now() - start_);
  for (const auto& f : out.frames) {
    auto m = decode(f.payload, CodecLimits{});
    if (!m.ok()) continue;
    const int to = net_->peer_of(i, f.to).value_or(-1);
    if (auto* v = std::get_if<Vote>(&*m)) {
      std::printf("%6lld n%d -> %d vote h%llu r%u t%d %s\n", at, i, to, (unsigned long long)v->height, v->round,
                  (int)v->type, v->value ? v->value->hex().substr(0, 6).c_str() : "nil");
    } else if (auto* p = std::get_if<ProposalMsg>(&*m)) {
      std::printf("%6lld n%d -> %d proposal h%llu r%u pol%d %s\n", at, i, to, (unsigned long long)p->proposal.height,
                  p->proposal.round, p->proposal.pol_round, p->proposal.value_hash.hex().substr(0, 6).c_str());
    }
  }
}

void Sim::drain(int i, Outbox& out) {
  Node& node = nodes_[i];
  if (trace_) trace(i, out);
  for (const auto& w : out.writes) {
    for (const auto& op : w.ops) {
      if (op.value) node.store[op.key] = *op.value;
      else node.store.erase(op.key);
    }
  }
  if (node.crash_mid_outbox && !out.writes.empty()) return crash(i);  // written, never sent
  for (auto& f : out.frames) {
    auto to = net_->peer_of(i, f.to);
    if (!to) return fail("frame to an unknown peer id");
    if (node.byzantine) byzantine_transmit(i, *to, std::move(f.payload));
    else net_->transmit(i, *to, std::move(f.payload));
  }
  while (auto e = node.core->poll_event()) {
    if (auto* d = std::get_if<Decided>(&*e)) on_decided(i, *d);
    if (auto* ev = std::get_if<EvidenceFound>(&*e); ev && !node.byzantine) {
      const Vote& a = ev->evidence.a;
      evidence_.insert({a.validator, a.height, a.round, a.type});
    }
  }
  const TimeMs wake = node.core->next_wakeup();
  const std::uint64_t token = ++node.tick_token;
  if (wake < kNever) {
    loop_.at(wake, [this, i, token] {
      Node& n = nodes_[i];
      if (!n.up || token != n.tick_token) return;
      Outbox o;
      n.core->on_tick(loop_.now(), o);
      drain(i, o);
    });
  }
}

// A Byzantine node runs the honest core, then tampers with what leaves it:
// its votes and proposals differ between the two halves of the committee
// (equivocation, signed with its key outside the core), some votes are
// withheld, and some proposals carry invalid values.
void Sim::byzantine_transmit(int from, int to, Bytes frame) {
  Node& node = nodes_[from];
  const ByzantineRole& role = *node.byzantine;
  auto m = decode(frame, CodecLimits{});
  if (!m.ok()) return fail("honest core sent an undecodable frame");
  if (auto* v = std::get_if<Vote>(&*m)) {
    for (auto& f : tamper_vote(*v, std::move(frame), role, half_[to], rng_, *node.key,
                               make_value(v->height, "by byzantine").hash))
      net_->transmit(from, to, std::move(f));
    return;
  }
  if (auto* p = std::get_if<ProposalMsg>(&*m); p && p->proposal.pol_round < 0 && half_[to]) {
    if (role.equivocate || role.bad_proposals) {
      ProposalMsg other = *p;
      Value alt = role.bad_proposals ? Value{sha256(as_bytes("junk")), Bytes{'j'}}
                                     : make_value(p->proposal.height, "by " + std::to_string(from) + " other");
      other.value = alt.bytes;
      other.proposal.value_hash = alt.hash;
      sign_proposal(other.proposal, *node.key);
      return net_->transmit(from, to, encode(other));
    }
  }
  net_->transmit(from, to, std::move(frame));
}

// The evidence oracle's input: a vote `to` receives, verified against its
// height's set.
std::optional<VoteSlot> Sim::snoop(int to, ByteView frame) {
  Node& node = nodes_[to];
  auto m = decode(frame, CodecLimits{});
  if (!m.ok()) return std::nullopt;
  const Vote* v = std::get_if<Vote>(&*m);
  if (!v || v->height != node.core->height()) return std::nullopt;
  const bool valid = verify_vote(*v, sets_->at(v->height), &cache_).ok();
  auto slot = oracle_.observe(to, *v, valid, node.core->height(), node.core->round(), options().future_rounds);
  if (!slot) return std::nullopt;
  for (const auto& other : nodes_) {
    if (other.key->public_key() == v->validator && !other.byzantine)
      fail("an honest validator signed two votes in one slot");
  }
  return slot;
}

void Sim::deliver(int to, PeerId conn, const Bytes& frame) {
  Node& node = nodes_[to];
  if (!node.up) return;
  result_.deliveries++;
  const auto equivocation = node.byzantine ? std::nullopt : snoop(to, frame);
  Outbox out;
  node.core->on_frame(conn, frame, loop_.now(), out);
  drain(to, out);
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

bool Sim::all_decided_after_fault() const {
  return std::all_of(nodes_.begin(), nodes_.end(), [&](const Node& n) {
    return n.byzantine ||
           (!n.decided.empty() && n.decided.rbegin()->first >= height_at_fault_ + options_.heights_after_fault);
  });
}

SimResult Sim::run() {
  setup_committee();
  setup_faults();
  for (int i = 0; i < static_cast<int>(nodes_.size()); ++i) start_node(i);
  result_.last_fault_ms = plan_.last_fault - start_;
  bool fault_snapshot = false;
  const TimeMs end = plan_.last_fault + options_.liveness_bound_ms;
  while (result_.ok && loop_.run_next(end)) {
    if (!fault_snapshot && loop_.now() >= plan_.last_fault) {
      fault_snapshot = true;
      height_at_fault_ = result_.max_height;
    }
    if (fault_snapshot && all_decided_after_fault()) {
      result_.recovery_ms = loop_.now() - plan_.last_fault;
      break;
    }
  }
  result_.equivocations_seen = equivocations_.size();
  if (result_.ok) check_end();
  return result_;
}

}  // namespace

SimResult run_seed(std::uint64_t seed, const SimOptions& options) { return Sim(seed, options).run(); }

}  // namespace bc::bft::sim
