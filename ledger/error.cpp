#include "ledger/error.hpp"

namespace bc::ledger {

const char* to_string(Error e) {
  switch (e) {
    case Error::kMalformed: return "malformed";
    case Error::kOversized: return "oversized";
    case Error::kNotCanonical: return "not_canonical";
    case Error::kWrongChain: return "wrong_chain";
    case Error::kBadSignature: return "bad_signature";
    case Error::kZeroAmount: return "zero_amount";
    case Error::kFeeTooLow: return "fee_too_low";
    case Error::kBadServiceName: return "bad_service_name";
    case Error::kUnknownAccount: return "unknown_account";
    case Error::kBadNonce: return "bad_nonce";
    case Error::kInsufficientFunds: return "insufficient_funds";
    case Error::kInsufficientStake: return "insufficient_stake";
    case Error::kOverflow: return "overflow";
    case Error::kServiceExists: return "service_exists";
    case Error::kUnknownEscrow: return "unknown_escrow";
    case Error::kNotEscrowClient: return "not_escrow_client";
    case Error::kNotEscrowProvider: return "not_escrow_provider";
    case Error::kEscrowExpired: return "escrow_expired";
    case Error::kEscrowNotExpired: return "escrow_not_expired";
    case Error::kBadExpiry: return "bad_expiry";
    case Error::kBadEscrow: return "bad_escrow";
    case Error::kBadReceipt: return "bad_receipt";
    case Error::kReceiptExceedsEscrow: return "receipt_exceeds_escrow";
    case Error::kNothingToClaim: return "nothing_to_claim";
    case Error::kBadHeight: return "bad_height";
    case Error::kBadPrevHash: return "bad_prev_hash";
    case Error::kBadTime: return "bad_time";
    case Error::kBadProposer: return "bad_proposer";
    case Error::kBadBlockSignature: return "bad_block_signature";
    case Error::kDuplicateTx: return "duplicate_tx";
    case Error::kTxRootMismatch: return "tx_root_mismatch";
    case Error::kEffectsRootMismatch: return "effects_root_mismatch";
    case Error::kStateRootMismatch: return "state_root_mismatch";
    case Error::kBadEffect: return "bad_effect";
    case Error::kUnknownBlock: return "unknown_block";
    case Error::kUncertified: return "uncertified";
    case Error::kBadEvidence: return "bad_evidence";
    case Error::kBadKeyProof: return "bad_key_proof";
    case Error::kKeyTaken: return "key_taken";
    case Error::kNotValidator: return "not_validator";
    case Error::kNotJailed: return "not_jailed";
    case Error::kStillJailed: return "still_jailed";
    case Error::kBanned: return "banned";
    case Error::kAlreadyKnown: return "already_known";
    case Error::kMempoolFull: return "mempool_full";
    case Error::kAccountLimit: return "account_limit";
    case Error::kReplacementUnderpriced: return "replacement_underpriced";
    case Error::kStaleNonce: return "stale_nonce";
    case Error::kStorage: return "storage";
    case Error::kCorrupt: return "corrupt";
    case Error::kGenesisMismatch: return "genesis_mismatch";
    case Error::kBadOffer: return "bad_offer";
    case Error::kUnknownService: return "unknown_service";
    case Error::kNotOfferOwner: return "not_offer_owner";
    case Error::kOfferExists: return "offer_exists";
    case Error::kUnknownOffer: return "unknown_offer";
    case Error::kOfferNotActive: return "offer_not_active";
    case Error::kLate: return "late";
    case Error::kTooEarly: return "too_early";
    case Error::kNotAssigned: return "not_assigned";
    case Error::kBadCommitment: return "bad_commitment";
    case Error::kBadSchedule: return "bad_schedule";
    case Error::kDuplicate: return "duplicate";
    case Error::kBadReport: return "bad_report";
    case Error::kAuditRootMismatch: return "audit_root_mismatch";
  }
  return "unknown";
}

namespace {

class LedgerCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "ledger"; }
  std::string message(int value) const override { return to_string(static_cast<Error>(value)); }
};

}  // namespace

const std::error_category& ledger_category() {
  static const LedgerCategory category;
  return category;
}

std::error_code make_error_code(Error e) { return {static_cast<int>(e), ledger_category()}; }

}  // namespace bc::ledger
