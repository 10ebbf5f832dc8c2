// Remembers signatures already verified, keyed by an ID that commits to the
// signer, the signed digest and the signature (a ledger tx ID; a DHT record's
// verification key). A BIP340 check costs ~40 us; a lookup here well under
// one, so a block need not re-check what its mempool checked, nor a DHT node
// the same record arriving from several replicas. Bounded; oldest entries
// leave first. Only successes are remembered. Thread-safe.
#pragma once
#include <atomic>
#include <cstddef>
#include <deque>
#include <mutex>
#include <unordered_set>

#include "layers/bytes.hpp"
#include "layers/crypto.hpp"

namespace bc {

class SignatureCache {
 public:
  explicit SignatureCache(std::size_t capacity = 1 << 18) : capacity_(capacity) {}
  // bc::verify() that remembers successes, keyed by hash(key || digest || sig).
  bool verify(const XOnlyPubKey& key, const Hash256& digest, const Signature& sig);
  bool contains(const Hash256& id) const;
  void insert(const Hash256& id);
  std::size_t size() const;
  std::uint64_t hits() const { return hits_.load(std::memory_order_relaxed); }

 private:
  mutable std::mutex mu_;
  std::size_t capacity_;
  std::unordered_set<Hash256, Hash256Hasher> set_;
  std::deque<Hash256> order_;
  mutable std::atomic<std::uint64_t> hits_{0};
};

}  // namespace bc
