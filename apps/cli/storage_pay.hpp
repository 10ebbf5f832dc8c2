// Paying storage providers through the daemon's ledger (docs/storage.md
// "Payment"): the client's side. A put opens one escrow per paid provider,
// committing that provider's shard roots; `storage pay` sends each provider
// that passed a fresh audit a cumulative usage receipt; a repair stops
// paying the replaced provider and opens an escrow for its replacement.
//
// Every function talks to the daemon's JSON-RPC (head, get_account,
// get_escrow, send_tx) and throws Failure saying what was wrong and what to do.
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "apps/cli/rpc.hpp"
#include "apps/cli/storage_files.hpp"
#include "apps/cli/wallet.hpp"
#include "apps/storage/net/directory.hpp"
#include "apps/storage/payment.hpp"

namespace bc::cli {

// The daemon's ledger as payment needs it.
struct LedgerLink {
  Options options;
  Endpoint rpc;
  std::string chain_id;
  TimeMs block_interval_ms = 1000;
  storage::Amount min_fee = 1;
  std::uint64_t height = 0;
};

// nullopt when the daemon runs no ledger (e.g. a `--no-ledger` devnet):
// storage is then unpaid. Throws Failure when the daemon cannot be reached.
std::optional<LedgerLink> ledger_link(const Options& o, const Endpoint& rpc);

// The escrows a put opens: one per provider with an account and a price,
// for its shard bytes over the storage period, with nonces reserved from
// the payer's next one. Throws Failure when the payer cannot afford them
// (naming the amount needed and the balance).
std::vector<storage::ProviderEscrow> plan_put_escrows(const LedgerLink& ledger, const WalletKey& payer, const PendingPut& p,
                                                      std::uint64_t file_size, TimeMs now);

// Opens every escrow of `escrows` not on chain yet, each committing its
// provider's shard roots from `m`, with its reserved nonce, and waits until
// all are on chain. A resumed put calls it again and opens only what is
// missing, so it never pays twice. Throws Failure when a reserved nonce was
// used by another transaction or the ledger refuses one. The escrows expire
// `grace_ms` after the period (time for the last receipt and its claim).
void open_escrows(const LedgerLink& ledger, const WalletKey& payer, const std::vector<storage::ProviderEscrow>& escrows,
                  const storage::Manifest& m, TimeMs period_ms, TimeMs grace_ms = storage::kPaymentGraceMs);

// The escrow's state on chain; nullopt when it is not open.
std::optional<storage::EscrowState> escrow_on_chain(const LedgerLink& ledger, const Hash256& id);

// The provider's ledger account from its advertisement (version 3), or zero.
Hash256 provider_account(const storage::ProviderAd& ad);

// How a put is paid: the ledger, the payer and the escrows (from the
// journal on a resume), or nothing and a note saying why not.
struct PutPayment {
  std::optional<LedgerLink> ledger;
  std::optional<WalletKey> payer;
  std::vector<storage::ProviderEscrow> escrows;
  std::string note;  // why the put is not paid, "" when it is
  // Per shard index j < shards: the ID of the escrow paying its provider, zero where none.
  std::vector<Hash256> ids(std::size_t shards) const;
};
// Decides before any shard is sent. A journal that already holds escrows
// (a resume) keeps them; one that holds a header but no segments (a crash
// before the escrows were journaled) gets them now.
PutPayment plan_put_payment(const Options& o, const Endpoint& rpc, const std::function<WalletKey()>& payer_key,
                            const PendingPut& p, std::uint64_t file_size, storage::PutJournal& journal, TimeMs now);

// `storage pay`: sends each provider whose shard passed `health` the
// receipt it earned by `now` over `transport` (provider j holds shard j)
// and records what was acknowledged, and who failed, in e. Without `health`
// (nullptr: the storage period is over, the shards may be collected) the
// audit recorded by the last run decides. Returns one line per escrow.
std::vector<std::vector<std::string>> pay_providers(const LedgerLink& ledger, const WalletKey& payer, FileEntry& e,
                                                    const storage::FileHealth* health, storage::ShardTransport& transport,
                                                    TimeMs now);

// `storage pay`, after the receipts: closes every escrow of e (regular or
// dropped) that has expired and whose provider claimed the receipts it took
// (waiting up to kClaimWaitMs for those claims), and forgets escrows that
// are gone from the chain. `receipt_sent_now` names the escrows this run
// sent a receipt; one of those still unclaimed after the wait is left for
// the next run. Closed escrows leave e. Returns one line per escrow closed,
// forgotten or left expired.
std::vector<std::string> close_expired_escrows(const LedgerLink& ledger, const WalletKey& payer, FileEntry& e,
                                               const std::vector<Hash256>& receipt_sent_now);

// How a repair pays its new providers: escrows planned before the rebuilt
// shards are sent (so their puts name them), opened once they are stored.
struct RepairPayment {
  std::optional<LedgerLink> ledger;
  std::optional<WalletKey> payer;
  // Per replacement (the order of `lost`): its escrow for the rest of the
  // period, or nullopt when its provider has no account or price.
  std::vector<std::optional<storage::ProviderEscrow>> escrows;
  // The escrow ids in that order, zero where none: what the puts name.
  std::vector<Hash256> ids() const;
};
// Plans the escrows of a repair moving shards `lost` to the providers of
// `ads` (same order), with consecutive nonces; no ledger or an unpaid file:
// none. Throws Failure (naming the amount and the balance) when the payer
// cannot fund them.
RepairPayment plan_repair_payment(const Options& o, const Endpoint& rpc, const std::function<WalletKey()>& payer_key,
                                  const FileEntry& e, const std::vector<std::uint32_t>& lost,
                                  const std::vector<storage::ProviderAd>& ads, const Key256& master, TimeMs now);
// After the repair: the old escrows of shards `lost` are no longer paid
// (moved to dropped_escrows, to be closed once expired) and each planned
// escrow is opened, committing the same roots, and added to e. Returns what
// changed, "" when the file is not paid.
std::string repay_after_repair(const RepairPayment& plan, FileEntry& e, const std::vector<std::uint32_t>& lost,
                               const Key256& master, TimeMs now);

}  // namespace bc::cli
