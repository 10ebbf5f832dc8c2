// Validator set: CometBFT proposer priority (scaling, centering, ties),
// fairness, integer thresholds and the checks on a new set.
#include <doctest/doctest.h>

#include <map>

#include "consensus/bft/validator_set.hpp"

using namespace bc;
using namespace bc::bft;

namespace {

XOnlyPubKey key(std::uint8_t i) {
  XOnlyPubKey k;
  k.bytes[31] = i;
  return k;
}

ValidatorSet make(std::vector<std::int64_t> powers) {
  std::vector<Validator> members;
  for (std::size_t i = 0; i < powers.size(); ++i) members.push_back({key(static_cast<std::uint8_t>(i + 1)), powers[i], 0});
  auto set = ValidatorSet::genesis(members);
  REQUIRE(set.ok());
  return *set;
}

}  // namespace

TEST_SUITE("bft_validator_set") {
  TEST_CASE("the CometBFT rotation of powers 1, 2, 3 by hand") {
    // priorities (0,0,0) +power -> (1,2,3): key 3 proposes, -6 -> (1,2,-3)
    // center (sum 0) +power -> (2,4,0): key 2, -6 -> (2,-2,0)
    // +power -> (3,0,3): tie, the smaller key 1 wins, -6 -> (-3,0,3)
    // +power -> (-2,2,6): key 3
    ValidatorSet s = make({1, 2, 3});
    std::vector<std::uint8_t> seen;
    for (int i = 0; i < 4; ++i) {
      seen.push_back(s.proposer().bytes[31]);
      s = s.advanced(1);
    }
    CHECK(seen == std::vector<std::uint8_t>{3, 2, 1, 3});
  }

  TEST_CASE("each validator proposes in proportion to its power") {
    ValidatorSet s = make({1, 2, 3, 10, 4});
    std::map<std::uint8_t, int> count;
    for (int i = 0; i < 20 * 100; ++i) {
      count[s.proposer().bytes[31]]++;
      s = s.advanced(1);
    }
    CHECK(count[1] == 100);
    CHECK(count[2] == 200);
    CHECK(count[3] == 300);
    CHECK(count[4] == 1000);
    CHECK(count[5] == 400);
  }

  TEST_CASE("priorities stay centered and inside the window with skewed powers") {
    ValidatorSet s = make({1, 1'000'000'000'000LL, 7, kMaxTotalPower / 4});
    for (int i = 0; i < 5000; ++i) {
      s = s.advanced(1 + static_cast<std::uint32_t>(i % 3));
      std::int64_t lo = INT64_MAX, hi = INT64_MIN;
      __int128 sum = 0;
      for (const auto& v : s.members()) {
        lo = std::min(lo, v.priority);
        hi = std::max(hi, v.priority);
        sum += v.priority;
      }
      REQUIRE(__int128{hi} - lo <= __int128{4} * s.total_power());
      REQUIRE(sum <= __int128{2} * s.total_power());
      REQUIRE(sum >= -__int128{2} * s.total_power());
    }
  }

  TEST_CASE("the proposer of round r is the set advanced r times") {
    ValidatorSet s = make({5, 1, 9, 3});
    CHECK(s.proposer_for_round(0) == s.proposer());
    for (std::uint32_t r = 1; r < 20; ++r) CHECK(s.proposer_for_round(r) == s.advanced(r).proposer());
  }

  TEST_CASE("+2/3 and +1/3 are strict, in integers") {
    ValidatorSet s = make({1, 2, 3});  // total 6
    CHECK_FALSE(s.two_thirds(4));      // exactly 2/3 is not more than 2/3
    CHECK(s.two_thirds(5));
    CHECK_FALSE(s.one_third(2));
    CHECK(s.one_third(3));
    ValidatorSet big = make({kMaxTotalPower / 2, kMaxTotalPower / 2});
    CHECK_FALSE(big.two_thirds(kMaxTotalPower / 2));
    CHECK(big.two_thirds(kMaxTotalPower));
  }

  TEST_CASE("a bad set is refused") {
    CHECK_FALSE(ValidatorSet::genesis({}).ok());
    CHECK_FALSE(ValidatorSet::genesis({{key(1), 1, 0}, {key(1), 2, 0}}).ok());
    CHECK_FALSE(ValidatorSet::genesis({{key(1), 0, 0}}).ok());
    CHECK_FALSE(ValidatorSet::genesis({{key(1), kMaxTotalPower, 0}, {key(2), 1, 0}}).ok());
    auto ok = ValidatorSet::genesis({{key(2), 5, 0}, {key(1), 3, 0}});
    REQUIRE(ok.ok());
    CHECK(ok->index_of(key(1)) == std::optional<std::size_t>(0));
    CHECK(ok->index_of(key(3)) == std::nullopt);
    CHECK(ok->total_power() == 8);
  }
}
