// Paying providers through the ledger (docs/storage.md "Payment"): the
// arithmetic and the commitments a client and a provider agree on. Pure
// functions; the CLI and the provider module do the I/O.
//
//   escrow per provider = price x bytes x duration   (price: base units per GiB per day)
//   rootsCommitment     = tagged_hash("blockcloud/storage/escrow-roots/v1",
//                                     be32(j) || root[0][j] || root[1][j] || ...)
//   receipt due at t    = escrow amount x (t - stored_at) / (expires_at - stored_at), capped
#pragma once
#include <vector>

#include "apps/storage/local_provider.hpp"
#include "apps/storage/manifest.hpp"
#include "apps/storage/messages.hpp"
#include "apps/storage/put_journal.hpp"
#include "apps/storage/unpaid.hpp"
#include "ledger/tx.hpp"

namespace bc::storage {

using ledger::Amount;

// After its storage period a provider keeps an object this long before it
// garbage-collects it, and an escrow stays open this long after the period
// (the client's last receipt and the provider's last claim fit in it).
inline constexpr TimeMs kPaymentGraceMs = 60 * 60 * 1000;

// How long `storage pay` waits, before closing an expired escrow, for its
// provider to claim the receipts it took: four rounds of the provider's
// claimer (one each 5 s), each claim committed a block later.
inline constexpr TimeMs kClaimWaitMs = 20'000;

// ceil(price x bytes x duration / (GiB x day)); 0 when price, bytes or the
// duration is 0. kOverflow (storage::Error kMalformed) past 2^64-1.
Result<Amount> escrow_amount(std::uint64_t price_per_gib_day, std::uint64_t bytes, TimeMs duration_ms);

// The bytes shard index j takes over the whole file (every segment's shard j).
std::uint64_t shard_bytes(const Shape& shape);

// What the escrow of shard index `shard` commits on chain: its roots in
// segment order, so an auditor holding the chain checks proofs against it.
Hash256 roots_commitment(const Manifest& m, std::uint32_t shard);

// The height from which the client may close the escrow: the storage period
// plus the grace period, in blocks of `block_interval_ms`, after `head`.
std::uint64_t escrow_expiry_height(std::uint64_t head, TimeMs period_ms, TimeMs block_interval_ms,
                                   TimeMs grace_ms = kPaymentGraceMs);

// The cumulative amount earned by `now` for a period [start, end): pro rata,
// 0 before start, all of `amount` from end on.
Amount earned_by(Amount amount, TimeMs start, TimeMs end, TimeMs now);

// The escrows for a put's providers: shard index j (with a non-zero amount)
// gets nonce first_nonce + (its rank among them). amounts[j] = 0 opens none.
std::vector<ProviderEscrow> plan_escrows(const ledger::Address& client, std::uint64_t first_nonce,
                                         const std::vector<ledger::Address>& providers, const std::vector<Amount>& amounts);

// The next cumulative receipt for escrow `e` of a file stored over
// [stored_at, expires_at): what it earned by `now`, or 0 when its provider
// did not pass the last audit (`passed`) or nothing was earned since the
// last receipt. A failed audit stops receipts: the provider is not paid for
// the time it failed.
Amount receipt_due(const ProviderEscrow& e, TimeMs stored_at, TimeMs expires_at, TimeMs now, bool passed);

// Whether the client may close an escrow expiring at `expires_at` with a
// transaction sent now: the ledger lets the client close from the block at
// that height on (ledger/apply.cpp), and a transaction sent while the chain
// is at `head` lands in head + 1 at the earliest.
bool client_may_close(std::uint64_t head, std::uint64_t expires_at);

// An escrow as the chain holds it (get_escrow).
struct EscrowState {
  Amount deposited = 0, claimed = 0;
  std::uint64_t expires_at = 0;  // the height from which its client may close it
};

// What `storage pay` does with one escrow of a file record (docs/storage.md
// "Closing expired escrows"):
//   kForget        it is gone from the chain (closed by an earlier run or by
//                  its provider): drop it from the record
//   kNotSeen       not on chain, and the chain has not used the nonce that
//                  opened it: the node lags or follows another chain; keep it
//   kKeep          not expired yet, or its provider has not claimed a receipt
//                  sent in this very run: left for a later run
//   kWaitForClaim  expired, but its provider has not claimed every receipt it
//                  took: give it a bounded wait first, then ask again (waited)
//   kClose         expired and settled: send EscrowClose
enum class CloseStep { kForget, kNotSeen, kKeep, kWaitForClaim, kClose };
struct CloseView {
  const EscrowState* chain = nullptr;  // nullptr: the escrow is not on chain
  std::uint64_t head = 0;              // the chain's height
  std::uint64_t payer_nonce = 0;       // the client account's committed nonce
  bool receipt_sent_now = false;       // this run raised e.paid: its provider had seconds, not a run's interval, to claim it
  bool waited = false;                 // the bounded wait for claims is over
};
CloseStep close_step(const ProviderEscrow& e, const CloseView& v);

// One receipt for the provider at transport index `provider`.
struct ReceiptDelivery {
  std::size_t provider = 0;
  ReceiptRequest receipt;
};
// Sends every receipt in one exchange; out[i] is true when receipt i was
// acknowledged (receiptTaken with its amount). Request ids start at first_request_id.
std::vector<bool> deliver_receipts(ShardTransport& transport, const std::vector<ReceiptDelivery>& receipts,
                                   std::uint64_t first_request_id);

// What the ledger says of an escrow, as the daemon's `get_escrow` gives it.
struct EscrowOnChain {
  Hash256 provider;  // the account it pays
  Amount deposited = 0;
};

// Whether `chain` (the escrow `h` names, or nullopt when the ledger has no
// such escrow) pays `provider_account` for everything in `h`: at least 99 %
// of escrow_amount(price, bytes, last expiry - first stored) (the client
// priced a slightly longer period from before its put began; 1 % absorbs
// clock skew and rounding). A holding of escrow zero is never paid.
bool escrow_pays_for(const Holding& h, const std::optional<EscrowOnChain>& chain, const Hash256& provider_account);

}  // namespace bc::storage
