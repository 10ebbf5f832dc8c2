// Vote bookkeeping for one height: per round and type, at most one vote per
// validator, the power behind each value, +2/3 checks, equivocation turned
// into evidence, and the highest round each validator was seen in (for the
// round skip). docs/consensus.md ("State and the rules").
//
// Votes given to add() must already be verified (signature, membership,
// chain, height); the vote set only counts.
#pragma once
#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include "consensus/bft/types.hpp"
#include "consensus/bft/validator_set.hpp"

namespace bc::bft {

enum class AddOutcome {
  kAdded,      // a new vote counted
  kDuplicate,  // the same vote again: nothing changed
  kConflict,   // another value for a slot already voted: evidence, not counted
};

struct AddResult {
  AddOutcome outcome = AddOutcome::kAdded;
  std::optional<DuplicateVoteEvidence> evidence;  // set for kConflict
};

// The votes of one type in one round.
class RoundVotes {
 public:
  explicit RoundVotes(const ValidatorSet& set);

  // REQUIRES: index is v.validator's index in the set.
  AddResult add(const Vote& v, std::size_t index);
  const std::optional<Vote>& vote_of(std::size_t index) const { return by_validator_[index]; }

  std::int64_t power_for(const VoteValue& value) const;
  std::int64_t power_any() const { return power_any_; }
  bool two_thirds_any() const { return set_->two_thirds(power_any_); }
  bool two_thirds_for(const VoteValue& value) const { return set_->two_thirds(power_for(value)); }
  // The value with +2/3 of the power, if any (at most one can have it).
  std::optional<VoteValue> two_thirds_majority() const;
  // Every counted vote for value, in validator order.
  std::vector<Vote> votes_for(const VoteValue& value) const;

 private:
  const ValidatorSet* set_;
  std::vector<std::optional<Vote>> by_validator_;
  std::map<VoteValue, std::int64_t> power_by_value_;
  std::int64_t power_any_ = 0;
};

class HeightVotes {
 public:
  // REQUIRES: set outlives this object.
  HeightVotes(std::uint64_t height, const ValidatorSet& set);

  // REQUIRES: v.height == height() and v.validator in the set.
  AddResult add(const Vote& v);
  // The stored vote of v's validator in v's slot, if any.
  const std::optional<Vote>* existing(const Vote& v) const;
  // nullptr when no vote of that round and type was ever added.
  const RoundVotes* find(std::uint32_t round, VoteType type) const;
  std::vector<std::uint32_t> rounds() const;

  // A message of `validator` in `round` was seen (vote or proposal).
  void note_round(std::size_t index, std::uint32_t round);
  // The highest round r > current such that validators holding +1/3 of the
  // power were seen in round r or later (rule 55); nullopt if none.
  std::optional<std::uint32_t> skip_target(std::uint32_t current) const;

  std::uint64_t height() const { return height_; }

 private:
  std::uint64_t height_;
  const ValidatorSet* set_;
  std::map<std::uint32_t, std::array<RoundVotes, 2>> rounds_;
  std::vector<std::int64_t> highest_round_;  // per validator; -1: not seen
};

}  // namespace bc::bft
