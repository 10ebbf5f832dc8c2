#include "consensus/bft/vote_set.hpp"

#include <algorithm>

#include "consensus/bft/codec.hpp"
#include "layers/assert.hpp"

namespace bc::bft {

RoundVotes::RoundVotes(const ValidatorSet& set) : set_(&set), by_validator_(set.size()) {}

AddResult RoundVotes::add(const Vote& v, std::size_t index) {
  BC_ASSERT(index < by_validator_.size());
  BC_ASSERT(set_->members()[index].key == v.validator);
  auto& slot = by_validator_[index];
  if (slot) {
    if (slot->value == v.value) return {AddOutcome::kDuplicate, std::nullopt};
    return {AddOutcome::kConflict, DuplicateVoteEvidence{*slot, v}};
  }
  slot = v;
  const std::int64_t power = set_->power_of(index);
  power_by_value_[v.value] += power;
  power_any_ += power;
  BC_ASSERT(power_any_ <= set_->total_power());
  return {AddOutcome::kAdded, std::nullopt};
}

std::int64_t RoundVotes::power_for(const VoteValue& value) const {
  auto it = power_by_value_.find(value);
  return it == power_by_value_.end() ? 0 : it->second;
}

std::optional<VoteValue> RoundVotes::two_thirds_majority() const {
  for (const auto& [value, power] : power_by_value_) {
    if (set_->two_thirds(power)) return value;
  }
  return std::nullopt;
}

std::vector<Vote> RoundVotes::votes_for(const VoteValue& value) const {
  std::vector<Vote> out;
  for (const auto& v : by_validator_) {
    if (v && v->value == value) out.push_back(*v);
  }
  return out;
}

HeightVotes::HeightVotes(std::uint64_t height, const ValidatorSet& set)
    : height_(height), set_(&set), highest_round_(set.size(), -1) {}

AddResult HeightVotes::add(const Vote& v) {
  BC_ASSERT(v.height == height_);
  const auto index = set_->index_of(v.validator);
  BC_ASSERT(index.has_value());
  auto it = rounds_.find(v.round);
  if (it == rounds_.end()) {
    it = rounds_.emplace(v.round, std::array<RoundVotes, 2>{RoundVotes(*set_), RoundVotes(*set_)}).first;
  }
  note_round(*index, v.round);
  return it->second[v.type == VoteType::kPrevote ? 0 : 1].add(v, *index);
}

const std::optional<Vote>* HeightVotes::existing(const Vote& v) const {
  const RoundVotes* votes = find(v.round, v.type);
  const auto index = set_->index_of(v.validator);
  if (!votes || !index) return nullptr;
  return &votes->vote_of(*index);
}

const RoundVotes* HeightVotes::find(std::uint32_t round, VoteType type) const {
  auto it = rounds_.find(round);
  if (it == rounds_.end()) return nullptr;
  return &it->second[type == VoteType::kPrevote ? 0 : 1];
}

std::vector<std::uint32_t> HeightVotes::rounds() const {
  std::vector<std::uint32_t> out;
  for (const auto& [round, votes] : rounds_) out.push_back(round);
  return out;
}

void HeightVotes::note_round(std::size_t index, std::uint32_t round) {
  BC_ASSERT(index < highest_round_.size());
  highest_round_[index] = std::max<std::int64_t>(highest_round_[index], round);
}

std::optional<std::uint32_t> HeightVotes::skip_target(std::uint32_t current) const {
  // Validators by the highest round they were seen in, highest first: the
  // running power after each one is the power seen at that round or later.
  std::vector<std::pair<std::int64_t, std::int64_t>> seen;  // (round, power)
  for (std::size_t i = 0; i < highest_round_.size(); ++i) {
    if (highest_round_[i] > static_cast<std::int64_t>(current)) seen.emplace_back(highest_round_[i], set_->power_of(i));
  }
  std::sort(seen.begin(), seen.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::int64_t power = 0;
  for (const auto& [round, p] : seen) {
    power += p;
    if (set_->one_third(power)) return static_cast<std::uint32_t>(round);
  }
  return std::nullopt;
}

}  // namespace bc::bft
