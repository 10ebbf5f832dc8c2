#include "apps/storage/placement.hpp"

#include <algorithm>
#include <numeric>
#include <string>
#include <tuple>

#include "apps/storage/format.hpp"
#include "layers/assert.hpp"

namespace bc::storage {
namespace {

// routing::DhtConfig's defaults (level2_rtt_ms, level1_rtt_ms); checked
// against them in net/storage_node.cpp, which may include routing/.
constexpr std::int64_t kLevel2RttUs = 20'000;
constexpr std::int64_t kLevel1RttUs = 60'000;

// A candidate's cluster at one level: its reported ID, or a cluster of its own.
struct ClusterKey {
  std::optional<Hash256> id;
  std::size_t self;
  bool same(const ClusterKey& o) const { return id && o.id ? *id == *o.id : !id && !o.id && self == o.self; }
};

struct Spread {
  std::vector<ClusterKey> l1, l2;  // of the providers picked so far
  std::size_t in_l1(const ClusterKey& k) const {
    return static_cast<std::size_t>(std::count_if(l1.begin(), l1.end(), [&](const ClusterKey& x) { return x.same(k); }));
  }
  std::size_t in_l2(const ClusterKey& k) const {
    return static_cast<std::size_t>(std::count_if(l2.begin(), l2.end(), [&](const ClusterKey& x) { return x.same(k); }));
  }
  void add(const PlacementCandidate& c, std::size_t i) {
    l1.push_back({c.cluster1, i});
    l2.push_back({c.cluster2, i});
  }
};

}  // namespace

int nearness_level(std::int64_t rtt_us) {
  if (rtt_us < 0) return -1;
  if (rtt_us < kLevel2RttUs) return 2;
  if (rtt_us < kLevel1RttUs) return 1;
  return 0;
}

Result<std::vector<std::size_t>> choose_placement(const std::vector<PlacementCandidate>& candidates,
                                                  std::size_t count, const std::vector<std::size_t>& fixed) {
  std::vector<bool> taken(candidates.size(), false);
  Spread spread;
  for (std::size_t f : fixed) {
    BC_ASSERT(f < candidates.size());
    taken[f] = true;
    spread.add(candidates[f], f);
  }
  const auto free = static_cast<std::size_t>(std::count(taken.begin(), taken.end(), false));
  if (free < count)
    return fail(Error::kBadShape, std::to_string(free) + " providers to choose from, " + std::to_string(count) + " needed");
  std::vector<std::size_t> picked;
  while (picked.size() < count) {
    std::optional<std::size_t> best;
    auto rank = [&](std::size_t i) {
      const PlacementCandidate& c = candidates[i];
      return std::make_tuple(spread.in_l1({c.cluster1, i}), spread.in_l2({c.cluster2, i}), -std::max(c.level, 0),
                             c.tiebreak);
    };
    for (std::size_t i = 0; i < candidates.size(); ++i)
      if (!taken[i] && (!best || rank(i) < rank(*best))) best = i;
    BC_ASSERT(best.has_value());
    taken[*best] = true;
    spread.add(candidates[*best], *best);
    picked.push_back(*best);
  }
  return picked;
}

std::vector<std::uint32_t> fetch_order(const std::vector<std::size_t>& placement, std::uint32_t data_shards,
                                       const std::vector<std::uint32_t>& strikes,
                                       const std::vector<std::int64_t>& rtt_us) {
  auto rtt_of = [&](std::uint32_t j) {
    BC_ASSERT(placement[j] < strikes.size() && (rtt_us.empty() || placement[j] < rtt_us.size()));
    return rtt_us.empty() ? std::int64_t{-1} : rtt_us[placement[j]];
  };
  auto rank = [&](std::uint32_t j) {
    const std::int64_t rtt = rtt_of(j);
    // Within one level, data shards first: their RTTs differ by less than
    // the cluster threshold, and reading them needs no decoding.
    return std::make_tuple(strikes[placement[j]], -nearness_level(rtt), j >= data_shards,
                           rtt < 0 ? INT64_MAX : rtt, j);
  };
  std::vector<std::uint32_t> order(placement.size());
  std::iota(order.begin(), order.end(), 0u);
  std::sort(order.begin(), order.end(), [&](std::uint32_t x, std::uint32_t y) { return rank(x) < rank(y); });
  return order;
}

}  // namespace bc::storage
