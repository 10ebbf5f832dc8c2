// The validator set, a pure function of the ledger state (docs/staking.md,
// "The validator set"). Consensus reads it through Ledger::committee_for;
// nothing here depends on consensus/.
#pragma once
#include <cstdint>

#include "ledger/state.hpp"
#include "ledger/types.hpp"

namespace bc::ledger {

// Heights 1..E are epoch 0, E+1..2E epoch 1, ...; the genesis (0) is epoch 0.
std::uint64_t epoch_of(std::uint64_t height, const ChainParams& params);

// Active validators whose account has at least min_stake bonded, by bonded
// stake descending then address ascending, the first max_validators of them.
// Power is the bonded stake. Reads nothing but `ws`.
Committee compute_validator_set(const WorkingState& ws, std::uint64_t epoch);

// At the end of block `height`: when it closes an epoch (height % E == 0),
// writes the committee of the next epoch, computed from the state as it is
// now. Returns whether it wrote one.
bool close_epoch(WorkingState& ws, std::uint64_t height);

// Total power of a committee (fits: the supply is below 2^64).
Amount total_power(const Committee& c);
// The member voting with `key`, or null.
const CommitteeMember* find_member(const Committee& c, const XOnlyPubKey& key);

}  // namespace bc::ledger
