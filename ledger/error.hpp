// Every way the ledger refuses input, with a message that says what was wrong.
// Validation never throws on bad input: it returns a Status.
#pragma once
#include <optional>
#include <string>
#include <utility>

namespace bc::ledger {

enum class Error {
  kOk,
  // decoding and context-free checks
  kMalformed,          // not a valid encoding
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
};

// Stable snake_case name, usable as a metric label.
const char* to_string(Error e);

struct Status {
  Error code = Error::kOk;
  std::string message;

  bool ok() const { return code == Error::kOk; }
  static Status success() { return {}; }
  // "<name>: <detail>"
  std::string text() const;
};

Status fail(Error code, std::string detail);

template <typename T>
struct Result {
  std::optional<T> value;
  Status status;

  bool ok() const { return value.has_value(); }
  T& operator*() { return *value; }
  const T& operator*() const { return *value; }
  T* operator->() { return &*value; }
  const T* operator->() const { return &*value; }

  static Result of(T v) { return Result{std::move(v), {}}; }
  static Result error(Status s) { return Result{std::nullopt, std::move(s)}; }
};

}  // namespace bc::ledger
