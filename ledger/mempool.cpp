#include "ledger/mempool.hpp"

#include <queue>

#include "ledger/ledger.hpp"

namespace bc::ledger {

namespace {

Amount cost(const Tx& tx) {
  Amount c = 0;
  if (!checked_add(tx.body.fee, tx_spend(tx.body), &c)) return UINT64_MAX;
  return c;
}

}  // namespace

void Mempool::remove(const Address& sender, std::uint64_t nonce) {
  auto s = by_sender_.find(sender);
  if (s == by_sender_.end()) return;
  auto it = s->second.find(nonce);
  if (it == s->second.end()) return;
  by_fee_.erase(Key{it->second.body.fee, it->second.id});
  by_id_.erase(it->second.id);
  bytes_ -= it->second.wire_size;
  s->second.erase(it);
  if (s->second.empty()) by_sender_.erase(s);
}

void Mempool::remove_from(const Address& sender, std::uint64_t nonce) {
  auto s = by_sender_.find(sender);
  if (s == by_sender_.end()) return;
  std::vector<std::uint64_t> nonces;
  for (auto it = s->second.lower_bound(nonce); it != s->second.end(); ++it) nonces.push_back(it->first);
  for (auto n : nonces) remove(sender, n);
}

std::uint64_t Mempool::next_nonce(const Address& sender, std::uint64_t committed) const {
  auto it = by_sender_.find(sender);
  if (it == by_sender_.end()) return committed;
  std::uint64_t next = committed;
  while (it->second.count(next) != 0) ++next;
  return next;
}

std::size_t Mempool::drop(const Hash256& id) {
  const auto it = by_id_.find(id);
  if (it == by_id_.end()) return 0;
  const auto [sender, nonce] = it->second;
  const std::size_t before = size();
  remove_from(sender, nonce);
  return before - size();
}

Status Mempool::add(Tx tx, Ledger& ledger) {
  if (contains(tx.id)) return fail(Error::kAlreadyKnown, "transaction " + tx.id.hex() + " is already pending");
  if (Status s = ledger.check_tx_stateless(tx); !s.ok()) return s;
  const State& state = ledger.state();
  const Account* acc = state.account(tx.sender);
  if (!acc) return fail(Error::kUnknownAccount, "sender " + address_text(tx.sender) + " has no account; fund it first");
  if (tx.body.nonce < acc->nonce)
    return fail(Error::kStaleNonce, "nonce " + std::to_string(tx.body.nonce) + " already used; account nonce is " + std::to_string(acc->nonce));
  if (tx.body.nonce - acc->nonce >= limits_.max_per_account)
    return fail(Error::kAccountLimit, "nonce " + std::to_string(tx.body.nonce) + " is more than " + std::to_string(limits_.max_per_account) +
                                          " ahead of the account nonce " + std::to_string(acc->nonce));
  static const std::map<std::uint64_t, Tx> kNone;
  auto found = by_sender_.find(tx.sender);
  const auto& pending = found == by_sender_.end() ? kNone : found->second;
  // Replace-by-fee.
  const Tx* replaced = nullptr;
  if (auto it = pending.find(tx.body.nonce); it != pending.end()) {
    Amount old_fee = it->second.body.fee;
    unsigned __int128 need = static_cast<unsigned __int128>(old_fee) * (100 + limits_.rbf_bump_percent) / 100;
    if (need <= old_fee) need = static_cast<unsigned __int128>(old_fee) + 1;
    if (tx.body.fee < need)
      return fail(Error::kReplacementUnderpriced, "a tx with nonce " + std::to_string(tx.body.nonce) + " pays fee " + std::to_string(old_fee) +
                                                      "; a replacement needs at least " + std::to_string(static_cast<std::uint64_t>(need)));
    replaced = &it->second;
  } else if (pending.size() >= limits_.max_per_account) {
    return fail(Error::kAccountLimit, "sender already has " + std::to_string(pending.size()) + " pending transactions");
  }
  // Funds for this tx and the sender's earlier pending ones.
  unsigned __int128 total = cost(tx);
  for (const auto& [n, p] : pending) {
    if (n >= tx.body.nonce) break;
    total += cost(p);
  }
  if (total > acc->balance)
    return fail(Error::kInsufficientFunds, "account " + address_text(tx.sender) + " has " + std::to_string(acc->balance) +
                                               ", pending transactions up to this one need " +
                                               (total > UINT64_MAX ? std::string("more than 2^64") : std::to_string(static_cast<std::uint64_t>(total))));
  if (tx.wire_size > limits_.max_bytes) return fail(Error::kOversized, "transaction larger than the whole mempool");
  // Make room: evict lowest fees first, but never for a tx that pays less.
  std::size_t freed = replaced ? replaced->wire_size : 0;
  while (bytes_ - freed + tx.wire_size > limits_.max_bytes) {
    const Key lowest = *by_fee_.begin();
    if (lowest.fee >= tx.body.fee)
      return fail(Error::kMempoolFull, "mempool full; lowest pending fee is " + std::to_string(lowest.fee) + ", offer more than that");
    auto [sender, nonce] = by_id_.at(lowest.id);
    if (sender == tx.sender && nonce <= tx.body.nonce)
      return fail(Error::kMempoolFull, "mempool full and this sender's earlier transactions pay the lowest fees");
    remove_from(sender, nonce);
  }
  if (replaced) remove(tx.sender, tx.body.nonce);
  Address sender = tx.sender;
  std::uint64_t nonce = tx.body.nonce;
  by_fee_.insert(Key{tx.body.fee, tx.id});
  by_id_[tx.id] = {sender, nonce};
  bytes_ += tx.wire_size;
  by_sender_[sender].emplace(nonce, std::move(tx));
  return {};
}

std::vector<const Tx*> Mempool::select(const State& state, std::size_t max_txs, std::size_t max_bytes) const {
  struct Head {
    Amount fee;
    Hash256 id;  // tie-break, deterministic
    const std::map<std::uint64_t, Tx>* queue;
    std::map<std::uint64_t, Tx>::const_iterator it;
    bool operator<(const Head& o) const { return fee != o.fee ? fee < o.fee : id > o.id; }
  };
  std::priority_queue<Head> heads;
  for (const auto& [addr, queue] : by_sender_) {
    const Account* acc = state.account(addr);
    if (!acc) continue;
    auto it = queue.find(acc->nonce);
    if (it != queue.end()) heads.push(Head{it->second.body.fee, it->second.id, &queue, it});
  }
  std::vector<const Tx*> out;
  std::size_t bytes = 0;
  while (!heads.empty() && out.size() < max_txs) {
    Head h = heads.top();
    heads.pop();
    const Tx& tx = h.it->second;
    if (bytes + tx.wire_size > max_bytes) continue;  // this sender stops here; smaller txs may still fit
    bytes += tx.wire_size;
    out.push_back(&tx);
    auto next = std::next(h.it);
    if (next != h.queue->end() && next->first == tx.body.nonce + 1) heads.push(Head{next->second.body.fee, next->second.id, h.queue, next});
  }
  return out;
}

void Mempool::prune(const State& state) {
  std::vector<std::pair<Address, std::uint64_t>> drop;  // (sender, first nonce to drop onwards) or stale
  std::vector<std::pair<Address, std::uint64_t>> stale;
  for (const auto& [addr, queue] : by_sender_) {
    const Account* acc = state.account(addr);
    if (!acc) {
      drop.emplace_back(addr, 0);
      continue;
    }
    unsigned __int128 total = 0;
    for (const auto& [n, tx] : queue) {
      if (n < acc->nonce) {
        stale.emplace_back(addr, n);
        continue;
      }
      total += cost(tx);
      if (total > acc->balance) {
        drop.emplace_back(addr, n);
        break;
      }
    }
  }
  for (const auto& [a, n] : stale) remove(a, n);
  for (const auto& [a, n] : drop) remove_from(a, n);
}

}  // namespace bc::ledger
