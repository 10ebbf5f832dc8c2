#include "apps/storage/net/escrow_claims.hpp"

#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include "apps/storage/net/local_rpc.hpp"
#include "ledger/tx.hpp"

namespace bc::storage {
namespace json = boost::json;


// One round of claims: the chain's id and fee, the owner's next nonce, and
// the receipts it sends.
struct EscrowClaimer::Run {
  std::string chain_id;
  ledger::Amount fee = 1;
  std::uint64_t nonce = 0;
  std::vector<ReceiptRequest> receipts;
  std::size_t answers = 0;
};

void EscrowClaimer::add(const std::vector<ReceiptRequest>& receipts) {
  for (const auto& r : receipts) {
    auto [it, fresh] = waiting_.emplace(r.escrow_id, r);
    if (!fresh && it->second.cumulative < r.cumulative) it->second = r;
  }
}

void EscrowClaimer::step() {
  if (waiting_.empty() || *busy_) return;
  if (!rpc_.contains("send_tx")) {
    ++stats_->no_ledger;
    waiting_.clear();  // nothing can ever claim them on this node
    return;
  }
  *busy_ = true;
  auto run = std::make_shared<Run>();
  for (auto& [id, r] : waiting_) run->receipts.push_back(r);
  waiting_.clear();
  const std::string account = ledger::address_text(ledger::address_of(owner_.public_key()));
  auto busy = busy_;
  std::weak_ptr<bool> alive = alive_;
  call_local_rpc(rpc_, "head", {}, [this, run, account, busy, alive](std::optional<json::value> head, const std::string& why) {
    if (!alive.lock()) return;
    if (!head) return spdlog::warn("storage: claims wait, no ledger head ({})", why), void(*busy = false);
    run->chain_id = std::string(head->as_object().at("chain_id").as_string());
    run->fee = std::stoull(std::string(head->as_object().at("min_fee").as_string()));
    call_local_rpc(rpc_, "get_account", {{"address", account}}, [this, run, busy, alive](std::optional<json::value> acct, const std::string& why) {
      if (!alive.lock()) return;
      if (!acct) return spdlog::warn("storage: claims wait, no account ({})", why), void(*busy = false);
      // Claims of the last round may still wait in the mempool: continue after them.
      run->nonce = std::max(acct->as_object().at("nonce").to_number<std::uint64_t>(), *next_nonce_);
      send_all(run);
    });
  });
}

// One EscrowClaim per receipt with consecutive nonces; the round ends when
// every send_tx answered. Refused claims are not retried (see the header).
void EscrowClaimer::send_all(const std::shared_ptr<Run>& run) {
  auto busy = busy_;
  auto stats = stats_;
  auto next_nonce = next_nonce_;
  *next_nonce = run->nonce + run->receipts.size();
  for (std::size_t i = 0; i < run->receipts.size(); ++i) {
    const ReceiptRequest& r = run->receipts[i];
    ledger::TxBody body;
    body.chain_id = run->chain_id;
    body.sender = owner_.public_key();
    body.nonce = run->nonce + i;
    body.fee = run->fee;
    body.payload = ledger::EscrowClaim{r.escrow_id, {ledger::UsageReceipt{r.escrow_id, r.cumulative, r.signature}}};
    const ledger::Tx tx = ledger::sign_tx(std::move(body), owner_);
    call_local_rpc(rpc_, "send_tx", {{"tx", to_hex(ledger::encode_tx(tx))}},
         [run, busy, stats, next_nonce, escrow = r.escrow_id, amount = r.cumulative](std::optional<json::value> ok, const std::string& why) {
           if (ok) {
             ++stats->sent;
             spdlog::info("storage: claimed {} from escrow {}", amount, escrow.hex());
           } else {
             ++stats->refused;
             *next_nonce = 0;  // a gap: start again from the committed nonce
             spdlog::warn("storage: claim of {} from escrow {} refused: {}", amount, escrow.hex(), why);
           }
           if (++run->answers == run->receipts.size()) *busy = false;
         });
  }
}

}  // namespace bc::storage
