#include "consensus/bft/validator_set.hpp"

#include <algorithm>
#include <limits>

#include "consensus/bft/errors.hpp"
#include "layers/assert.hpp"

namespace bc::bft {
namespace {

std::int64_t clip(__int128 v) {
  constexpr auto lo = std::numeric_limits<std::int64_t>::min();
  constexpr auto hi = std::numeric_limits<std::int64_t>::max();
  return static_cast<std::int64_t>(std::clamp<__int128>(v, lo, hi));
}

// Floor division (rounds toward minus infinity), as Go's big.Int.Div does
// for a positive divisor; C++ '/' truncates toward zero.
__int128 floor_div(__int128 a, __int128 b) {
  __int128 q = a / b;
  if ((a % b != 0) && (a < 0)) --q;
  return q;
}

}  // namespace

Result<ValidatorSet> ValidatorSet::genesis(std::vector<Validator> members) {
  if (members.empty()) return fail(Error::kBadValidatorSet, "empty validator set");
  if (members.size() > kMaxValidators) return fail(Error::kBadValidatorSet, "too many validators");
  std::sort(members.begin(), members.end(), [](const Validator& a, const Validator& b) { return a.key < b.key; });
  ValidatorSet set;
  for (std::size_t i = 0; i < members.size(); ++i) {
    if (i > 0 && members[i].key == members[i - 1].key) return fail(Error::kBadValidatorSet, "duplicate key");
    if (members[i].power < 1 || members[i].power > kMaxTotalPower)
      return fail(Error::kBadValidatorSet, "power out of range");
    set.total_ += members[i].power;
    if (set.total_ > kMaxTotalPower) return fail(Error::kBadValidatorSet, "total power over the limit");
    members[i].priority = 0;
  }
  set.members_ = std::move(members);
  return set.advanced(1);
}

void ValidatorSet::rescale() {
  auto [lo, hi] = std::minmax_element(members_.begin(), members_.end(),
                                      [](const Validator& a, const Validator& b) { return a.priority < b.priority; });
  const __int128 diff = __int128{hi->priority} - lo->priority;
  const __int128 window = __int128{2} * total_;
  if (diff <= window) return;
  const __int128 ratio = (diff + window - 1) / window;  // ceil
  for (auto& v : members_) v.priority = clip(v.priority / ratio);  // truncation, as Go's int64 '/'
}

void ValidatorSet::center() {
  __int128 sum = 0;
  for (const auto& v : members_) sum += v.priority;
  const __int128 avg = floor_div(sum, static_cast<__int128>(members_.size()));
  for (auto& v : members_) v.priority = clip(v.priority - avg);
}

std::size_t ValidatorSet::elect() {
  for (auto& v : members_) v.priority = clip(__int128{v.priority} + v.power);
  std::size_t best = 0;
  for (std::size_t i = 1; i < members_.size(); ++i) {
    // Higher priority wins; on a tie the smaller key (members_ is sorted).
    if (members_[i].priority > members_[best].priority) best = i;
  }
  members_[best].priority = clip(__int128{members_[best].priority} - total_);
  return best;
}

ValidatorSet ValidatorSet::advanced(std::uint32_t times) const {
  BC_ASSERT(times >= 1);
  BC_ASSERT(!members_.empty());
  ValidatorSet next = *this;
  next.rescale();
  next.center();
  for (std::uint32_t i = 0; i < times; ++i) next.proposer_ = next.elect();
  return next;
}

const XOnlyPubKey& ValidatorSet::proposer_for_round(std::uint32_t round) const {
  if (round == 0) return proposer();
  // `later` keeps the members in the same order, so its index names ours.
  const ValidatorSet later = advanced(round);
  return members_[later.proposer_].key;
}

std::optional<std::size_t> ValidatorSet::index_of(const XOnlyPubKey& key) const {
  auto it = std::lower_bound(members_.begin(), members_.end(), key,
                             [](const Validator& v, const XOnlyPubKey& k) { return v.key < k; });
  if (it == members_.end() || it->key != key) return std::nullopt;
  return static_cast<std::size_t>(it - members_.begin());
}

}  // namespace bc::bft
