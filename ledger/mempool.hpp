// Pending transactions, ordered by sender nonce and by fee.
//
// Bounded in bytes and per account. A tx with the same sender and nonce as a
// pending one replaces it only if its fee is at least `rbf_bump_percent`
// higher. When full, the lowest-fee pending tx (and its sender's later ones)
// makes room for a better-paying tx. After each block, prune() drops what
// was included and evicts what became invalid (stale nonce, unaffordable).
#pragma once
#include <map>
#include <set>
#include <unordered_map>
#include <vector>

#include "ledger/error.hpp"
#include "ledger/state.hpp"
#include "ledger/tx.hpp"

namespace bc::ledger {

class Ledger;

struct MempoolLimits {
  std::size_t max_bytes = 64 << 20;
  std::size_t max_per_account = 64;  // pending txs, also the furthest nonce ahead
  std::uint32_t rbf_bump_percent = 10;
};

class Mempool {
 public:
  explicit Mempool(MempoolLimits limits = {}) : limits_(limits) {}

  // Checks the tx (context-free, signature through the ledger's cache,
  // nonce and funds against the committed state) and keeps it.
  Status add(Tx tx, Ledger& ledger);
  // Best txs for the next block: per sender in nonce order from the
  // account's nonce without gaps; across senders by highest fee first.
  std::vector<const Tx*> select(const State& state, std::size_t max_txs, std::size_t max_bytes) const;
  // After a block: drop included/stale txs and those that no longer fit the sender's funds.
  void prune(const State& state);
  // A tx the block builder found invalid against the state (an unjail of an
  // account that is not jailed, say): it leaves the pool with its sender's
  // later txs, which wait on its nonce. Returns how many left.
  std::size_t drop(const Hash256& id);

  bool contains(const Hash256& id) const { return by_id_.count(id) != 0; }
  // The nonce a new tx of `sender` takes to follow its pending ones without a
  // gap: `committed` (the account's nonce) plus the pending run from there.
  std::uint64_t next_nonce(const Address& sender, std::uint64_t committed) const;
  std::size_t size() const { return by_id_.size(); }
  std::size_t bytes() const { return bytes_; }
  const MempoolLimits& limits() const { return limits_; }

 private:
  struct Key {
    Amount fee;
    Hash256 id;
    friend auto operator<=>(const Key&, const Key&) = default;
  };
  void remove(const Address& sender, std::uint64_t nonce);
  // Removes nonce and every later tx of sender.
  void remove_from(const Address& sender, std::uint64_t nonce);

  MempoolLimits limits_;
  std::unordered_map<Address, std::map<std::uint64_t, Tx>, Hash256Hasher> by_sender_;
  std::unordered_map<Hash256, std::pair<Address, std::uint64_t>, Hash256Hasher> by_id_;
  std::set<Key> by_fee_;  // lowest first, for eviction
  std::size_t bytes_ = 0;
};

}  // namespace bc::ledger
