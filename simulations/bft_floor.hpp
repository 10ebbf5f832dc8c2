// The physical floor of a height's finality in the latency model.
//
// A height decided in one round needs three message delays: the proposal
// from its proposer p to each validator i, i's prevote to each validator j,
// j's precommit to each validator v. A validator acts when it holds more
// than 2/3 of the total power (live validators only: crashed ones never
// speak) and the proposal. With no processing time, no jitter and no
// bandwidth cost, the earliest times are
//
//   P(i) = d(p, i)                                   proposal at i (d(i, i) = 0)
//   V(j) = max(P(j), Q_i[P(i) + d(i, j)])             j holds +2/3 prevotes: it precommits
//   D(v) = max(P(v), Q_j[V(j) + d(j, v)])             v holds +2/3 precommits: it decides
//
// where Q_k[t_k] is the earliest t at which the live validators k with
// t_k <= t hold +2/3 of the total power (3 * power > 2 * total, the core's
// two_thirds), and d is the model's one-way delay without jitter
// (LatencyModel::rtt_ms / 2; jitter only adds). D(v) - 0 is the floor of
// validator v's finality latency, counted from the proposal leaving p.
#pragma once
#include <cstdint>
#include <vector>

namespace bc::sim {

struct FloorCommittee {
  std::vector<std::int64_t> delay_us;  // n x n one-way delays, row = sender
  std::vector<std::int64_t> power;     // n
  std::vector<bool> live;              // n; crashed validators never send
  std::int64_t total_power = 0;        // of every validator, live or not
  std::size_t size() const { return power.size(); }
  std::int64_t d(std::size_t from, std::size_t to) const { return from == to ? 0 : delay_us[from * size() + to]; }
};

// The earliest time at which the live validators k with arrival[k] <= t hold
// +2/3 of c.total_power; -1 if the live power never reaches it.
std::int64_t quorum_time(const FloorCommittee& c, const std::vector<std::int64_t>& arrival);

// D(v) above for every validator v (µs from the proposal leaving
// `proposer`); -1 for crashed validators. REQUIRES: proposer is live.
std::vector<std::int64_t> finality_floor(const FloorCommittee& c, std::size_t proposer);

}  // namespace bc::sim
