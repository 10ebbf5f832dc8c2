// Remembers signatures already verified (keyed by tx ID, which commits to the
// signed digest and the signature), so a block does not re-check what the
// mempool checked. Bounded; oldest entries leave first. Thread-safe.
#pragma once
#include <atomic>
#include <cstddef>
#include <deque>
#include <mutex>
#include <unordered_set>

#include "layers/bytes.hpp"

namespace bc::ledger {

class SignatureCache {
 public:
  explicit SignatureCache(std::size_t capacity = 1 << 18) : capacity_(capacity) {}
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

}  // namespace bc::ledger
