// The finality floor of `blockcloud-sim bft` (simulations/bft_floor.hpp):
// the +2/3-power quorum time and the three-delay recursion, on committees
// small enough to work out by hand.
#include <doctest/doctest.h>

#include "simulations/bft_floor.hpp"

using namespace bc::sim;

namespace {

// Four validators of power 1 on a line at 0, 10, 20, 30 µs: d(a, b) = |a - b| * 10.
FloorCommittee line4() {
  FloorCommittee c;
  for (std::int64_t a = 0; a < 4; ++a) {
    for (std::int64_t b = 0; b < 4; ++b) c.delay_us.push_back(10 * (a > b ? a - b : b - a));
  }
  c.power = {1, 1, 1, 1};
  c.live = {true, true, true, true};
  c.total_power = 4;
  return c;
}

}  // namespace

TEST_CASE("quorum_time: the earliest arrival at which live power passes 2/3 of the total") {
  FloorCommittee c = line4();
  // 3 of 4 are needed (3 * 3 > 2 * 4; 3 * 2 is not): the third earliest arrival.
  CHECK(quorum_time(c, {5, 1, 3, 2}) == 3);
  // A crashed validator's arrival never counts, even the earliest.
  c.live[3] = false;
  CHECK(quorum_time(c, {1, 2, 3, 0}) == 3);
  // Live power that cannot pass 2/3 of the total: no quorum.
  c.power = {1, 1, 1, 3};
  c.total_power = 6;
  CHECK(quorum_time(c, {1, 2, 3, 0}) == -1);
}

TEST_CASE("quorum_time: power, not head count") {
  FloorCommittee c = line4();
  c.power = {1, 1, 1, 5};  // total 8: +2/3 needs 6, so validator 3 and any one other
  c.total_power = 8;
  CHECK(quorum_time(c, {1, 2, 3, 9}) == 9);
  CHECK(quorum_time(c, {4, 2, 3, 0}) == 2);
}

TEST_CASE("finality_floor: three delays through the quorums, worked by hand") {
  const FloorCommittee c = line4();
  // Proposer 0. Proposal P = {0, 10, 20, 30}. Prevotes at j arrive P(i) + d(i, j):
  // j=0 {0,20,40,60} -> 40; j=1 {10,10,30,50} -> 30; j=2 {20,20,20,40} -> 20;
  // j=3 {30,30,30,30} -> 30. Precommits at v arrive V(j) + d(j, v):
  // v=0 {40,40,40,60} -> 40; v=1 {50,30,30,50} -> 50; v=2 {60,40,20,40} -> 40;
  // v=3 {70,50,30,30} -> 50.
  CHECK(finality_floor(c, 0) == std::vector<std::int64_t>{40, 50, 40, 50});
  // From the second: P = {10, 0, 10, 20}; V = {30, 20, 30, 20}; precommits at v=0 arrive
  // {30, 30, 50, 50}, so D(0) = 50; D = {50, 40, 30, 40}.
  CHECK(finality_floor(c, 1) == std::vector<std::int64_t>{50, 40, 30, 40});
}

TEST_CASE("finality_floor: a crashed validator neither votes nor decides") {
  FloorCommittee c = line4();
  c.live[3] = false;  // the three live ones must all vote
  // P = {0, 10, 20}; V(0) = 40, V(1) = 30, V(2) = 20;
  // D(0) = max{40, 40, 40} = 40, D(1) = max{50, 30, 30} = 50, D(2) = max{60, 40, 20} = 60.
  CHECK(finality_floor(c, 0) == std::vector<std::int64_t>{40, 50, 60, -1});
}

TEST_CASE("finality_floor: a validator waits for the proposal even when the votes came first") {
  // Seven validators of power 1 (+2/3 needs 5). Validator 6 is 100 µs from
  // the proposer 0 and 1 µs from everyone else; all other pairs are 1 µs
  // apart (the regional model need not obey the triangle inequality).
  FloorCommittee c;
  for (int a = 0; a < 7; ++a) {
    for (int b = 0; b < 7; ++b) c.delay_us.push_back(a == b ? 0 : (a + b == 6 && a * b == 0) ? 100 : 1);
  }
  c.power.assign(7, 1);
  c.live.assign(7, true);
  c.total_power = 7;
  // P = {0, 1, 1, 1, 1, 1, 100}. Validator 6 holds five prevotes at 2 and
  // five precommits at 3, but prevotes and decides only with the proposal.
  CHECK(finality_floor(c, 0) == std::vector<std::int64_t>{3, 3, 3, 3, 3, 3, 100});
}
