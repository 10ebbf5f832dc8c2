// The validators of one height: keys, voting power (bonded stake) and the
// CometBFT proposer priorities. docs/consensus.md ("Validator set") is the
// specification.
//
// A ValidatorSet is a value: advanced() returns a new set, nothing mutates a
// set another part of the node holds. The ledger builds one per epoch with
// genesis() and hands the core the set of each height (the previous height's
// set advanced once, or a fresh one at an epoch boundary).
#pragma once
#include <cstdint>
#include <optional>
#include <vector>

#include "layers/crypto.hpp"
#include "layers/status.hpp"

namespace bc::bft {

// Keeps every power sum and priority step inside int64 (CometBFT uses
// MaxInt64 / 8 for the same reason).
inline constexpr std::int64_t kMaxTotalPower = std::int64_t{1} << 60;
inline constexpr std::size_t kMaxValidators = 1000;

struct Validator {
  XOnlyPubKey key;
  std::int64_t power = 0;     // >= 1
  std::int64_t priority = 0;  // proposer priority
  friend bool operator==(const Validator&, const Validator&) = default;
};

class ValidatorSet {
 public:
  // A fresh set: priorities 0, sorted by key, advanced once so proposer()
  // is the first proposer. Fails on an empty set, a duplicate key, a power
  // below 1, more than kMaxValidators or a total above kMaxTotalPower.
  static Result<ValidatorSet> genesis(std::vector<Validator> members);

  // CometBFT's IncrementProposerPriority(times): scale and center once, then
  // `times` elections. REQUIRES: times >= 1.
  ValidatorSet advanced(std::uint32_t times) const;
  // proposer of round `round` of this set's height: advanced(round)'s
  // proposer for round > 0.
  const XOnlyPubKey& proposer_for_round(std::uint32_t round) const;

  const XOnlyPubKey& proposer() const { return members_[proposer_].key; }
  const std::vector<Validator>& members() const { return members_; }
  std::size_t size() const { return members_.size(); }
  std::int64_t total_power() const { return total_; }
  // Index of key in members(), or nullopt for a non-member.
  std::optional<std::size_t> index_of(const XOnlyPubKey& key) const;
  std::int64_t power_of(std::size_t index) const { return members_[index].power; }

  // "+2/3" and "+1/3" of the total power, in integers (3p > 2T, 3p > T).
  bool two_thirds(std::int64_t power) const { return 3 * power > 2 * total_; }
  bool one_third(std::int64_t power) const { return 3 * power > total_; }

 private:
  void rescale();
  void center();
  std::size_t elect();

  std::vector<Validator> members_;  // sorted by key
  std::int64_t total_ = 0;
  std::size_t proposer_ = 0;
};

}  // namespace bc::bft
