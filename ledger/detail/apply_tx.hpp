// What apply_tx (ledger/apply.cpp) hands each payload kind's function, and
// the staking payloads' functions (ledger/detail/apply_staking.cpp). Private
// to ledger/.
#pragma once
#include <cstdint>

#include "ledger/error.hpp"
#include "ledger/sig_cache.hpp"
#include "ledger/state.hpp"
#include "ledger/tx.hpp"

namespace bc::ledger::detail {

// The overlay, the tx, the block height and the sender's account with the
// fee and the tx's spend already debited and the nonce bumped (written by
// the payload's function, last, after every check passed).
struct TxContext {
  WorkingState& ws;
  const Tx& tx;
  std::uint64_t height;
  Account& sender;
  SignatureCache* cache;
};

// Moves funds already counted in the supply to a balance: a refund, a
// release, fees, a reward just minted, held pay. The supply is conserved and
// below 2^64 and these funds are held apart from the balance, so the sum
// cannot overflow (asserted: an overflow means the supply was not conserved).
void credit(WorkingState& ws, const Address& to, Amount amount);

// Balance -> bonded; with a consensus key, registers the sender as a validator.
Status apply_payload(TxContext& c, const Bond& t);
// Bonded -> an Unbonding entry released after unbonding_delay.
Status apply_payload(TxContext& c, const Unbond& t);
// A jailed validator rejoins the candidates of the next epoch.
Status apply_payload(TxContext& c, const Unjail& t);
// Proof-of-Service (ledger/detail/apply_pos.cpp): registers an offer and
// locks its bond; ends one, moving the bond to an Unbonding entry.
Status apply_payload(TxContext& c, const PosOffer& t);
Status apply_payload(TxContext& c, const PosWithdraw& t);
// A validator's commitments for a later epoch and their seed reveal
// (ledger/detail/apply_pos_commit.cpp).
Status apply_payload(TxContext& c, const PosCommit& t);
Status apply_payload(TxContext& c, const PosReveal& t);
// An auditor's report: recorded once; a different one of the same auditor,
// epoch and offer burns the auditor's stake (ledger/detail/apply_pos_report.cpp).
Status apply_payload(TxContext& c, const PosReport& t);

}  // namespace bc::ledger::detail
