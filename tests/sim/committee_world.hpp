// The state of one committee simulation run (tests/sim/committee_sim.hpp
// says what a seed covers and what is checked). Internal to the simulator:
// committee_sim.cpp drives the nodes, committee_checks.cpp holds the checks,
// committee_byzantine.cpp what the Byzantine nodes send.
#pragma once
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "tests/sim/committee_faults.hpp"
#include "tests/sim/committee_node.hpp"
#include "tests/sim/committee_sim.hpp"
#include "tests/sim/transfers.hpp"

namespace bc::sim {

using bft::sim::ByzantineRole;
using bft::sim::VoteSlot;

class CommitteeWorld {
 public:
  CommitteeWorld(std::uint64_t seed, const CommitteeSimOptions& options);
  CommitteeSimResult run();

 private:
  // committee_sim.cpp: the committee, the faults, the driver
  void setup_committee();
  void setup_faults();
  void schedule_workload();
  void boot(int i);
  void crash(int i);
  void connect(int i, int j);
  void redial();
  void block_sync();
  template <typename Fn>
  void input(int i, Fn&& fn);
  void take(int i, consensus::ValidatorStep step);
  void schedule_tick(int i);
  void trace(int i, const std::vector<Outbox::Frame>& frames);
  void deliver(int to, PeerId conn, const Bytes& frame);
  void submit_transfer();
  bool run_phase(TimeMs end, const std::function<bool()>& done);

  // committee_byzantine.cpp
  void byzantine_send(int from, int to, Bytes frame);
  std::optional<Bytes> other_proposal(int from, const bft::ProposalMsg& real);

  // committee_checks.cpp
  void fail(const std::string& what);
  void note_chain(int i);
  void check_restart(int i);
  void snoop(int to, const Bytes& frame, std::optional<VoteSlot>& seen);
  bool liveness_held() const;
  bool offender_banned(const XOnlyPubKey& key);
  bool all_offenders_banned();
  void check_end();
  void check_punishments();

  std::uint64_t honest_min_height() const;
  bool honest(int i) const { return !roles_[i].has_value(); }
  int node_of_key(const XOnlyPubKey& key) const;

  Rng rng_;
  CommitteeSimOptions options_;
  CommitteeSimResult result_;
  TimeMs start_ = 1'700'000'000'000;
  bft::sim::EventLoop loop_{start_};
  bft::sim::FaultPlan plan_;
  std::unique_ptr<bft::sim::FaultyNet> net_;
  ledger::TestGenesis tg_;
  std::vector<std::unique_ptr<CommitteeNode>> nodes_;
  std::vector<std::optional<ByzantineRole>> roles_;
  std::vector<bool> half_;                 // which copy of an equivocation a node gets
  std::vector<std::uint64_t> tick_token_;  // a node's latest tick; older ones are void
  std::vector<std::map<std::uint64_t, Hash256>> committed_;  // per node, over every incarnation
  std::map<std::uint64_t, Hash256> honest_committed_;
  TransferWorkload workload_;
  std::map<std::pair<std::uint64_t, std::uint32_t>, Bytes> byzantine_proposals_;  // by (height, round)
  std::set<Hash256> invalid_values_;  // of the invalid proposals sent: never committed
  bft::sim::EquivocationOracle oracle_;
  SignatureCache oracle_cache_{1 << 14};
  std::set<VoteSlot> equivocations_;
  std::set<XOnlyPubKey> offenders_;
  std::uint64_t height_at_fault_ = 0;
  bool trace_ = std::getenv("BC_COMMITTEE_TRACE") != nullptr;
};

}  // namespace bc::sim
