#include "consensus/node/proposal_budget.hpp"

#include <algorithm>

#include "layers/assert.hpp"

namespace bc::consensus {
namespace {
constexpr double kKeep = 0.875;  // each sample's weight decays by this per later sample
}  // namespace

void ProposalBudget::record(std::size_t txs, TimeMs elapsed_ms) {
  BC_ASSERT(elapsed_ms >= 0);
  if (txs < kMinSampleTxs) return;
  ms_sum_ = ms_sum_ * kKeep + static_cast<double>(elapsed_ms);
  txs_sum_ = txs_sum_ * kKeep + static_cast<double>(txs);
}

double ProposalBudget::cost_us() const { return txs_sum_ > 0 ? 1000.0 * ms_sum_ / txs_sum_ : 0; }

std::size_t ProposalBudget::max_txs(std::size_t chain_max) const {
  const double cost = cost_us();
  if (cost <= 0) return chain_max;  // nothing measured, or too fast for the clock to see
  const double fit = 1000.0 * static_cast<double>(budget_ms_) / (2 * cost);
  const std::size_t cap = fit >= static_cast<double>(chain_max) ? chain_max : static_cast<std::size_t>(fit);
  return std::min(chain_max, std::max(kFloorTxs, cap));
}

}  // namespace bc::consensus
