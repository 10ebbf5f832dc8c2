// The ledger side of Proof-of-Service money (docs/proof-of-service.md,
// "Settlement on the ledger"): usage pay held for audit, and the effect kinds
// a settlement emits. Each checks before it writes.
#include "layers/assert.hpp"
#include "ledger/detail/apply_tx.hpp"
#include "ledger/pos_ledger.hpp"
#include "ledger/validators.hpp"

namespace bc::ledger {

namespace {

std::string amt(Amount a) { return std::to_string(a); }

// True when `provider` registered an offer that has auditors drawn for `epoch`.
bool audited_in(const WorkingState& ws, const Address& provider, std::uint64_t epoch) {
  auto draw = assignments_of(ws, epoch);
  if (!draw) return false;
  for (const pos::Assignment& a : *draw) {
    if (a.auditors.empty()) continue;
    auto o = ws.offer(a.offer_id);
    BC_ASSERT(o.has_value());  // drawn from the offer entries
    if (o->account == provider) return true;
  }
  return false;
}

Status offer_effect(WorkingState& ws, const Effect& e, std::uint64_t height, Supply* supply) {
  auto o = ws.offer(e.account);
  if (!o) return fail(Error::kBadEffect, "settlement effect on unknown offer " + e.account.hex());
  switch (e.kind) {
    case Effect::Kind::kBurnOfferBond:
      if (e.amount > o->bond) return fail(Error::kBadEffect, "burn of " + amt(e.amount) + " exceeds the offer bond " + amt(o->bond));
      if (!checked_add(supply->burned, e.amount, &supply->burned)) return fail(Error::kOverflow, "burned supply would exceed 2^64-1");
      o->bond -= e.amount;
      break;
    case Effect::Kind::kOfferBan:
      if (e.amount != 0 || o->status == ProviderOffer::Status::kBanned) return fail(Error::kBadEffect, "offer ban of a banned offer, or with an amount");
      if (o->status == ProviderOffer::Status::kActive) o->ended_at = height;
      o->status = ProviderOffer::Status::kBanned;
      break;
    default:  // kOfferWarning: on record, no change
      if (e.amount != 0) return fail(Error::kBadEffect, "an offer warning carries no amount");
      return {};
  }
  ws.put_offer(e.account, *o);
  return {};
}

// Moves `amount` of the held entry `from` into its deferred entry, held
// holdback_epochs more epochs; a deferred entry is never deferred again.
Status defer_usage(WorkingState& ws, const Hash256& from, const PosUsage& u, Amount amount) {
  const std::uint64_t holdback = ws.params().pos.holdback_epochs;
  if (u.deferred_from || holdback == 0) return fail(Error::kBadEffect, "deferral of deferred usage, or without a hold-back");
  if (amount == 0) return fail(Error::kBadEffect, "deferral of nothing");
  const Hash256 id = pos_deferred_usage_id(from);
  PosUsage d = ws.pos_usage(id).value_or(PosUsage{u.provider, u.client, u.epoch + holdback, 0, u.epoch});
  const bool fits = checked_add(d.amount, amount, &d.amount);
  BC_ASSERT(fits);  // both are parts of the supply
  ws.put_pos_usage(id, d);
  return {};
}

Status usage_effect(WorkingState& ws, const Effect& e) {
  auto u = ws.pos_usage(e.account);
  if (!u) return fail(Error::kBadEffect, "release from unknown held usage " + e.account.hex());
  if (e.amount > u->amount) return fail(Error::kBadEffect, "release of " + amt(e.amount) + " exceeds the held " + amt(u->amount));
  if (e.kind == Effect::Kind::kUsageDefer) {
    if (Status s = defer_usage(ws, e.account, *u, e.amount); !s.ok()) return s;
  } else {
    detail::credit(ws, e.kind == Effect::Kind::kUsagePay ? u->provider : u->client, e.amount);  // held funds are part of the supply
  }
  u->amount -= e.amount;
  if (u->amount == 0) ws.delete_pos_usage(e.account);
  else ws.put_pos_usage(e.account, *u);
  return {};
}

}  // namespace

Hash256 pos_usage_id(std::uint64_t epoch, const Address& provider, const Hash256& escrow_id) {
  Bytes buf;
  append_be64(buf, epoch);
  buf.insert(buf.end(), provider.bytes.begin(), provider.bytes.end());
  buf.insert(buf.end(), escrow_id.bytes.begin(), escrow_id.bytes.end());
  return tagged_hash("blockcloud/pos-usage-id/v1", buf);
}

Hash256 pos_deferred_usage_id(const Hash256& usage_id) {
  return tagged_hash("blockcloud/pos-deferred-usage-id/v1", ByteView(usage_id.bytes.data(), usage_id.bytes.size()));
}

bool hold_usage(WorkingState& ws, const Escrow& escrow, const Hash256& escrow_id, Amount pay, std::uint64_t height) {
  const std::uint64_t epoch = epoch_of(height, ws.params());
  if (pay == 0 || !audited_in(ws, escrow.provider, epoch)) return false;
  const Hash256 id = pos_usage_id(epoch, escrow.provider, escrow_id);
  PosUsage u = ws.pos_usage(id).value_or(PosUsage{escrow.provider, escrow.client, epoch, 0, std::nullopt});
  const bool fits = checked_add(u.amount, pay, &u.amount);
  BC_ASSERT(fits);  // both are parts of the supply
  ws.put_pos_usage(id, u);
  return true;
}

Status apply_pos_effect(WorkingState& ws, const Effect& e, std::uint64_t height, Supply* supply) {
  BC_ASSERT(supply != nullptr);
  switch (e.kind) {
    case Effect::Kind::kBurnOfferBond:
    case Effect::Kind::kOfferBan:
    case Effect::Kind::kOfferWarning: return offer_effect(ws, e, height, supply);
    case Effect::Kind::kUsagePay:
    case Effect::Kind::kUsageRefund:
    case Effect::Kind::kUsageDefer: return usage_effect(ws, e);
    default: BC_ASSERT_MSG(false, "apply_pos_effect given a non-PoS effect kind %d", static_cast<int>(e.kind));
  }
  return {};
}

}  // namespace bc::ledger
