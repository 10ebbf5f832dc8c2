#include "ledger/apply.hpp"

#include <cstring>

namespace bc::ledger {

namespace {

std::string amt(Amount a) { return std::to_string(a); }

Status insufficient(const Address& who, Amount have, Amount need) {
  return fail(Error::kInsufficientFunds, "account " + address_text(who) + " has " + amt(have) + ", needs " + amt(need));
}

Status credit(WorkingState& ws, const Address& to, Amount amount) {
  Account a = ws.account(to).value_or(Account{});
  if (!checked_add(a.balance, amount, &a.balance))
    return fail(Error::kOverflow, "balance of " + address_text(to) + " would exceed 2^64-1");
  ws.put_account(to, a);
  return {};
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

}  // namespace

Status apply_tx(WorkingState& ws, const Tx& tx, std::uint64_t height, Amount* fees, SignatureCache* cache) {
  const TxBody& b = tx.body;
  auto maybe = ws.account(tx.sender);
  if (!maybe) return fail(Error::kUnknownAccount, "sender " + address_text(tx.sender) + " has no account; fund it first");
  Account sender = *maybe;
  if (b.nonce != sender.nonce)
    return fail(Error::kBadNonce, "account " + address_text(tx.sender) + ": expected nonce " + std::to_string(sender.nonce) + ", got " +
                                      std::to_string(b.nonce));
  Amount spend = tx_spend(b), need = 0;
  if (!checked_add(b.fee, spend, &need)) return fail(Error::kOverflow, "fee plus amount exceeds 2^64-1");
  if (sender.balance < need) return insufficient(tx.sender, sender.balance, need);
  Amount new_fees = 0;
  if (!checked_add(*fees, b.fee, &new_fees)) return fail(Error::kOverflow, "block fees exceed 2^64-1");

  // Every branch validates first, then writes; sender is written last.
  sender.balance -= need;
  sender.nonce += 1;
  const ChainParams& params = ws.params();

  if (auto* t = std::get_if<Transfer>(&b.payload)) {
    if (t->to == tx.sender) {
      sender.balance += t->amount;  // to oneself: only the fee moves
      ws.put_account(tx.sender, sender);
    } else {
      Account to = ws.account(t->to).value_or(Account{});
      if (!checked_add(to.balance, t->amount, &to.balance))
        return fail(Error::kOverflow, "balance of " + address_text(t->to) + " would exceed 2^64-1");
      ws.put_account(tx.sender, sender);
      ws.put_account(t->to, to);
    }
  } else if (auto* t = std::get_if<Bond>(&b.payload)) {
    if (!checked_add(sender.bonded, t->amount, &sender.bonded)) return fail(Error::kOverflow, "bonded stake would exceed 2^64-1");
    ws.put_account(tx.sender, sender);
  } else if (auto* t = std::get_if<Unbond>(&b.payload)) {
    if (sender.bonded < t->amount)
      return fail(Error::kInsufficientStake, "account " + address_text(tx.sender) + " has " + amt(sender.bonded) + " bonded, cannot unbond " +
                                                 amt(t->amount));
    std::uint64_t release = 0;
    if (__builtin_add_overflow(height, params.unbonding_delay, &release)) return fail(Error::kOverflow, "release height overflows");
    sender.bonded -= t->amount;
    ws.put_account(tx.sender, sender);
    ws.put_unbonding(escrow_id_of(tx.sender, b.nonce), Unbonding{tx.sender, t->amount, release});
  } else if (auto* t = std::get_if<RegisterService>(&b.payload)) {
    Hash256 id = service_id_of(b.sender, t->name);
    if (ws.service(id)) return fail(Error::kServiceExists, "service '" + t->name + "' (" + id.hex() + ") is already registered");
    ws.put_account(tx.sender, sender);
    ws.put_service(id, Service{b.sender, t->name, height});
  } else if (auto* t = std::get_if<EscrowOpen>(&b.payload)) {
    if (t->provider == tx.sender) return fail(Error::kBadEscrow, "an escrow's provider must differ from its client");
    if (t->expires_at <= height)
      return fail(Error::kBadExpiry, "escrow expiry height " + std::to_string(t->expires_at) + " is not after block height " + std::to_string(height));
    Hash256 id = escrow_id_of(tx.sender, b.nonce);
    ws.put_account(tx.sender, sender);
    ws.put_escrow(id, Escrow{tx.sender, b.sender, t->provider, t->amount, 0, t->expires_at});
  } else if (auto* t = std::get_if<EscrowTopUp>(&b.payload)) {
    Escrow e;
    if (Status s = escrow_of(ws, t->escrow_id, &e); !s.ok()) return s;
    if (e.client != tx.sender) return fail(Error::kNotEscrowClient, "only the escrow's client may top it up");
    if (height >= e.expires_at) return fail(Error::kEscrowExpired, "escrow expired at height " + std::to_string(e.expires_at));
    if (t->expires_at != 0 && t->expires_at < e.expires_at)
      return fail(Error::kBadExpiry, "new expiry " + std::to_string(t->expires_at) + " is before the current " + std::to_string(e.expires_at));
    if (!checked_add(e.deposited, t->amount, &e.deposited)) return fail(Error::kOverflow, "escrow deposit would exceed 2^64-1");
    if (t->expires_at != 0) e.expires_at = t->expires_at;
    ws.put_account(tx.sender, sender);
    ws.put_escrow(t->escrow_id, e);
  } else if (auto* t = std::get_if<EscrowClaim>(&b.payload)) {
    Escrow e;
    if (Status s = escrow_of(ws, t->escrow_id, &e); !s.ok()) return s;
    if (e.provider != tx.sender) return fail(Error::kNotEscrowProvider, "only the escrow's provider may claim from it");
    Amount last = 0;
    for (std::size_t i = 0; i < t->receipts.size(); ++i) {
      const UsageReceipt& r = t->receipts[i];
      if (r.escrow_id != t->escrow_id) return fail(Error::kBadReceipt, "receipt " + std::to_string(i) + " is for another escrow");
      if (i > 0 && r.cumulative <= last)
        return fail(Error::kBadReceipt, "receipt amounts must strictly increase (receipt " + std::to_string(i) + ")");
      Hash256 digest = receipt_digest(params.chain_id, r.escrow_id, r.cumulative);
      Hash256 ck = receipt_cache_key(digest, e.client_key, r.signature);
      if (!(cache && cache->contains(ck))) {
        if (!verify(e.client_key, digest, r.signature))
          return fail(Error::kBadReceipt, "receipt " + std::to_string(i) + " is not signed by the escrow's client");
        if (cache) cache->insert(ck);
      }
      last = r.cumulative;
    }
    if (last > e.deposited) return fail(Error::kReceiptExceedsEscrow, "receipts claim " + amt(last) + ", escrow holds " + amt(e.deposited));
    if (last <= e.claimed) return fail(Error::kNothingToClaim, "receipts claim " + amt(last) + ", already paid " + amt(e.claimed));
    Amount pay = last - e.claimed;
    sender.balance += pay;  // cannot overflow: pay <= escrowed funds, which are part of the supply
    e.claimed = last;
    ws.put_account(tx.sender, sender);
    ws.put_escrow(t->escrow_id, e);
  } else if (auto* t = std::get_if<EscrowClose>(&b.payload)) {
    Escrow e;
    if (Status s = escrow_of(ws, t->escrow_id, &e); !s.ok()) return s;
    const bool by_client = e.client == tx.sender, by_provider = e.provider == tx.sender;
    if (!by_client && !by_provider) return fail(Error::kNotEscrowClient, "only the escrow's client or provider may close it");
    if (by_client && !by_provider && height < e.expires_at)
      return fail(Error::kEscrowNotExpired, "escrow expires at height " + std::to_string(e.expires_at) + ", block height is " + std::to_string(height));
    Amount refund = e.remaining();
    ws.put_account(tx.sender, sender);
    ws.delete_escrow(t->escrow_id);
    if (Status s = credit(ws, e.client, refund); !s.ok()) return s;  // cannot fail: refund is part of the supply
  }
  *fees = new_fees;
  return {};
}

Status begin_block(WorkingState& ws, std::uint64_t height) {
  for (const Hash256& id : ws.base().unbondings_due(height)) {
    auto u = ws.unbonding(id);
    if (!u) continue;
    if (Status s = credit(ws, u->owner, u->amount); !s.ok()) return s;
    ws.delete_unbonding(id);
  }
  return {};
}

Status apply_effect(WorkingState& ws, const Effect& e) {
  Supply s = ws.supply();
  if (e.kind == Effect::Kind::kReward) {
    if (!checked_add(s.minted, e.amount, &s.minted)) return fail(Error::kOverflow, "minted supply would exceed 2^64-1");
    if (Status st = credit(ws, e.account, e.amount); !st.ok()) return st;
  } else {
    auto a = ws.account(e.account);
    if (!a) return fail(Error::kBadEffect, "slash of unknown account " + address_text(e.account));
    if (a->bonded < e.amount)
      return fail(Error::kBadEffect, "slash of " + amt(e.amount) + " exceeds the " + amt(a->bonded) + " bonded by " + address_text(e.account));
    a->bonded -= e.amount;
    if (!checked_add(s.burned, e.amount, &s.burned)) return fail(Error::kOverflow, "burned supply would exceed 2^64-1");
    ws.put_account(e.account, *a);
  }
  ws.set_supply(s);
  return {};
}

Status end_block(WorkingState& ws, const Address& proposer, Amount fees) {
  Amount reward = ws.params().block_reward;
  if (reward > 0) {
    if (Status s = apply_effect(ws, Effect{Effect::Kind::kReward, proposer, reward, Hash256{}}); !s.ok()) return s;
  }
  if (fees > 0) return credit(ws, proposer, fees);
  return {};
}

}  // namespace bc::ledger
