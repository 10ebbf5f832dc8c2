// The Proof-of-Service payloads (docs/proof-of-service.md, "Ledger rules"):
// offers and withdrawals. Each checks everything before it writes.
#include <algorithm>

#include "ledger/detail/apply_tx.hpp"
#include "ledger/pos/codec.hpp"
#include "ledger/pos/storage_proof.hpp"
#include "ledger/pos_ledger.hpp"
#include "ledger/validators.hpp"

namespace bc::ledger {

Status check_offer_fields(const pos::Offer& o) {
  if (o.kind != pos::ServiceKind::kGeneric && o.kind != pos::ServiceKind::kStorage)
    return fail(Error::kBadOffer, "offer kind must be generic or storage");
  if (o.delta_bps < 5000 || o.delta_bps > pos::kBps)
    return fail(Error::kBadOffer, "offer delta " + std::to_string(o.delta_bps) + " bps is outside 5000..10000");
  if (o.bond == 0) return fail(Error::kZeroAmount, "offer bond must be greater than zero");
  if (o.kind == pos::ServiceKind::kGeneric && (o.probe_request.empty() || o.max_latency_ms == 0))
    return fail(Error::kBadOffer, "a generic offer needs a probe request and a max latency above 0 ms");
  if (o.kind == pos::ServiceKind::kStorage &&
      (o.storage_chunks == 0 || o.storage_chunks > pos::kMaxOfferChunks || o.max_latency_ms == 0))
    return fail(Error::kBadOffer, "a storage offer needs a committed root over 1.." + std::to_string(pos::kMaxOfferChunks) +
                                      " chunks and a max latency above 0 ms");
  if (!pos::verify_offer(o).ok()) return fail(Error::kBadOffer, "offer is not signed by its owner key " + to_hex(o.owner.view()));
  return {};
}

namespace detail {

namespace {

// True when `key` is the owner or provider of a banned offer: a ban is for good.
bool banned(const WorkingState& ws, const XOnlyPubKey& key) {
  for (const auto& [id, o] : ws.all_offers())
    if (o.status == ProviderOffer::Status::kBanned && (o.owner == key || o.provider == key)) return true;
  return false;
}

}  // namespace

Status apply_payload(TxContext& c, const PosOffer& t) {
  const pos::Offer& o = t.offer;
  if (o.owner != c.tx.body.sender)
    return fail(Error::kNotOfferOwner, "the offer's owner " + to_hex(o.owner.view()) + " must send it (its account locks the bond)");
  auto service = c.ws.service(o.service_id);
  if (!service || service->owner != o.owner)
    return fail(Error::kUnknownService, "service " + o.service_id.hex() + " is not registered by the offer's owner; register it first");
  const Hash256 id = pos::offer_id(o);
  if (c.ws.offer(id)) return fail(Error::kOfferExists, "offer " + id.hex() + " is already registered; use another nonce");
  if (banned(c.ws, o.owner) || banned(c.ws, o.provider))
    return fail(Error::kBanned, "the offer's owner or provider key was banned for a proven malicious offer");
  ProviderOffer entry;
  entry.account = c.tx.sender;
  entry.owner = o.owner;
  entry.provider = o.provider;
  entry.service_id = o.service_id;
  entry.offer = pos::encode(pos::Message{o});
  entry.bond = o.bond;  // already taken from the balance with the fee (tx_spend)
  entry.registered_at = c.height;
  c.ws.put_account(c.tx.sender, c.sender);
  c.ws.put_offer(id, entry);
  return {};
}

Status apply_payload(TxContext& c, const PosWithdraw& t) {
  auto o = c.ws.offer(t.offer_id);
  if (!o) return fail(Error::kUnknownOffer, "no offer " + t.offer_id.hex());
  if (o->account != c.tx.sender) return fail(Error::kNotOfferOwner, "only the account that registered offer " + t.offer_id.hex() + " may withdraw it");
  if (o->status != ProviderOffer::Status::kActive)
    return fail(Error::kOfferNotActive, "offer " + t.offer_id.hex() + " is " +
                                            (o->status == ProviderOffer::Status::kBanned ? "banned" : "already withdrawn"));
  // The bond stays slashable until the settlement of the epoch it leaves in,
  // at the first block of epoch + 2 (docs/proof-of-service.md).
  const ChainParams& p = c.ws.params();
  std::uint64_t release = 0;
  if (__builtin_add_overflow(c.height, p.unbonding_delay, &release)) return fail(Error::kOverflow, "release height overflows");
  const std::uint64_t settled = first_height_of(epoch_of(c.height, p) + 2, p);
  if (settled == UINT64_MAX) return fail(Error::kOverflow, "release height overflows");
  release = std::max(release, settled + 1);
  const Hash256 unbonding = escrow_id_of(c.tx.sender, c.tx.body.nonce);
  c.ws.put_unbonding(unbonding, Unbonding{c.tx.sender, o->bond, release});
  o->bond = 0;
  o->status = ProviderOffer::Status::kWithdrawn;
  o->unbonding = unbonding;
  o->ended_at = c.height;  // still audited in the epochs it was active at the start of
  c.ws.put_offer(t.offer_id, *o);
  c.ws.put_account(c.tx.sender, c.sender);
  return {};
}

}  // namespace detail
}  // namespace bc::ledger
