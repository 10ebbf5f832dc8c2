#include "tests/sim/committee_sim.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <set>

#include "layers/assert.hpp"
#include "tests/sim/committee_world.hpp"

namespace bc::sim {
namespace {

constexpr std::size_t kAccounts = 16;  // the first 4..10 are the validators' accounts
constexpr TimeMs kTxEveryMs = 100;
constexpr TimeMs kRedialMs = 500;      // as blockcloudd's StreamNet redials its peers
constexpr TimeMs kMaxSkewMs = 1000;

}  // namespace

CommitteeWorld::CommitteeWorld(std::uint64_t seed, const CommitteeSimOptions& options)
    : rng_(seed), options_(options), tg_(ledger::make_test_genesis(kAccounts, 1'000'000, seed)), workload_(tg_.keys) {
  result_.seed = seed;
}

void CommitteeWorld::setup_committee() {
  const int n = 4 + static_cast<int>(rng_.uniform(7));
  std::vector<std::int64_t> stakes;
  std::vector<KeyPair> keys;
  for (int i = 0; i < n; ++i) {
    std::array<std::uint8_t, 32> secret;
    rng_.fill(secret);
    secret[0] = 1;  // far below the curve order
    keys.push_back(*KeyPair::from_secret(secret));
    stakes.push_back(1 + static_cast<std::int64_t>(rng_.uniform(100)));
    tg_.genesis.accounts[i].bonded = static_cast<ledger::Amount>(stakes.back()) * 1000;
    tg_.genesis.accounts[i].consensus_key = keys.back().public_key();
  }
  roles_ = bft::sim::pick_byzantine(rng_, stakes);
  for (int i = 0; i < n; ++i) {
    half_.push_back(rng_.uniform(2) == 0);
    result_.byzantine += roles_[i].has_value();
  }
  ledger::Genesis& g = tg_.genesis;
  g.time = start_;
  g.params.producers.clear();
  const std::uint64_t epochs[] = {8, 16, 100};  // short ones: committees change (and bans take effect) in a run
  g.params.epoch_length = epochs[rng_.uniform(3)];
  auto probe = ledger::genesis_changes(g);
  BC_ASSERT_MSG(probe.ok(), "%s", probe.status().text().c_str());
  result_.validators = n;
  for (int i = 0; i < n; ++i) {
    CommitteeNodeConfig c;
    c.index = i;
    c.genesis = g;
    c.key = keys[i];
    c.options = bft::sim::sim_options({}, 100);  // chain_id: the node sets its ledger's genesis hash
    c.skew_ms = static_cast<TimeMs>(rng_.uniform(2 * kMaxSkewMs + 1)) - kMaxSkewMs;
    c.sim_clock = [this] { return loop_.now(); };
    nodes_.push_back(std::make_unique<CommitteeNode>(std::move(c)));
  }
  tick_token_.assign(n, 0);
  committed_.resize(n);
}

void CommitteeWorld::setup_faults() {
  const int n = static_cast<int>(nodes_.size());
  plan_ = bft::sim::plan_faults(rng_, n, start_, options_.fault_window_ms);
  net_ = std::make_unique<bft::sim::FaultyNet>(loop_, rng_, plan_, n,
                                                [this](int to, PeerId conn, const Bytes& f) { deliver(to, conn, f); });
  for (const bft::sim::CrashPlan& c : plan_.crashes) {
    const bool lands = rng_.uniform(2) == 0;
    loop_.at(c.at, [this, c, lands] {
      CommitteeNode& node = *nodes_[c.victim];
      if (!node.up()) return;
      if (c.at_write) {
        node.arm_crash_at_write(lands);  // at its next core-store write; or in 1 s at the latest
        loop_.at(loop_.now() + 1000, [this, v = c.victim] {
          if (nodes_[v]->up()) crash(v);
        });
      } else {
        crash(c.victim);
      }
      loop_.at(bft::sim::restart_time(c, loop_.now()), [this, v = c.victim] {
        if (!nodes_[v]->up()) boot(v);
      });
    });
  }
  for (TimeMs t = start_; t < plan_.last_fault + options_.liveness_bound_ms + options_.slash_bound_ms; t += kRedialMs) {
    loop_.at(t, [this] { redial(); });
    loop_.at(t + kRedialMs / 2, [this] { block_sync(); });
  }
}

void CommitteeWorld::schedule_workload() {
  for (TimeMs t = start_ + kTxEveryMs; t < plan_.last_fault + 1000; t += kTxEveryMs)
    loop_.at(t, [this] { submit_transfer(); });
}

void CommitteeWorld::boot(int i) {
  CommitteeNode& node = *nodes_[i];
  if (std::string why = node.boot(); !why.empty()) return fail("node " + std::to_string(i) + ": " + why);
  result_.commits_from_record += node.committed_from_record();
  check_restart(i);
  oracle_.forget(i);
  input(i, [&](consensus::Validator& v, TimeMs now) { return v.start(now); });
  for (int j = 0; j < static_cast<int>(nodes_.size()); ++j) {
    if (j != i && nodes_[j]->up() && node.up() && plan_.reachable(i, j, loop_.now())) connect(i, j);
  }
}

void CommitteeWorld::crash(int i) {
  nodes_[i]->crash();
  tick_token_[i]++;
  result_.crashes++;
  for (int j = 0; j < static_cast<int>(nodes_.size()); ++j) {
    auto ids = net_->cut(i, j);
    if (!ids || !nodes_[j]->up()) continue;
    input(j, [&](consensus::Validator& v, TimeMs now) { return v.peer_down(ids->second, now); });
  }
}

void CommitteeWorld::connect(int i, int j) {
  const auto ids = net_->connect(i, j);
  auto up = [&](int a, int b, PeerId id) {
    const Endpoint remote = Endpoint::v4(0x0a000001u + static_cast<std::uint32_t>(b), 4000);
    input(a, [&](consensus::Validator& v, TimeMs now) { return v.peer_up(id, remote, a < b, now); });
  };
  up(i, j, ids.first);
  up(j, i, ids.second);
}

// A full mesh, as each daemon dials its configured peers again and again;
// a partition makes a dial fail.
void CommitteeWorld::redial() {
  const int n = static_cast<int>(nodes_.size());
  for (int i = 0; i < n; ++i)
    for (int j = i + 1; j < n; ++j)
      if (nodes_[i]->up() && nodes_[j]->up() && !net_->connected(i, j) && plan_.reachable(i, j, loop_.now()))
        connect(i, j);
}

// Block sync, which runs beside consensus in blockcloudd (ledger/sync.hpp),
// modelled rather than run: a node two or more blocks behind a node it can
// reach takes up to 16 of the blocks it lacks, with their certificates, from
// that node's ledger, then its validator resyncs (a new core at the new
// head), as the daemon's on_synced does. Catching up by certificates alone
// (the core's own way) costs a commit timeout and a propose timeout per
// height, so a node behind a coalition of +2/3 that decides without it
// would never catch up without this.
void CommitteeWorld::block_sync() {
  const int n = static_cast<int>(nodes_.size());
  for (int i = 0; i < n && result_.ok; ++i) {
    if (!nodes_[i]->up()) continue;
    ledger::Ledger& mine = nodes_[i]->ledger();
    int from = -1;
    for (int j = 0; j < n; ++j) {
      if (j == i || !nodes_[j]->up() || !plan_.reachable(i, j, loop_.now())) continue;
      const std::uint64_t have = from < 0 ? mine.head().height + 1 : nodes_[from]->ledger().head().height;
      if (nodes_[j]->ledger().head().height > have) from = j;
    }
    if (from < 0) continue;
    const ledger::Ledger& theirs = nodes_[from]->ledger();
    const std::uint64_t before = mine.head().height;
    const std::uint64_t upto = std::min(theirs.head().height, before + 16);
    for (std::uint64_t h = before + 1; h <= upto; ++h) {
      const auto cert = theirs.certificate_at(h);
      Status s = mine.apply_block(*theirs.block_at(h), cert ? &*cert : nullptr);
      if (!s.ok())
        return fail("block sync: node " + std::to_string(i) + " refused block " + std::to_string(h) + " of node " +
                    std::to_string(from) + ": " + s.text());
      nodes_[i]->mempool().prune(mine.state());
    }
    result_.blocks_synced += mine.head().height - before;
    note_chain(i);
    input(i, [](consensus::Validator& v, TimeMs now) { return v.resync(now); });
  }
}

template <typename Fn>
void CommitteeWorld::input(int i, Fn&& fn) {
  CommitteeNode& node = *nodes_[i];
  if (!node.up() || !result_.ok) return;
  take(i, fn(node.validator(), node.local_time(loop_.now())));
}

// A step's store writes are durable: its frames may leave, unless the power
// went out in it (then nothing of it leaves).
void CommitteeWorld::take(int i, consensus::ValidatorStep step) {
  CommitteeNode& node = *nodes_[i];
  if (node.power_lost()) {
    result_.crashes_at_write++;
    return crash(i);
  }
  if (!step.fatal.ok()) return fail("node " + std::to_string(i) + " stopped: " + step.fatal.text());
  if (!step.committed.empty()) note_chain(i);
  if (trace_) trace(i, step.frames);
  for (auto& f : step.frames) {
    auto to = net_->peer_of(i, f.to);
    if (!to) return fail("node " + std::to_string(i) + " sent a frame to an unknown peer id");
    if (roles_[i]) byzantine_send(i, *to, std::move(f.payload));
    else net_->transmit(i, *to, std::move(f.payload));
  }
  for (PeerId gone : step.disconnects) {
    auto j = net_->peer_of(i, gone);
    if (!j) continue;
    auto ids = net_->cut(i, *j);
    input(i, [&](consensus::Validator& v, TimeMs now) { return v.peer_down(ids->first, now); });
    input(*j, [&](consensus::Validator& v, TimeMs now) { return v.peer_down(ids->second, now); });
  }
  if (node.up()) schedule_tick(i);
}

// BC_COMMITTEE_TRACE=1: each node's own proposals and votes as they leave.
void CommitteeWorld::trace(int i, const std::vector<Outbox::Frame>& frames) {
  std::set<Bytes> seen;  // one line per message, not per peer
  const XOnlyPubKey& me = nodes_[i]->config().key.public_key();
  const auto at = static_cast<long long>(loop_.now() - start_);
  for (const auto& f : frames) {
    if (!seen.insert(f.payload).second) continue;
    auto m = bft::decode(f.payload, bft::CodecLimits{});
    if (!m.ok()) continue;
    if (const auto* v = std::get_if<bft::Vote>(&*m); v && v->validator == me) {
      std::printf("%6lld n%d vote h%llu r%u %s %s\n", at, i, static_cast<unsigned long long>(v->height), v->round,
                  v->type == bft::VoteType::kPrevote ? "prevote" : "precommit",
                  v->value ? v->value->hex().substr(0, 6).c_str() : "nil");
    } else if (const auto* p = std::get_if<bft::ProposalMsg>(&*m); p && p->proposal.proposer == me) {
      std::printf("%6lld n%d proposal h%llu r%u pol%d %s proof %zu\n", at, i,
                  static_cast<unsigned long long>(p->proposal.height), p->proposal.round, p->proposal.pol_round,
                  p->proposal.value_hash.hex().substr(0, 6).c_str(), p->pol_prevotes.size());
    }
  }
}

void CommitteeWorld::schedule_tick(int i) {
  CommitteeNode& node = *nodes_[i];
  const TimeMs wake = node.sim_time(node.validator().next_wakeup());
  const std::uint64_t token = ++tick_token_[i];
  if (wake == kNever) return;
  loop_.at(wake, [this, i, token] {
    if (token != tick_token_[i]) return;
    input(i, [](consensus::Validator& v, TimeMs now) { return v.tick(now); });
  });
}

void CommitteeWorld::deliver(int to, PeerId conn, const Bytes& frame) {
  if (!nodes_[to]->up()) return;
  result_.deliveries++;
  std::optional<VoteSlot> equivocation;
  if (honest(to)) snoop(to, frame, equivocation);
  input(to, [&](consensus::Validator& v, TimeMs now) { return v.frame(conn, frame, now); });
  // Seen, unless the node crashed in this very input (what it found was lost with it).
  if (equivocation && nodes_[to]->up()) {
    equivocations_.insert(*equivocation);
    offenders_.insert(std::get<0>(*equivocation));
  }
}

// A client's transfer, sent to one to three nodes' mempools (there is no tx
// gossip in this simulation: the nodes that have it propose it).
void CommitteeWorld::submit_transfer() {
  const int n = static_cast<int>(nodes_.size());
  const int first = static_cast<int>(rng_.uniform(static_cast<std::uint64_t>(n)));
  const int copies = 1 + static_cast<int>(rng_.uniform(3));
  if (!nodes_[first]->up()) return;
  const ledger::Tx tx = workload_.next(rng_, nodes_[first]->ledger());
  for (int c = 0; c < copies; ++c) {
    CommitteeNode& node = *nodes_[(first + c) % n];
    if (node.up()) (void)node.mempool().add(tx, node.ledger());  // refused (a stale nonce): a client's retry
  }
}

// Runs events until `end` or until done() holds after one; false if time ran out.
bool CommitteeWorld::run_phase(TimeMs end, const std::function<bool()>& done) {
  while (result_.ok && loop_.run_next(end)) {
    if (done()) return true;
  }
  return result_.ok && done();
}

CommitteeSimResult CommitteeWorld::run() {
  setup_committee();
  setup_faults();
  schedule_workload();
  for (int i = 0; i < static_cast<int>(nodes_.size()); ++i) boot(i);
  result_.last_fault_ms = plan_.last_fault - start_;
  // The faults.
  run_phase(plan_.last_fault, [] { return false; });
  height_at_fault_ = result_.max_height;
  // Liveness: every honest node commits heights_after_fault more blocks.
  const bool live = run_phase(plan_.last_fault + options_.liveness_bound_ms, [this] { return liveness_held(); });
  if (result_.ok && live) result_.recovery_ms = loop_.now() - plan_.last_fault;
  if (result_.ok && !live) check_end();  // says which node fell short
  // Every validator seen equivocating is slashed and banned on every honest ledger.
  if (result_.ok) run_phase(loop_.now() + options_.slash_bound_ms, [this] { return all_offenders_banned(); });
  if (result_.ok) check_end();
  result_.end_ms = loop_.now() - start_;
  result_.equivocations_seen = equivocations_.size();
  result_.offenders_seen = offenders_.size();
  return result_;
}

CommitteeSimResult run_committee_seed(std::uint64_t seed, const CommitteeSimOptions& options) {
  return CommitteeWorld(seed, options).run();
}

}  // namespace bc::sim
