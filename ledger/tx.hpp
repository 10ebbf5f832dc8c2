// Transactions: kinds, signing, bounded decoding and context-free checks.
//
// Wire form (ledger/wire/ledger.capnp): SignedTx{body, signature} where body
// is the canonical form of a TxBody. digest = tagged_hash("blockcloud/tx/v1",
// body); the sender signs digest; id = tagged_hash("blockcloud/tx-id/v1",
// digest || signature), so the ID names the signed transaction.
#pragma once
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "layers/bytes.hpp"
#include "layers/crypto.hpp"
#include "ledger/error.hpp"
#include "ledger/pos/types.hpp"
#include "ledger/types.hpp"

namespace bc::ledger {

struct Transfer {
  Address to;
  Amount amount = 0;
};
struct Bond {
  Bond(Amount a = 0, std::optional<XOnlyPubKey> key = std::nullopt, Signature proof = {})
      : amount(a), consensus_key(key), key_proof(proof) {}
  Amount amount = 0;
  // Set: registers (or confirms) the sender as a validator voting with this
  // key; key_proof is the key's signature over key_proof_digest.
  std::optional<XOnlyPubKey> consensus_key;
  Signature key_proof;
};
struct Unbond {
  Amount amount = 0;
};
struct RegisterService {
  std::string name;  // 1..64 bytes
};
struct EscrowOpen {
  Address provider;
  Amount amount = 0;
  std::uint64_t expires_at = 0;
  // What the escrow pays for, committed on chain (a storage put: the
  // provider's shard roots, docs/storage.md "Payment"); zero: nothing.
  Hash256 roots_commitment;
};
struct EscrowTopUp {
  Hash256 escrow_id;
  Amount amount = 0;
  std::uint64_t expires_at = 0;  // 0: unchanged
};
struct UsageReceipt {
  Hash256 escrow_id;
  Amount cumulative = 0;
  Signature signature;
};
struct EscrowClaim {
  Hash256 escrow_id;
  std::vector<UsageReceipt> receipts;
};
struct EscrowClose {
  Hash256 escrow_id;
};
struct Unjail {};
// Proof-of-Service (docs/proof-of-service.md, "Ledger rules"): registers
// `offer` and locks offer.bond from the sender (its owner).
struct PosOffer {
  pos::Offer offer;
};
// Ends an active offer: its bond leaves through an Unbonding entry.
struct PosWithdraw {
  Hash256 offer_id;
};

// A validator's commitments for a later epoch (sent by epoch - 2): its
// probe secret's and its seed reveal's (docs/proof-of-service.md, "The seed").
struct PosCommit {
  std::uint64_t epoch = 0;
  Hash256 probe_commitment;  // pos::probe_commitment(secret, consensus key, epoch)
  Hash256 seed_commit;       // pos::seed_commitment(r, consensus key, epoch)
};
// The seed reveal r of a PosCommit, sent in epoch - 1.
struct PosReveal {
  std::uint64_t epoch = 0;
  Hash256 r;
};
// An auditor's signed report; any account may send it and pay its fee.
struct PosReport {
  pos::Report report;
};

using TxPayload = std::variant<Transfer, Bond, Unbond, RegisterService, EscrowOpen, EscrowTopUp, EscrowClaim, EscrowClose, Unjail, PosOffer,
                               PosWithdraw, PosCommit, PosReveal, PosReport>;
const char* payload_name(const TxPayload& p);

struct TxBody {
  std::string chain_id;
  XOnlyPubKey sender;
  std::uint64_t nonce = 0;
  Amount fee = 0;
  TxPayload payload;
};

// A decoded (or freshly signed) transaction with its derived values.
struct Tx {
  TxBody body;
  Signature signature;
  Bytes body_bytes;  // canonical TxBody words: what was signed
  Hash256 digest;    // tagged_hash("blockcloud/tx/v1", body_bytes)
  Hash256 id;
  Address sender;    // address_of(body.sender)
  std::size_t wire_size = 0;  // bytes of the encoded SignedTx
};

constexpr std::size_t kMaxServiceName = 64;

// Builds the canonical body, signs it and fills every derived field.
Tx sign_tx(TxBody body, const KeyPair& key);
// SignedTx message bytes (what mempools gossip and blocks embed).
Bytes encode_tx(const Tx& tx);
// Bounded decode: size, framing, canonical body, field sizes, receipt count.
// Does not verify the signature (see verify_tx_signature) nor read state.
Result<Tx> decode_tx(ByteView data, const ChainParams& params);
// Decodes body bytes + signature already extracted from a block.
Result<Tx> decode_tx_parts(ByteView body_words, const Signature& sig, std::size_t wire_size, const ChainParams& params);
// Checks that need no state: chain id, min fee, non-zero amounts, name and
// receipt bounds, an offer's fields and a report's auditor signature.
Status check_tx_context_free(const Tx& tx, const ChainParams& params);
bool verify_tx_signature(const Tx& tx);

Hash256 tx_id_of(const Hash256& digest, const Signature& sig);
// Self-certifying service ID (must match sal's derivation).
Hash256 service_id_of(const XOnlyPubKey& owner, std::string_view name);
// Escrow opened by `client` with the tx of nonce `nonce`.
Hash256 escrow_id_of(const Address& client, std::uint64_t nonce);
// What a client signs to pay `cumulative` in total to an escrow's provider.
Hash256 receipt_digest(std::string_view chain_id, const Hash256& escrow_id, Amount cumulative);
UsageReceipt sign_receipt(const KeyPair& client, std::string_view chain_id, const Hash256& escrow_id, Amount cumulative);

// Proof that the bonding account holds its consensus key (docs/staking.md):
// tagged_hash("blockcloud/consensus-key/v1", len(chain_id) || chain_id || account).
Hash256 key_proof_digest(std::string_view chain_id, const Address& account);
// A Bond payload that registers `consensus` as the vote key of `account`.
Bond bond_with_key(Amount amount, const KeyPair& consensus, std::string_view chain_id, const Address& account);

// The offer's own rules (docs/proof-of-service.md, "Ledger rules"): kind,
// delta_bps in 5000..10000, a non-zero bond, a probe (generic: a request and
// a latency bound; storage: chunks), and its owner's signature. kBadOffer or
// kZeroAmount with what is wrong.
Status check_offer_fields(const pos::Offer& o);

// Balance the tx takes from its sender beyond the fee (transfers, bonds, escrow deposits, offer bonds).
Amount tx_spend(const TxBody& body);

}  // namespace bc::ledger
