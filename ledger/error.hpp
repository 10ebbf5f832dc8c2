// Every way the ledger refuses input. Validation never throws on bad input:
// it returns a bc::Status (layers/status.hpp) whose code is one of these
// reasons and whose message says what was wrong, with the numbers involved.
// Error is registered as an error-code enum, so callers compare directly:
//   if (s.code == ledger::Error::kBadNonce) ...
// Success is an empty Status: there is no "ok" reason. Each reason's
// message() (and to_string) is a stable snake_case name, usable as a metric
// label.
#pragma once
#include <system_error>

#include "layers/status.hpp"

namespace bc::ledger {

enum class Error {
  // decoding and context-free checks (0 is success in std::error_code)
  kMalformed = 1,      // not a valid encoding
  kOversized,          // more bytes, receipts, txs or effects than allowed
  kNotCanonical,       // tx body not in Cap'n Proto canonical form
  kWrongChain,         // chain id of another network
  kBadSignature,
  kZeroAmount,
  kFeeTooLow,
  kBadServiceName,
  // against state
  kUnknownAccount,
  kBadNonce,
  kInsufficientFunds,
  kInsufficientStake,
  kOverflow,           // an amount would exceed 2^64-1
  kServiceExists,
  kUnknownEscrow,
  kNotEscrowClient,
  kNotEscrowProvider,
  kEscrowExpired,
  kEscrowNotExpired,
  kBadExpiry,
  kBadEscrow,          // escrow to oneself
  kBadReceipt,
  kReceiptExceedsEscrow,
  kNothingToClaim,
  kBadKeyProof,        // bond's consensus key proof does not verify
  kKeyTaken,           // consensus key registered by another account, or a different key
  kNotValidator,
  kNotJailed,
  kStillJailed,        // unjail before jailed_until
  kBanned,             // banned for good (double sign)
  // blocks
  kBadHeight,
  kBadPrevHash,
  kBadTime,
  kBadProposer,
  kBadBlockSignature,
  kDuplicateTx,
  kTxRootMismatch,
  kEffectsRootMismatch,
  kStateRootMismatch,
  kBadEffect,
  kUnknownBlock,
  kUncertified,        // certified chain: certificate missing or invalid
  kBadEvidence,
  // mempool
  kAlreadyKnown,
  kMempoolFull,
  kAccountLimit,
  kReplacementUnderpriced,
  kStaleNonce,
  // storage
  kStorage,
  kCorrupt,
  kGenesisMismatch,
  // Proof-of-Service (docs/proof-of-service.md, "Ledger rules")
  kBadOffer,           // offer fields out of range, or its owner signature fails
  kUnknownService,     // the offer's service is not registered by its owner
  kNotOfferOwner,      // the sender is not the offer's owner
  kOfferExists,
  kUnknownOffer,
  kOfferNotActive,     // withdrawn or banned
  kLate,               // a commit, reveal or report after its window
  kTooEarly,           // a commit or reveal before its window
  kNotAssigned,        // the auditor was not drawn for the offer in that epoch
  kBadCommitment,      // no commitment, or a reveal or probe secret that does not match it
  kBadSchedule,        // a report's probe times, indexes or attempts differ from probe_schedule
  kDuplicate,          // the same commit, reveal or report again
  kBadReport,          // a report whose auditor signature does not verify
  kAuditRootMismatch,  // a header's audit_root is not that of the block's reports
};

// Stable snake_case name, usable as a metric label.
const char* to_string(Error e);

const std::error_category& ledger_category();
std::error_code make_error_code(Error e);

}  // namespace bc::ledger

template <>
struct std::is_error_code_enum<bc::ledger::Error> : std::true_type {};
