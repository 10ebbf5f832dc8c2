// The epoch seed and auditor assignment (docs/proof-of-service.md, "The
// seed", "Assignment"). Pure functions of their arguments: every node
// computes the same result.
#pragma once
#include <cstdint>
#include <utility>
#include <vector>

#include "ledger/pos/types.hpp"

namespace bc::pos {

// One bonded auditor: its key, the account address of the owner it acts
// for (what the ledger knows of a committee member), its stake (> 0).
struct StakeEntry {
  XOnlyPubKey auditor;
  Hash256 owner;  // account_address of the owner's key
  std::uint64_t stake = 0;
};

// The account address of a key: tagged_hash("blockcloud/account/v1", key),
// the same function as ledger::address_of (test_pos_ledger checks they agree).
Hash256 account_address(const XOnlyPubKey& key);

struct Assignment {
  Hash256 offer_id;
  std::vector<XOnlyPubKey> auditors;  // in draw order; fewer than k when too few are eligible
};

// tagged_hash("blockcloud/pos-seed/v1", prev || epoch || reveals sorted by key).
Hash256 derive_seed(const Hash256& prev, std::uint64_t epoch, std::vector<std::pair<XOnlyPubKey, Hash256>> reveals);
// tagged_hash("blockcloud/pos-seed-commit/v1", reveal || validator || epoch).
Hash256 seed_commitment(const Hash256& reveal, const XOnlyPubKey& validator, std::uint64_t epoch);

// For each offer (result in offer_id order), k auditors by stake-weighted
// sampling without replacement, never one whose owner is the offer owner's
// address (account_address(offer.owner)) or whose key is its provider key. The order of `offers` and `stakes` does
// not matter. Precondition: every stake > 0, keys distinct.
std::vector<Assignment> assign_auditors(const Hash256& seed, const std::vector<Offer>& offers,
                                        const std::vector<StakeEntry>& stakes, std::uint32_t k);

}  // namespace bc::pos
