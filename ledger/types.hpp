// Plain values of the ledger: amounts, addresses, state entries, chain parameters.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "layers/bytes.hpp"
#include "layers/crypto.hpp"
#include "ledger/pos/agreement.hpp"
#include "ledger/pos/types.hpp"

namespace bc::ledger {

// Integer base units; no floating point anywhere in the ledger.
using Amount = std::uint64_t;
// tagged_hash("blockcloud/account/v1", x-only public key); text form id_to_text('a', addr).
using Address = Hash256;

Address address_of(const XOnlyPubKey& key);
std::string address_text(const Address& addr);

// Checked arithmetic: false (and *out untouched) on overflow / underflow.
inline bool checked_add(Amount a, Amount b, Amount* out) { return !__builtin_add_overflow(a, b, out); }
inline bool checked_sub(Amount a, Amount b, Amount* out) {
  if (b > a) return false;
  *out = a - b;
  return true;
}

struct Account {
  Amount balance = 0;
  std::uint64_t nonce = 0;  // number of transactions this account has sent
  Amount bonded = 0;
  friend bool operator==(const Account&, const Account&) = default;
};

// Bonded stake on its way back to the balance.
struct Unbonding {
  Address owner;
  Amount amount = 0;
  std::uint64_t release_height = 0;  // credited at the start of this block
  friend bool operator==(const Unbonding&, const Unbonding&) = default;
};

// An account registered as a validator (docs/staking.md). Its stake is the
// account's `bonded`; this record holds what consensus needs besides.
struct Validator {
  enum class Status : std::uint8_t { kActive = 0, kJailed = 1, kBanned = 2 };
  XOnlyPubKey consensus_key;  // signs votes; one account per key (KeyOwner)
  Status status = Status::kActive;
  std::uint64_t jailed_until = 0;  // an unjail is accepted from this height
  // Downtime window: bit (h % downtime_window) set when the validator missed
  // the certificate of height h; `missed` counts the set bits, `tracked` the
  // heights recorded since it was (re)activated, capped at the window.
  std::array<std::uint8_t, 16> missed_bits{};
  std::uint32_t missed = 0;
  std::uint32_t tracked = 0;
  // Agreement of its audit reports with the settled medians; kept through
  // jail and unjail so that a fresh start cannot wash it (pos/agreement.hpp).
  pos::AgreementRecord audit_record;
  friend bool operator==(const Validator&, const Validator&) = default;
};

// Which account registered a consensus key (keeps keys unique in a set).
struct KeyOwner {
  Address address;
  friend bool operator==(const KeyOwner&, const KeyOwner&) = default;
};

// One member of an epoch's validator set; power = bonded stake at the snapshot.
struct CommitteeMember {
  Address address;
  XOnlyPubKey consensus_key;
  Amount power = 0;
  friend bool operator==(const CommitteeMember&, const CommitteeMember&) = default;
};

// The validator set of one epoch, by power descending then address ascending.
struct Committee {
  std::uint64_t epoch = 0;
  std::vector<CommitteeMember> members;
  friend bool operator==(const Committee&, const Committee&) = default;
};

struct Escrow {
  Address client;
  XOnlyPubKey client_key;  // verifies usage receipts
  Address provider;
  Amount deposited = 0;    // everything locked so far
  Amount claimed = 0;      // everything paid to the provider so far
  std::uint64_t expires_at = 0;  // height from which the client may close it
  Amount remaining() const { return deposited - claimed; }
  friend bool operator==(const Escrow&, const Escrow&) = default;
};

struct Service {
  XOnlyPubKey owner;
  std::string name;
  std::uint64_t registered_at = 0;
  friend bool operator==(const Service&, const Service&) = default;
};

// A provider's Proof-of-Service offer on chain (docs/proof-of-service.md,
// "Ledger rules"); its id is pos::offer_id of the offer. The bond is locked
// here, apart from every balance, until a withdraw moves it to an Unbonding
// entry; settlement slashes from it.
struct ProviderOffer {
  enum class Status : std::uint8_t { kActive = 0, kWithdrawn = 1, kBanned = 2 };
  Address account;              // the owner's account: locked the bond, gets it back
  XOnlyPubKey owner;            // pos::Offer::owner (signed the offer)
  XOnlyPubKey provider;         // pos::Offer::provider
  Hash256 service_id;
  Bytes offer;                  // the signed pos::Offer in its pos wire form, as registered
  Amount bond = 0;              // locked now
  Status status = Status::kActive;
  std::uint64_t registered_at = 0;  // height
  Hash256 unbonding;            // kWithdrawn: the Unbonding entry returning the bond
  std::uint32_t reputation_bps = 10000;
  std::uint64_t ended_at = 0;   // height of the withdraw or ban; 0 while active
  std::uint32_t pay_scale_bps = 0;  // usage pay scale its last settlement gave (0 until settled)
  std::optional<std::uint64_t> penalized_in;  // the last epoch whose settlement graded it unstable or malicious
  friend bool operator==(const ProviderOffer&, const ProviderOffer&) = default;
};

// An auditor's commitments for one epoch (posCommit), and its seed reveal
// once posReveal brings it (docs/proof-of-service.md, "Ledger rules").
struct PosCommitment {
  XOnlyPubKey auditor;          // the sender's consensus key
  std::uint64_t epoch = 0;
  Hash256 probe_commitment;     // pos::probe_commitment(secret, auditor, epoch)
  Hash256 seed_commit;          // pos::seed_commitment(r, auditor, epoch)
  std::optional<Hash256> reveal;  // r, once revealed in epoch - 1
  friend bool operator==(const PosCommitment&, const PosCommitment&) = default;
};

// The epoch seed seed_e, written by the first block of epoch e.
struct PosSeed {
  Hash256 seed;
  friend bool operator==(const PosSeed&, const PosSeed&) = default;
};

// The first accepted report of one (epoch, offer, auditor): its digest, for
// replays, and its bytes, for the evidence a different report makes.
struct PosReportRecord {
  Hash256 digest;               // pos::report_digest
  bool contradicted = false;    // a different report of the auditor was proven (and punished)
  Bytes report;                 // the pos frame of the report, as included
  friend bool operator==(const PosReportRecord&, const PosReportRecord&) = default;
};

// Usage pay held for audit (docs/proof-of-service.md, "Settlement on the
// ledger"): what an escrow claim in `epoch` owed a provider whose offer was
// audited in that epoch. Settlement of the epoch pays it scaled by the
// provider's score and refunds the rest to the escrow's client.
struct PosUsage {
  Address provider;             // the escrow's provider account
  Address client;               // the escrow's client account: gets what is withheld
  std::uint64_t epoch = 0;
  Amount amount = 0;            // held, apart from every balance
  // Set on a new provider's held-back pay (docs/proof-of-service.md,
  // "Hold-back"): the epoch it was earned in; it is held to `epoch`.
  std::optional<std::uint64_t> deferred_from;
  friend bool operator==(const PosUsage&, const PosUsage&) = default;
};

// A Proof-of-Service settlement left unfinished by its block's effect budget
// (docs/proof-of-service.md, "Settlement in slices"): the epoch being
// settled and how far. One entry at most; none while no settlement is due.
struct PosSettling {
  enum class Phase : std::uint8_t { kOffers = 0, kUsage = 1 };
  std::uint64_t epoch = 0;
  Phase phase = Phase::kOffers;
  std::uint64_t offers_done = 0;  // kOffers: drawn offers settled, in offer_id order
  friend bool operator==(const PosSettling&, const PosSettling&) = default;
};

// Totals that make supply auditable: minted == balances + bonded + unbonding + escrowed + offer bonds + held usage + burned.
struct Supply {
  Amount minted = 0;
  Amount burned = 0;
  friend bool operator==(const Supply&, const Supply&) = default;
};

struct ChainParams {
  std::string chain_id = "blockcloud-devnet";
  std::uint64_t unbonding_delay = 10;     // blocks
  std::uint32_t max_tx_bytes = 8192;      // encoded SignedTx; a posReport of 48 probes with storage evidence fits
  std::uint32_t max_receipts = 16;        // per claim
  std::uint32_t max_block_bytes = 8u << 20;
  std::uint32_t max_block_txs = 20000;
  std::uint32_t max_block_effects = 1024;
  Amount min_fee = 1;
  Amount block_reward = 0;                // minted to the proposer each block
  std::int64_t block_interval_ms = 1000;  // for the producer
  std::vector<XOnlyPubKey> producers;     // empty: any proposer (tests only)
  // Staking and the committee (docs/staking.md); rates in basis points.
  std::uint64_t epoch_length = 100;
  Amount min_stake = 1;
  std::uint32_t max_validators = 100;
  std::uint32_t evidence_slash_bps = 500;
  std::uint32_t downtime_window = 100;    // 1..128
  std::uint32_t downtime_min_signed_bps = 5000;
  std::uint32_t downtime_slash_bps = 0;
  std::uint64_t downtime_jail_blocks = 100;
  std::uint32_t proposer_bonus_bps = 1000;
  // Proof-of-Service (docs/proof-of-service.md, "Parameters"); epoch_ms is
  // not a chain parameter: pos_params derives it from the epoch's blocks.
  pos::PosParams pos;
  friend bool operator==(const ChainParams&, const ChainParams&) = default;
};

std::uint64_t be64_load(const std::uint8_t* p);
void be64_store(std::uint8_t* p, std::uint64_t v);
void append_be64(Bytes& out, std::uint64_t v);
std::uint32_t be32_load(const std::uint8_t* p);
void append_be32(Bytes& out, std::uint32_t v);

}  // namespace bc::ledger
