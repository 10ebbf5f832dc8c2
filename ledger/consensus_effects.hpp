// Penalties and rewards of a certified chain, derived by the ledger per block
// (docs/staking.md, "Evidence, penalties and rewards"). A block must carry
// exactly the effects derive_and_apply returns; the proposer cannot choose.
#pragma once
#include <cstdint>
#include <vector>

#include "ledger/apply.hpp"
#include "ledger/certificate.hpp"
#include "ledger/state.hpp"

namespace bc::ledger {

// What one block brings besides its transactions.
struct ConsensusInput {
  Hash256 chain;                                   // genesis hash: the votes' chain id
  std::uint64_t height = 0;
  Address proposer;                                // account of the proposing member
  const CommitCertificate* last_commit = nullptr;  // verified; null at height 1
  const std::vector<DuplicateVoteEvidence>* evidence = nullptr;
  Amount fees = 0;                                 // this block's transaction fees
};

// On `ws` after the block's transactions: checks and punishes the evidence,
// records who signed last_commit and jails the absent, pays fees and the
// block reward. Applies each effect as it derives it, so later ones see
// earlier ones. Fails (kBadEvidence, kOverflow) with ws partly written: the
// caller discards the overlay.
Result<std::vector<Effect>> derive_and_apply(WorkingState& ws, const ConsensusInput& in);

// The double-vote penalty (docs/staking.md, "Evidence"), shared with the
// contradicting Proof-of-Service reports: burns evidence_slash_bps of who's
// bonded stake and of its unbondings begun at or after offence_height, then
// bans it; each effect carries `reason` and is applied to ws in block
// `height` as it is derived. Fails (ws partly written) only when who is not
// a validator or is already banned: callers check that first.
Result<std::vector<Effect>> punish_offender(WorkingState& ws, const Address& who, std::uint64_t offence_height, const Hash256& reason,
                                            std::uint64_t height);

}  // namespace bc::ledger
