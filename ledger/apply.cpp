#include "ledger/apply.hpp"

#include <cstring>

#include "layers/assert.hpp"
#include "ledger/detail/apply_tx.hpp"
#include "ledger/pos_ledger.hpp"

namespace bc::ledger {

namespace detail {
void credit(WorkingState& ws, const Address& to, Amount amount) {
  Account a = ws.account(to).value_or(Account{});
  const bool fits = checked_add(a.balance, amount, &a.balance);
  BC_ASSERT_MSG(fits, "crediting %s to %s overflows: supply not conserved", std::to_string(amount).c_str(), address_text(to).c_str());
  ws.put_account(to, a);
}
}  // namespace detail

namespace {

using detail::credit;

std::string amt(Amount a) { return std::to_string(a); }

Status insufficient(const Address& who, Amount have, Amount need) {
  return fail(Error::kInsufficientFunds, "account " + address_text(who) + " has " + amt(have) + ", needs " + amt(need));
}

Hash256 receipt_cache_key(const Hash256& digest, const XOnlyPubKey& key, const Signature& sig) {
  std::uint8_t buf[128];
  std::memcpy(buf, digest.data(), 32);
  std::memcpy(buf + 32, key.bytes.data(), 32);
  std::memcpy(buf + 64, sig.bytes.data(), 64);
  return tagged_hash("blockcloud/receipt-check/v1", ByteView(buf, sizeof(buf)));
}

Status escrow_of(const WorkingState& ws, const Hash256& id, Escrow* out) {
  auto e = ws.escrow(id);
  if (!e) return fail(Error::kUnknownEscrow, "no escrow " + id.hex());
  *out = *e;
  return {};
}

using detail::TxContext;
using detail::apply_payload;

Status apply_payload(TxContext& c, const Transfer& t) {
  if (t.to == c.tx.sender) {
    c.sender.balance += t.amount;  // to oneself: only the fee moves
    c.ws.put_account(c.tx.sender, c.sender);
    return {};
  }
  Account to = c.ws.account(t.to).value_or(Account{});
  if (!checked_add(to.balance, t.amount, &to.balance))
    return fail(Error::kOverflow, "balance of " + address_text(t.to) + " would exceed 2^64-1");
  c.ws.put_account(c.tx.sender, c.sender);
  c.ws.put_account(t.to, to);
  return {};
}

Status apply_payload(TxContext& c, const RegisterService& t) {
  const Hash256 id = service_id_of(c.tx.body.sender, t.name);
  if (c.ws.service(id)) return fail(Error::kServiceExists, "service '" + t.name + "' (" + id.hex() + ") is already registered");
  c.ws.put_account(c.tx.sender, c.sender);
  c.ws.put_service(id, Service{c.tx.body.sender, t.name, c.height});
  return {};
}

Status apply_payload(TxContext& c, const EscrowOpen& t) {
  if (t.provider == c.tx.sender) return fail(Error::kBadEscrow, "an escrow's provider must differ from its client");
  if (t.expires_at <= c.height)
    return fail(Error::kBadExpiry, "escrow expiry height " + std::to_string(t.expires_at) + " is not after block height " +
                                       std::to_string(c.height));
  const Hash256 id = escrow_id_of(c.tx.sender, c.tx.body.nonce);
  c.ws.put_account(c.tx.sender, c.sender);
  c.ws.put_escrow(id, Escrow{c.tx.sender, c.tx.body.sender, t.provider, t.amount, 0, t.expires_at});
  return {};
}

Status apply_payload(TxContext& c, const EscrowTopUp& t) {
  Escrow e;
  if (Status s = escrow_of(c.ws, t.escrow_id, &e); !s.ok()) return s;
  if (e.client != c.tx.sender) return fail(Error::kNotEscrowClient, "only the escrow's client may top it up");
  if (c.height >= e.expires_at) return fail(Error::kEscrowExpired, "escrow expired at height " + std::to_string(e.expires_at));
  if (t.expires_at != 0 && t.expires_at < e.expires_at)
    return fail(Error::kBadExpiry, "new expiry " + std::to_string(t.expires_at) + " is before the current " + std::to_string(e.expires_at));
  if (!checked_add(e.deposited, t.amount, &e.deposited)) return fail(Error::kOverflow, "escrow deposit would exceed 2^64-1");
  if (t.expires_at != 0) e.expires_at = t.expires_at;
  c.ws.put_account(c.tx.sender, c.sender);
  c.ws.put_escrow(t.escrow_id, e);
  return {};
}

// The receipts of a claim, in order, each signed by the escrow's client;
// *paid_to is the last (highest) cumulative amount.
Status check_receipts(const TxContext& c, const EscrowClaim& t, const Escrow& e, Amount* paid_to) {
  const std::string& chain_id = c.ws.params().chain_id;
  Amount last = 0;
  for (std::size_t i = 0; i < t.receipts.size(); ++i) {
    const UsageReceipt& r = t.receipts[i];
    if (r.escrow_id != t.escrow_id) return fail(Error::kBadReceipt, "receipt " + std::to_string(i) + " is for another escrow");
    if (i > 0 && r.cumulative <= last)
      return fail(Error::kBadReceipt, "receipt amounts must strictly increase (receipt " + std::to_string(i) + ")");
    const Hash256 digest = receipt_digest(chain_id, r.escrow_id, r.cumulative);
    const Hash256 ck = receipt_cache_key(digest, e.client_key, r.signature);
    if (!(c.cache && c.cache->contains(ck))) {
      if (!verify(e.client_key, digest, r.signature))
        return fail(Error::kBadReceipt, "receipt " + std::to_string(i) + " is not signed by the escrow's client");
      if (c.cache) c.cache->insert(ck);
    }
    last = r.cumulative;
  }
  *paid_to = last;
  return {};
}

Status apply_payload(TxContext& c, const EscrowClaim& t) {
  Escrow e;
  if (Status s = escrow_of(c.ws, t.escrow_id, &e); !s.ok()) return s;
  if (e.provider != c.tx.sender) return fail(Error::kNotEscrowProvider, "only the escrow's provider may claim from it");
  Amount last = 0;
  if (Status s = check_receipts(c, t, e, &last); !s.ok()) return s;
  if (last > e.deposited) return fail(Error::kReceiptExceedsEscrow, "receipts claim " + amt(last) + ", escrow holds " + amt(e.deposited));
  if (last <= e.claimed) return fail(Error::kNothingToClaim, "receipts claim " + amt(last) + ", already paid " + amt(e.claimed));
  // pay <= the escrow's remaining funds, which are part of the supply
  // (< 2^64) besides the provider's balance: the credit cannot overflow.
  const Amount pay = last - e.claimed;
  e.claimed = last;
  c.ws.put_escrow(t.escrow_id, e);
  // An audited provider's pay waits for its epoch's settlement (docs/proof-of-service.md).
  if (!hold_usage(c.ws, e, t.escrow_id, pay, c.height)) {
    const bool fits = checked_add(c.sender.balance, pay, &c.sender.balance);
    BC_ASSERT(fits);
  }
  c.ws.put_account(c.tx.sender, c.sender);
  return {};
}

Status apply_payload(TxContext& c, const EscrowClose& t) {
  Escrow e;
  if (Status s = escrow_of(c.ws, t.escrow_id, &e); !s.ok()) return s;
  const bool by_client = e.client == c.tx.sender, by_provider = e.provider == c.tx.sender;
  if (!by_client && !by_provider) return fail(Error::kNotEscrowClient, "only the escrow's client or provider may close it");
  if (by_client && !by_provider && c.height < e.expires_at)
    return fail(Error::kEscrowNotExpired, "escrow expires at height " + std::to_string(e.expires_at) + ", block height is " +
                                              std::to_string(c.height));
  c.ws.put_account(c.tx.sender, c.sender);
  c.ws.delete_escrow(t.escrow_id);
  // The refund is part of the supply besides the client's balance.
  credit(c.ws, e.client, e.remaining());
  return {};
}

}  // namespace

Status apply_tx(WorkingState& ws, const Tx& tx, std::uint64_t height, Amount* fees, SignatureCache* cache) {
  BC_ASSERT(fees != nullptr);
  const TxBody& b = tx.body;
  auto maybe = ws.account(tx.sender);
  if (!maybe) return fail(Error::kUnknownAccount, "sender " + address_text(tx.sender) + " has no account; fund it first");
  Account sender = *maybe;
  if (b.nonce != sender.nonce)
    return fail(Error::kBadNonce, "account " + address_text(tx.sender) + ": expected nonce " + std::to_string(sender.nonce) + ", got " +
                                      std::to_string(b.nonce));
  Amount need = 0;
  if (!checked_add(b.fee, tx_spend(b), &need)) return fail(Error::kOverflow, "fee plus amount exceeds 2^64-1");
  if (sender.balance < need) return insufficient(tx.sender, sender.balance, need);
  Amount new_fees = 0;
  if (!checked_add(*fees, b.fee, &new_fees)) return fail(Error::kOverflow, "block fees exceed 2^64-1");

  // Each payload's function validates first, then writes; the sender last.
  sender.balance -= need;
  sender.nonce += 1;
  TxContext c{ws, tx, height, sender, cache};
  Status s = std::visit([&c](const auto& payload) { return apply_payload(c, payload); }, b.payload);
  if (s.ok()) *fees = new_fees;
  return s;
}

void begin_block(WorkingState& ws, std::uint64_t height) {
  // A withdrawn offer bond may still be burned by the unfinished settlement:
  // nothing unbonds until it is done (docs/proof-of-service.md, "Settlement in slices").
  if (ws.base().pos_settling()) return;
  for (const Hash256& id : ws.base().unbondings_due(height)) {
    auto u = ws.unbonding(id);
    BC_ASSERT_MSG(u.has_value(), "unbonding %s is due but missing", id.hex().c_str());
    // Unbonding stake is part of the supply besides the owner's balance.
    credit(ws, u->owner, u->amount);
    ws.delete_unbonding(id);
  }
}

namespace {

Status slash_bonded(WorkingState& ws, const Effect& e, Supply& s) {
  auto a = ws.account(e.account);
  if (!a) return fail(Error::kBadEffect, "slash of unknown account " + address_text(e.account));
  if (a->bonded < e.amount)
    return fail(Error::kBadEffect, "slash of " + amt(e.amount) + " exceeds the " + amt(a->bonded) + " bonded by " + address_text(e.account));
  if (!checked_add(s.burned, e.amount, &s.burned)) return fail(Error::kOverflow, "burned supply would exceed 2^64-1");
  a->bonded -= e.amount;
  ws.put_account(e.account, *a);
  return {};
}

Status slash_unbonding(WorkingState& ws, const Effect& e, Supply& s) {
  auto u = ws.unbonding(e.account);
  if (!u) return fail(Error::kBadEffect, "slash of unknown unbonding entry " + e.account.hex());
  if (u->amount < e.amount) return fail(Error::kBadEffect, "slash of " + amt(e.amount) + " exceeds the unbonding " + amt(u->amount));
  if (!checked_add(s.burned, e.amount, &s.burned)) return fail(Error::kOverflow, "burned supply would exceed 2^64-1");
  u->amount -= e.amount;
  ws.put_unbonding(e.account, *u);
  return {};
}

// Jail (until height + downtime_jail_blocks, window reset) or ban.
Status set_status(WorkingState& ws, const Effect& e, std::uint64_t height) {
  auto v = ws.validator(e.account);
  if (!v) return fail(Error::kBadEffect, "jail or ban of " + address_text(e.account) + ", which is not a validator");
  if (e.amount != 0) return fail(Error::kBadEffect, "a jail or ban carries no amount");
  if (v->status == Validator::Status::kBanned) return fail(Error::kBadEffect, "validator " + address_text(e.account) + " is already banned");
  if (e.kind == Effect::Kind::kBan) {
    v->status = Validator::Status::kBanned;
  } else {
    if (v->status != Validator::Status::kActive) return fail(Error::kBadEffect, "validator " + address_text(e.account) + " is not active");
    std::uint64_t until = 0;
    if (__builtin_add_overflow(height, ws.params().downtime_jail_blocks, &until)) until = UINT64_MAX;
    v->status = Validator::Status::kJailed;
    v->jailed_until = until;
    v->missed_bits = {};
    v->missed = v->tracked = 0;
  }
  ws.put_validator(e.account, *v);
  return {};
}

}  // namespace

Status apply_effect(WorkingState& ws, const Effect& e, std::uint64_t height) {
  Supply s = ws.supply();
  Status st;
  switch (e.kind) {
    case Effect::Kind::kReward:
      if (!checked_add(s.minted, e.amount, &s.minted)) return fail(Error::kOverflow, "minted supply would exceed 2^64-1");
      credit(ws, e.account, e.amount);  // the reward is in the new minted total
      break;
    case Effect::Kind::kFeeShare: credit(ws, e.account, e.amount); break;  // fees left their senders in this block
    case Effect::Kind::kSlash: st = slash_bonded(ws, e, s); break;
    case Effect::Kind::kSlashUnbonding: st = slash_unbonding(ws, e, s); break;
    case Effect::Kind::kJail:
    case Effect::Kind::kBan: st = set_status(ws, e, height); break;
    case Effect::Kind::kBurnOfferBond:
    case Effect::Kind::kOfferBan:
    case Effect::Kind::kOfferWarning:
    case Effect::Kind::kUsagePay:
    case Effect::Kind::kUsageRefund:
    case Effect::Kind::kUsageDefer: st = apply_pos_effect(ws, e, height, &s); break;
  }
  if (!st.ok()) return st;
  ws.set_supply(s);
  return {};
}

Status end_block(WorkingState& ws, const Address& proposer, Amount fees) {
  Amount reward = ws.params().block_reward;
  if (reward > 0) {
    if (Status s = apply_effect(ws, Effect{Effect::Kind::kReward, proposer, reward, Hash256{}}, 0); !s.ok()) return s;
  }
  if (fees > 0) credit(ws, proposer, fees);  // paid by this block's senders
  return {};
}

}  // namespace bc::ledger
