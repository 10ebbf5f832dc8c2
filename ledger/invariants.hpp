// Whole-state invariants, checked by tests after every block.
#pragma once
#include <string>

#include "ledger/state.hpp"

namespace bc::ledger {

// Empty when minted == balances + bonded + unbonding + escrowed + burned and
// every escrow has claimed <= deposited; otherwise what is wrong.
std::string check_supply(const State& state);

}  // namespace bc::ledger
