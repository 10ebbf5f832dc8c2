// Vote sets: one vote per validator and slot, power per value, +2/3,
// equivocation as evidence, and the round-skip target.
#include <doctest/doctest.h>

#include "consensus/bft/vote_set.hpp"

using namespace bc;
using namespace bc::bft;

namespace {

XOnlyPubKey key(std::uint8_t i) {
  XOnlyPubKey k;
  k.bytes[31] = i;
  return k;
}

ValidatorSet set4() {
  // powers 1, 1, 1, 2: total 5, +2/3 needs 4, +1/3 needs 2
  auto s = ValidatorSet::genesis({{key(1), 1, 0}, {key(2), 1, 0}, {key(3), 1, 0}, {key(4), 2, 0}});
  REQUIRE(s.ok());
  return *s;
}

Vote vote(std::uint8_t who, std::uint32_t round, VoteType type, VoteValue value) {
  Vote v;
  v.type = type;
  v.height = 7;
  v.round = round;
  v.value = value;
  v.validator = key(who);
  return v;
}

Hash256 h(std::uint8_t b) {
  Hash256 x;
  x.bytes[0] = b;
  return x;
}

}  // namespace

TEST_SUITE("bft_vote_set") {
  TEST_CASE("power per value and +2/3") {
    const ValidatorSet s = set4();
    HeightVotes votes(7, s);
    CHECK(votes.add(vote(1, 0, VoteType::kPrevote, h(1))).outcome == AddOutcome::kAdded);
    CHECK(votes.add(vote(2, 0, VoteType::kPrevote, h(1))).outcome == AddOutcome::kAdded);
    CHECK(votes.add(vote(3, 0, VoteType::kPrevote, std::nullopt)).outcome == AddOutcome::kAdded);
    const RoundVotes* pv = votes.find(0, VoteType::kPrevote);
    REQUIRE(pv != nullptr);
    CHECK(pv->power_for(h(1)) == 2);
    CHECK(pv->power_for(std::nullopt) == 1);
    CHECK(pv->power_any() == 3);
    CHECK_FALSE(pv->two_thirds_any());
    CHECK_FALSE(pv->two_thirds_majority().has_value());
    CHECK(votes.add(vote(4, 0, VoteType::kPrevote, h(1))).outcome == AddOutcome::kAdded);
    CHECK(pv->two_thirds_for(h(1)));
    CHECK(pv->two_thirds_majority() == std::optional<VoteValue>(h(1)));
    CHECK(pv->votes_for(h(1)).size() == 3);
    CHECK(votes.find(0, VoteType::kPrecommit)->power_any() == 0);  // the other type is separate
  }

  TEST_CASE("the same vote twice is a duplicate; another value is evidence and not counted") {
    const ValidatorSet s = set4();
    HeightVotes votes(7, s);
    CHECK(votes.add(vote(4, 1, VoteType::kPrecommit, h(1))).outcome == AddOutcome::kAdded);
    CHECK(votes.add(vote(4, 1, VoteType::kPrecommit, h(1))).outcome == AddOutcome::kDuplicate);
    AddResult r = votes.add(vote(4, 1, VoteType::kPrecommit, std::nullopt));
    CHECK(r.outcome == AddOutcome::kConflict);
    REQUIRE(r.evidence.has_value());
    CHECK(r.evidence->a.value == VoteValue(h(1)));
    CHECK(r.evidence->b.value == VoteValue{});
    CHECK(votes.find(1, VoteType::kPrecommit)->power_any() == 2);
    CHECK(votes.find(1, VoteType::kPrecommit)->power_for(std::nullopt) == 0);
    // Another round is another slot.
    CHECK(votes.add(vote(4, 2, VoteType::kPrecommit, std::nullopt)).outcome == AddOutcome::kAdded);
  }

  TEST_CASE("round skip: the highest round reached by +1/3 of the power") {
    const ValidatorSet s = set4();
    HeightVotes votes(7, s);
    votes.note_round(0, 5);  // power 1
    CHECK_FALSE(votes.skip_target(0).has_value());
    votes.note_round(1, 3);  // power 1: rounds >= 3 now hold 2 > 5/3
    CHECK(votes.skip_target(0) == std::optional<std::uint32_t>(3));
    CHECK_FALSE(votes.skip_target(3).has_value());
    votes.note_round(3, 9);  // power 2 alone at 9
    CHECK(votes.skip_target(3) == std::optional<std::uint32_t>(9));
  }
}
