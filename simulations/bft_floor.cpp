#include "simulations/bft_floor.hpp"

#include <algorithm>
#include <numeric>

#include "layers/assert.hpp"

namespace bc::sim {

std::int64_t quorum_time(const FloorCommittee& c, const std::vector<std::int64_t>& arrival) {
  BC_ASSERT(arrival.size() == c.size());
  std::vector<std::size_t> order;
  order.reserve(c.size());
  for (std::size_t k = 0; k < c.size(); ++k) {
    if (c.live[k]) order.push_back(k);
  }
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return arrival[a] < arrival[b]; });
  std::int64_t held = 0;
  for (std::size_t k : order) {
    held += c.power[k];
    if (3 * held > 2 * c.total_power) return arrival[k];
  }
  return -1;
}

std::vector<std::int64_t> finality_floor(const FloorCommittee& c, std::size_t proposer) {
  const std::size_t n = c.size();
  BC_ASSERT(proposer < n && c.live[proposer]);
  BC_ASSERT(c.delay_us.size() == n * n);
  std::vector<std::int64_t> prop(n), prevoted(n, -1), decided(n, -1), arrival(n);
  for (std::size_t i = 0; i < n; ++i) prop[i] = c.d(proposer, i);
  // Each stage: the time a live validator holds the quorum of the previous
  // stage's messages, and no earlier than it holds the proposal.
  auto stage = [&](const std::vector<std::int64_t>& sent, std::vector<std::int64_t>& done) {
    for (std::size_t to = 0; to < n; ++to) {
      if (!c.live[to]) continue;
      for (std::size_t from = 0; from < n; ++from) arrival[from] = sent[from] + c.d(from, to);
      const std::int64_t q = quorum_time(c, arrival);
      BC_ASSERT_MSG(q >= 0, "the live validators hold no +2/3 of the power");
      done[to] = std::max(prop[to], q);
    }
  };
  stage(prop, prevoted);
  stage(prevoted, decided);
  return decided;
}

}  // namespace bc::sim
