// The state transition: one transaction, the start and the end of a block.
// Each function checks everything before it writes, so a failed call leaves
// the WorkingState as it was.
#pragma once
#include <vector>

#include "ledger/error.hpp"
#include "ledger/sig_cache.hpp"
#include "ledger/state.hpp"
#include "ledger/tx.hpp"

namespace bc::ledger {

// Consensus output (docs/staking.md, "Evidence, penalties and rewards"):
// never a user transaction; `reason` names what justifies it.
//   kReward          minted to the account's balance
//   kSlash           burned from the account's bonded stake
//   kFeeShare        credited from this block's fees (already taken from senders)
//   kSlashUnbonding  burned from the unbonding entry whose id is `account`
//   kJail            validator jailed until height + downtime_jail_blocks (amount 0)
//   kBan             validator banned for good (amount 0)
// Proof-of-Service settlement (docs/proof-of-service.md, "Settlement on the
// ledger"); `account` names the entry the effect acts on:
//   kBurnOfferBond   burned from the bond of the offer whose id is `account`
//   kOfferBan        that offer banned for good (amount 0)
//   kOfferWarning    that offer warned: missed probes within delta (amount 0)
//   kUsagePay        from the held usage entry `account` to its provider
//   kUsageRefund     from the held usage entry `account` back to its client
//   kUsageDefer      from the held usage entry `account` into its deferred
//                    entry pos_deferred_usage_id(account), held holdback_epochs more
struct Effect {
  enum class Kind : std::uint8_t {
    kReward = 0, kSlash = 1, kFeeShare = 2, kSlashUnbonding = 3, kJail = 4, kBan = 5,
    kBurnOfferBond = 6, kOfferBan = 7, kOfferWarning = 8, kUsagePay = 9, kUsageRefund = 10, kUsageDefer = 11,
  };
  static constexpr Kind kLastKind = Kind::kUsageDefer;
  Kind kind = Kind::kReward;
  Address account;
  Amount amount = 0;
  Hash256 reason;
  friend bool operator==(const Effect&, const Effect&) = default;
};

// Applies a context-free-checked tx whose sender signature is verified.
// Usage receipts (escrow claims) are verified here, through cache if given.
// The fee is added to *fees (credited to the proposer by end_block).
Status apply_tx(WorkingState& ws, const Tx& tx, std::uint64_t height, Amount* fees, SignatureCache* cache);
// Releases the unbonding entries due at height (cannot fail: the stake is
// already part of the supply; asserted), none while a Proof-of-Service
// settlement is unfinished (State::pos_settling): they wait for its end.
void begin_block(WorkingState& ws, std::uint64_t height);
// Applies one effect in block `height`; checks before it writes. A
// kFeeShare is not checked against the block's fees here: derive_effects
// makes them sum to the fees exactly.
Status apply_effect(WorkingState& ws, const Effect& e, std::uint64_t height);
// Credits fees and the block reward to the proposer; fails only when minting
// the reward would take the supply past 2^64-1.
Status end_block(WorkingState& ws, const Address& proposer, Amount fees);

}  // namespace bc::ledger
