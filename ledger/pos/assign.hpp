// The epoch seed and auditor assignment (docs/proof-of-service.md, "The
// seed", "Assignment"). Pure functions of their arguments: every node
// computes the same result.
#pragma once
#include <cstdint>
#include <utility>
#include <vector>

#include "ledger/pos/types.hpp"

namespace bc::pos {

// One bonded auditor: its key, the owner it acts for, its stake (> 0).
struct StakeEntry {
  XOnlyPubKey auditor;
  XOnlyPubKey owner;
  std::uint64_t stake = 0;
};

struct Assignment {
  Hash256 offer_id;
  std::vector<XOnlyPubKey> auditors;  // in draw order; fewer than k when too few are eligible
};

// tagged_hash("blockcloud/pos-seed/v1", prev || epoch || reveals sorted by key).
Hash256 derive_seed(const Hash256& prev, std::uint64_t epoch, std::vector<std::pair<XOnlyPubKey, Hash256>> reveals);
// tagged_hash("blockcloud/pos-seed-commit/v1", reveal || validator || epoch).
Hash256 seed_commitment(const Hash256& reveal, const XOnlyPubKey& validator, std::uint64_t epoch);

// For each offer (result in offer_id order), k auditors by stake-weighted
// sampling without replacement, never one whose owner is the offer's owner
// or whose key is its provider key. The order of `offers` and `stakes` does
// not matter. Precondition: every stake > 0, keys distinct.
std::vector<Assignment> assign_auditors(const Hash256& seed, const std::vector<Offer>& offers,
                                        const std::vector<StakeEntry>& stakes, std::uint32_t k);

}  // namespace bc::pos
