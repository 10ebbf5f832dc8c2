// The fault model of the committee simulations, shared by the core's
// (tests/consensus/bft_sim: BftCore on toy values) and the whole nodes'
// (tests/sim/committee_sim: Validators on real ledgers):
//
//   EventLoop     virtual time: events run in time order, ties in the
//                 order they were scheduled, so a seed replays exactly.
//   FaultPlan     drawn from the seed: loss, duplication and jitter (so
//                 reordering) of frames, partitions that heal, crashes with
//                 restarts, some of them at the node's next store write.
//   FaultyNet     framed connections between nodes with ids never reused;
//                 each frame is lost, duplicated or delayed as the plan says
//                 and dropped if a partition separates the ends when it is
//                 sent or when it arrives. Harsher than TCP, which loses
//                 frames only when a connection breaks: a Byzantine peer
//                 can send in any order anyway.
//   Byzantine     a random coalition under 1/3 of the power; its members
//                 equivocate (votes signed outside the core, one value to
//                 each half of the committee), withhold votes, and propose
//                 a second or an invalid value (the proposal part is the
//                 simulation's: it knows what its values are).
//   EquivocationOracle  which honest node saw which validator sign two
//                 values in one vote slot it stores: each must end in
//                 evidence (bft_sim) or a slash on chain (committee_sim).
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <queue>
#include <set>
#include <tuple>
#include <vector>

#include "consensus/bft/codec.hpp"
#include "consensus/bft/core.hpp"
#include "layers/core.hpp"
#include "layers/runtime.hpp"

namespace bc::bft::sim {

using VoteSlot = std::tuple<XOnlyPubKey, std::uint64_t, std::uint32_t, VoteType>;

// The core's timeouts in the simulations: shorter than the daemon's, so a
// seed is short in virtual time (a height takes a few hundred ms) while
// every rule still runs.
BftOptions sim_options(const Hash256& chain_id, TimeMs commit_ms);

class EventLoop {
 public:
  explicit EventLoop(TimeMs start) : now_(start) {}
  // Runs fn at `at` (not before now).
  void at(TimeMs at, std::function<void()> fn);
  // Runs the next event if there is one at or before `end`; false if not.
  bool run_next(TimeMs end);
  TimeMs now() const { return now_; }

 private:
  struct Event {
    TimeMs at;
    std::uint64_t seq;
    std::function<void()> fn;
  };
  struct Later {
    bool operator()(const Event& a, const Event& b) const { return a.at != b.at ? a.at > b.at : a.seq > b.seq; }
  };
  TimeMs now_;
  std::uint64_t seq_ = 0;
  std::priority_queue<Event, std::vector<Event>, Later> queue_;
};

struct Partition {
  TimeMs from = 0, to = 0;
  std::vector<bool> side;  // per node
};

struct CrashPlan {
  int victim = 0;
  TimeMs at = 0;    // down from here (at_write: armed here, down at the next store write or 1 s later)
  TimeMs back = 0;  // restarted here at the earliest
  bool at_write = false;
};

struct FaultPlan {
  double loss = 0, duplication = 0;
  TimeMs jitter = 0;
  std::vector<Partition> partitions;
  std::vector<CrashPlan> crashes;
  TimeMs last_fault = 0;  // the last heal or restart (at_write crashes: their latest restart)

  bool reachable(int a, int b, TimeMs now) const;
};

// Faults within [start, start + window_ms): up to 2 partitions and 2 crashes.
FaultPlan plan_faults(Rng& rng, int nodes, TimeMs start, TimeMs window_ms);

// When the victim of `c`, armed at `armed` (c.at), comes back: at c.back, or
// just after the latest moment an at_write crash can take it down.
inline TimeMs restart_time(const CrashPlan& c, TimeMs armed) { return std::max(c.back, armed + 1001); }

class FaultyNet {
 public:
  // Called when a frame arrives on a connection that still exists.
  using Deliver = std::function<void(int to, PeerId conn, const Bytes& frame)>;
  FaultyNet(EventLoop& loop, Rng& rng, const FaultPlan& plan, int nodes, Deliver deliver);

  // A new connection between i and j: its id at i, then at j.
  std::pair<PeerId, PeerId> connect(int i, int j);
  // Removes the connection between i and j (if any); returns the ids it had
  // at i and at j.
  std::optional<std::pair<PeerId, PeerId>> cut(int i, int j);
  bool connected(int i, int j) const { return conn_to_[i].count(j) != 0; }
  // The node at the other end of `conn` at `at`.
  std::optional<int> peer_of(int at, PeerId conn) const;
  // Sends over the connection from -> to, if there is one.
  void transmit(int from, int to, Bytes frame);
  std::uint64_t deliveries() const { return deliveries_; }

 private:
  EventLoop& loop_;
  Rng& rng_;
  const FaultPlan& plan_;
  Deliver deliver_;
  PeerId next_conn_ = 1;
  std::vector<std::map<PeerId, int>> peer_node_;
  std::vector<std::map<int, PeerId>> conn_to_;
  std::uint64_t deliveries_ = 0;
};

struct ByzantineRole {
  bool equivocate = false;
  bool withhold = false;
  bool bad_proposals = false;  // proposes invalid values (else, when equivocating, a second valid one)
};

// A random coalition holding under 1/3 of the total power.
std::vector<std::optional<ByzantineRole>> pick_byzantine(Rng& rng, const std::vector<std::int64_t>& powers);

// What a Byzantine validator sends to a peer in place of its honest core's
// vote `v` (encoded in `frame`): maybe nothing (withheld); to the peers of
// `other_half` a conflicting vote signed with `key` outside the core (for
// nil if v is for a value, else for `other_value`), and now and then to the
// rest both votes.
std::vector<Bytes> tamper_vote(const Vote& v, Bytes frame, const ByzantineRole& role, bool other_half, Rng& rng,
                               const KeyPair& key, const Hash256& other_value);

class EquivocationOracle {
 public:
  // A vote arriving at `node`, verified by the caller (`valid`: signed by a
  // member of its height's set). Remembered if the node will store it (its
  // height `height`, within future_rounds of its round `round`); returns its
  // slot if the node now holds two values there.
  std::optional<VoteSlot> observe(int node, const Vote& v, bool valid, std::uint64_t height, std::uint32_t round,
                                  std::uint32_t future_rounds);
  // The node restarted: it remembers nothing of its votes.
  void forget(int node) { seen_.erase(node); }

 private:
  std::map<int, std::map<VoteSlot, std::set<VoteValue>>> seen_;
};

}  // namespace bc::bft::sim
