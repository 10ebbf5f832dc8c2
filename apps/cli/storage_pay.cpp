#include "apps/cli/storage_pay.hpp"

#include <algorithm>
#include <chrono>
#include <iostream>
#include <thread>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "apps/common/http_client.hpp"
#include "layers/ids.hpp"

namespace bc::cli {
namespace json = boost::json;
using storage::Amount;
using storage::LastAudit;

namespace {
constexpr std::int64_t kNotFound = -32004;
constexpr std::int64_t kMethodNotFound = -32601;

// rpc_call; nullopt when the daemon answers `absent` (not found, no such method).
std::optional<json::value> try_call(const LedgerLink& l, const std::string& method, json::object params, std::int64_t absent) {
  try {
    return bc::apps::rpc_call(l.rpc, method, params, ms(l.options.timeout_s), credentials(l.options));
  } catch (const bc::apps::RpcError& e) {
    if (e.code == absent) return std::nullopt;
    throw Failure{"blockcloudd refused " + method + ": " + e.what()};
  } catch (const bc::apps::TransportError& e) {
    throw Failure{std::string("reaching blockcloudd for ") + method + ": " + e.what()};
  }
}

Amount amount_of(const json::value& v) { return std::stoull(std::string(v.as_string())); }

struct AccountState {
  Amount balance = 0;
  std::uint64_t nonce = 0;
};
AccountState account_of(const LedgerLink& l, const Hash256& address) {
  const auto a = call(l.options, l.rpc, "get_account", {{"address", ledger::address_text(address)}}).as_object();
  return {amount_of(a.at("balance")), a.at("nonce").to_number<std::uint64_t>()};
}

ledger::Tx sign_with_nonce(const LedgerLink& l, const WalletKey& payer, std::uint64_t nonce, ledger::TxPayload payload) {
  ledger::TxBody body;
  body.chain_id = l.chain_id;
  body.sender = payer.key.public_key();
  body.nonce = nonce;
  body.fee = l.min_fee;
  body.payload = std::move(payload);
  return ledger::sign_tx(std::move(body), payer.key);
}

// Waits until every escrow is on chain, up to the RPC timeout (at least 30 s).
void wait_on_chain(const LedgerLink& l, const std::vector<Hash256>& ids) {
  const auto deadline = std::chrono::steady_clock::now() + std::max(ms(l.options.timeout_s), std::chrono::milliseconds(30'000));
  for (const Hash256& id : ids) {
    while (!escrow_on_chain(l, id)) {
      if (std::chrono::steady_clock::now() > deadline)
        throw Failure{"escrow " + id.hex() + " is not on chain yet; is a block producer running? "
                      "(`blockcloud-cli head` should advance; `storage put --resume` sends what is missing)"};
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
}

std::uint64_t head_height(const LedgerLink& l) {
  return call(l.options, l.rpc, "head").as_object().at("height").to_number<std::uint64_t>();
}

// An escrow of a file record on its way to being closed.
struct Closing {
  storage::ProviderEscrow escrow;
  bool dropped = false;  // from dropped_escrows
  bool receipt_sent_now = false;
  std::optional<storage::EscrowState> chain = std::nullopt;
  bool expired = false;
  storage::CloseStep step = storage::CloseStep::kKeep;

  std::string label() const { return fmt::format("escrow {} (shard {}{})", escrow.id.hex(), escrow.shard, dropped ? ", dropped" : ""); }
};

void decide(const LedgerLink& l, const WalletKey& payer, std::vector<Closing>& all, bool waited) {
  const std::uint64_t head = head_height(l), nonce = account_of(l, payer.address).nonce;
  for (auto& c : all) {
    c.chain = escrow_on_chain(l, c.escrow.id);
    c.expired = c.chain && storage::client_may_close(head, c.chain->expires_at);
    c.step = storage::close_step(c.escrow, {c.chain ? &*c.chain : nullptr, head, nonce, c.receipt_sent_now, waited});
  }
}

// Gives providers that took receipts they have not claimed up to
// kClaimWaitMs to claim them, so closing does not take their last stretch.
void wait_for_claims(const LedgerLink& l, const WalletKey& payer, std::vector<Closing>& all) {
  const auto waiting = [&] {
    return std::any_of(all.begin(), all.end(), [](const Closing& c) { return c.step == storage::CloseStep::kWaitForClaim; });
  };
  if (!waiting()) return;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(storage::kClaimWaitMs);
  while (std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min<TimeMs>(l.block_interval_ms, 1000)));
    decide(l, payer, all, false);
    if (!waiting()) return;
  }
  decide(l, payer, all, true);
}

// Sends one EscrowClose per escrow in `ids` with consecutive nonces and waits
// until each is gone from the chain (up to the RPC timeout, at least 30 s).
void send_closes(const LedgerLink& l, const WalletKey& payer, const std::vector<Hash256>& ids) {
  std::uint64_t nonce = account_of(l, payer.address).nonce;
  for (const Hash256& id : ids) {
    const auto tx = sign_with_nonce(l, payer, nonce++, ledger::EscrowClose{id});
    call(l.options, l.rpc, "send_tx", {{"tx", to_hex(ledger::encode_tx(tx))}});
  }
  const auto deadline = std::chrono::steady_clock::now() + std::max(ms(l.options.timeout_s), std::chrono::milliseconds(30'000));
  for (const Hash256& id : ids) {
    while (escrow_on_chain(l, id)) {
      if (std::chrono::steady_clock::now() > deadline)
        throw Failure{"the close of escrow " + id.hex() + " is not on chain yet; is a block producer running? "
                      "(`blockcloud-cli head` should advance; `storage pay` again closes what is left)"};
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
}

void send_escrow_open(const LedgerLink& l, const WalletKey& payer, const storage::ProviderEscrow& e, const Hash256& roots,
                      std::uint64_t expiry_height) {
  const auto tx = sign_with_nonce(l, payer, e.nonce, ledger::EscrowOpen{e.provider, e.amount, expiry_height, roots});
  call(l.options, l.rpc, "send_tx", {{"tx", to_hex(ledger::encode_tx(tx))}});
}
}  // namespace

std::optional<LedgerLink> ledger_link(const Options& o, const Endpoint& rpc) {
  LedgerLink l{o, rpc, {}, 1000, 1, 0};
  auto head = try_call(l, "head", {}, kMethodNotFound);
  if (!head) return std::nullopt;
  const auto& h = head->as_object();
  l.chain_id = std::string(h.at("chain_id").as_string());
  l.height = h.at("height").to_number<std::uint64_t>();
  if (h.contains("block_interval_ms")) l.block_interval_ms = std::max<TimeMs>(1, h.at("block_interval_ms").to_number<TimeMs>());
  if (h.contains("min_fee")) l.min_fee = amount_of(h.at("min_fee"));
  return l;
}

Hash256 provider_account(const storage::ProviderAd& ad) {
  return ad.owner ? ledger::address_of(*ad.owner) : Hash256{};
}

std::vector<storage::ProviderEscrow> plan_put_escrows(const LedgerLink& l, const WalletKey& payer, const PendingPut& p,
                                                      std::uint64_t file_size, TimeMs now) {
  const storage::Shape shape{file_size, p.segment_size, p.data_shards, p.parity_shards};
  const std::uint64_t bytes = storage::shard_bytes(shape);
  std::vector<Amount> amounts;
  for (std::size_t j = 0; j < p.providers.size(); ++j) {
    const bool payable = j < p.accounts.size() && !p.accounts[j].is_zero() && j < p.prices.size();
    auto a = payable ? storage::escrow_amount(p.prices[j], bytes, p.expires_at - now) : Result<Amount>(Amount{0});
    if (!a.ok()) throw Failure{"pricing the escrow of provider " + std::to_string(j) + ": " + a.status().message};
    amounts.push_back(*a);
  }
  const AccountState acct = account_of(l, payer.address);
  auto escrows = storage::plan_escrows(payer.address, acct.nonce, p.accounts, amounts);
  Amount need = 0;
  for (const auto& e : escrows) need += e.amount + l.min_fee;
  if (need > acct.balance)
    throw Failure{fmt::format("insufficient funds: this put's {} escrows need {} base units (fees included) and account {} "
                              "holds {}; fund it (`blockcloud-cli send {} {}` from a funded key) or store for fewer --days",
                              escrows.size(), need, ledger::address_text(payer.address), acct.balance,
                              ledger::address_text(payer.address), need - acct.balance)};
  return escrows;
}

void open_escrows(const LedgerLink& l, const WalletKey& payer, const std::vector<storage::ProviderEscrow>& escrows,
                  const storage::Manifest& m, TimeMs period_ms, TimeMs grace_ms) {
  const std::uint64_t expiry = storage::escrow_expiry_height(l.height, period_ms, l.block_interval_ms, grace_ms);
  const std::uint64_t next_nonce = account_of(l, payer.address).nonce;
  std::vector<Hash256> ids;
  for (const auto& e : escrows) {
    ids.push_back(e.id);
    if (escrow_on_chain(l, e.id)) continue;  // opened by an earlier attempt
    if (e.nonce < next_nonce)
      throw Failure{fmt::format("nonce {} of {}, reserved for the escrow of shard {}, was used by another transaction; "
                                "remove the unfinished put (`storage put` without --resume starts over)",
                                e.nonce, ledger::address_text(payer.address), e.shard)};
    send_escrow_open(l, payer, e, storage::roots_commitment(m, e.shard), expiry);
  }
  wait_on_chain(l, ids);
}

PutPayment plan_put_payment(const Options& o, const Endpoint& rpc, const std::function<WalletKey()>& payer_key,
                            const PendingPut& p, std::uint64_t file_size, storage::PutJournal& journal, TimeMs now) {
  PutPayment out;
  bool payable = false;
  for (std::size_t j = 0; j < p.accounts.size() && j < p.prices.size(); ++j) payable |= !p.accounts[j].is_zero() && p.prices[j] > 0;
  if (!journal.escrows() && !payable) return out.note = "its providers ask no payment (no price or no account advertised)", out;
  out.ledger = ledger_link(o, rpc);
  if (!out.ledger) {
    if (journal.escrows())
      throw Failure{"this put's escrows were planned on a ledger, and the daemon runs none now; resume against a node with the ledger"};
    return out.note = "the daemon runs no ledger (a --no-ledger devnet?): this put is not paid", out;
  }
  if (!journal.escrows() && !journal.segments().empty())
    return out.ledger.reset(), out.note = "this put started unpaid; it is resumed unpaid", out;
  out.payer = payer_key();
  if (journal.escrows()) return out.escrows = *journal.escrows(), out;
  out.escrows = plan_put_escrows(*out.ledger, *out.payer, p, file_size, now);
  if (journal.header() && !out.escrows.empty()) {  // a resume that crashed before journaling them
    const Status s = journal.record_escrows(out.escrows);
    if (!s.ok()) throw Failure{"journaling the escrows: " + s.message};
  }
  return out;
}

std::vector<std::vector<std::string>> pay_providers(const LedgerLink& l, const WalletKey& payer, FileEntry& e,
                                                    const storage::FileHealth* health, storage::ShardTransport& transport,
                                                    TimeMs now) {
  std::vector<std::vector<std::string>> rows;
  std::vector<storage::ReceiptDelivery> deliveries;
  std::vector<std::size_t> escrow_of;  // delivery -> index in e.escrows
  for (std::size_t i = 0; i < e.escrows.size(); ++i) {
    auto& x = e.escrows[i];
    // Without a fresh audit (the period is over) the last one decides the final receipt.
    if (health)
      x.last_audit = x.shard < health->failed.size() && health->failed[x.shard] == 0 ? LastAudit::kPassed : LastAudit::kFailed;
    const Amount due = storage::receipt_due(x, e.stored_at, e.expires_at, now, x.last_audit == LastAudit::kPassed);
    if (due == 0) {
      rows.push_back({std::to_string(x.shard), x.id.hex().substr(0, 16), std::to_string(x.paid),
                      x.last_audit == LastAudit::kPassed ? "nothing new earned"
                      : x.last_audit == LastAudit::kFailed ? "FAILED its audit: not paid"
                                                           : "never audited: not paid"});
      continue;
    }
    deliveries.push_back({x.shard, {x.id, due, ledger::sign_receipt(payer.key, l.chain_id, x.id, due).signature}});
    escrow_of.push_back(i);
  }
  const auto taken = storage::deliver_receipts(transport, deliveries, 1);
  for (std::size_t d = 0; d < deliveries.size(); ++d) {
    auto& x = e.escrows[escrow_of[d]];
    if (taken[d]) x.paid = deliveries[d].receipt.cumulative;
    rows.push_back({std::to_string(x.shard), x.id.hex().substr(0, 16), std::to_string(x.paid),
                    taken[d] ? "receipt sent" : "the provider did not take the receipt"});
  }
  return rows;
}

std::vector<Hash256> PutPayment::ids(std::size_t shards) const {
  std::vector<Hash256> out(shards);
  for (const auto& e : escrows)
    if (e.shard < shards) out[e.shard] = e.id;
  return out;
}

std::vector<Hash256> RepairPayment::ids() const {
  std::vector<Hash256> out;
  for (const auto& x : escrows) out.push_back(x ? x->id : Hash256{});
  return out;
}

RepairPayment plan_repair_payment(const Options& o, const Endpoint& rpc, const std::function<WalletKey()>& payer_key,
                                  const FileEntry& e, const std::vector<std::uint32_t>& lost,
                                  const std::vector<storage::ProviderAd>& ads, const Key256& master, TimeMs now) {
  RepairPayment plan;
  plan.escrows.resize(lost.size());
  if (e.payer.empty() || e.expires_at <= now) return plan;
  plan.ledger = ledger_link(o, rpc);
  if (!plan.ledger) return plan;
  plan.payer = payer_key();
  auto m = storage::open_manifest(master, e.envelope);
  if (!m.ok()) throw Failure{"opening the manifest: " + m.status().message};
  const AccountState acct = account_of(*plan.ledger, plan.payer->address);
  std::uint64_t nonce = acct.nonce;
  Amount need = 0;
  for (std::size_t x = 0; x < lost.size(); ++x) {
    const Hash256 account = provider_account(ads[x]);
    auto amount = storage::escrow_amount(ads[x].price, storage::shard_bytes(m->shape), e.expires_at - now);
    if (!amount.ok()) throw Failure{"pricing the replacement escrow: " + amount.status().message};
    if (account.is_zero() || *amount == 0) continue;
    plan.escrows[x] = storage::ProviderEscrow{lost[x], ledger::escrow_id_of(plan.payer->address, nonce), nonce, account,
                                              *amount, 0};
    ++nonce;
    need += *amount + plan.ledger->min_fee;
  }
  if (need > acct.balance)
    throw Failure{fmt::format("insufficient funds: the replacement escrows need {} base units (fees included), account {} "
                              "holds {}", need, ledger::address_text(plan.payer->address), acct.balance)};
  return plan;
}

std::string repay_after_repair(const RepairPayment& plan, FileEntry& e, const std::vector<std::uint32_t>& lost,
                               const Key256& master, TimeMs now) {
  if (e.payer.empty()) return "";
  std::string out;
  for (std::uint32_t j : lost) {
    auto it = std::find_if(e.escrows.begin(), e.escrows.end(), [j](const auto& x) { return x.shard == j; });
    if (it == e.escrows.end()) continue;
    out += fmt::format("shard {}: escrow {} is no longer paid (its provider failed); close it after it expires\n", j, it->id.hex());
    e.dropped_escrows.push_back(*it);
    e.escrows.erase(it);
  }
  if (!plan.ledger) return out + "the daemon runs no ledger: the new providers are not paid";
  auto m = storage::open_manifest(master, e.envelope);
  if (!m.ok()) throw Failure{"opening the manifest: " + m.status().message};
  for (const auto& escrow : plan.escrows) {
    if (!escrow) continue;
    open_escrows(*plan.ledger, *plan.payer, {*escrow}, *m, e.expires_at - now);
    out += fmt::format("shard {}: new escrow {} for {} base units\n", escrow->shard, escrow->id.hex(), escrow->amount);
    e.escrows.push_back(*escrow);
  }
  std::sort(e.escrows.begin(), e.escrows.end(), [](const auto& a, const auto& b) { return a.shard < b.shard; });
  return out;
}

std::optional<storage::EscrowState> escrow_on_chain(const LedgerLink& l, const Hash256& id) {
  auto v = try_call(l, "get_escrow", {{"id", id.hex()}}, kNotFound);
  if (!v) return std::nullopt;
  const auto& o = v->as_object();
  return storage::EscrowState{amount_of(o.at("deposited")), amount_of(o.at("claimed")), o.at("expires_at").to_number<std::uint64_t>()};
}

std::vector<std::string> close_expired_escrows(const LedgerLink& l, const WalletKey& payer, FileEntry& e,
                                               const std::vector<Hash256>& receipt_sent_now) {
  std::vector<Closing> all;
  for (const auto& x : e.escrows)
    all.push_back({x, false, std::find(receipt_sent_now.begin(), receipt_sent_now.end(), x.id) != receipt_sent_now.end()});
  for (const auto& x : e.dropped_escrows) all.push_back({x, true, false});
  decide(l, payer, all, false);
  wait_for_claims(l, payer, all);
  std::vector<Hash256> to_close, to_forget;
  std::vector<std::string> lines;
  for (const auto& c : all) {
    if (c.step == storage::CloseStep::kClose) to_close.push_back(c.escrow.id);
    if (c.step == storage::CloseStep::kForget) {
      to_forget.push_back(c.escrow.id);
      lines.push_back(c.label() + ": no longer on chain (closed already); forgotten");
    }
    if (c.step == storage::CloseStep::kNotSeen)
      lines.push_back(c.label() + ": not on this node's ledger, which has not committed the tx that opened it; "
                                  "kept (is the daemon synced, and on the chain the file was paid on?)");
    if (c.step == storage::CloseStep::kKeep && c.expired)
      lines.push_back(c.label() + ": expired, but its provider has not claimed its last receipt yet; the next `storage pay` closes it");
  }
  send_closes(l, payer, to_close);
  for (const auto& c : all)
    if (c.step == storage::CloseStep::kClose)
      lines.push_back(fmt::format("{}: closed, {} base units returned", c.label(), c.chain->deposited - c.chain->claimed));
  to_forget.insert(to_forget.end(), to_close.begin(), to_close.end());
  const auto gone = [&](const storage::ProviderEscrow& x) {
    return std::find(to_forget.begin(), to_forget.end(), x.id) != to_forget.end();
  };
  std::erase_if(e.escrows, gone);
  std::erase_if(e.dropped_escrows, gone);
  return lines;
}

}  // namespace bc::cli
