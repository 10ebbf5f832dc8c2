// Whole-state invariants, checked by tests after every block.
#pragma once
#include <string>

#include "ledger/state.hpp"

namespace bc::ledger {

// Empty when minted == balances + bonded + unbonding + escrowed + offer bonds
// + held usage + burned, every escrow has claimed <= deposited and no held
// usage entry is empty; otherwise what is wrong.
std::string check_supply(const State& state);

// Empty when every validator owns its consensus key (and every key owner is
// that key's validator), and every committee has distinct keys of validators
// with non-zero power, at most max_validators of them; otherwise what is wrong.
std::string check_staking(const State& state);

}  // namespace bc::ledger
