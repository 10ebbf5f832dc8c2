#include "layers/sig_cache.hpp"

namespace bc {

bool SignatureCache::contains(const Hash256& id) const {
  std::lock_guard lock(mu_);
  bool hit = set_.count(id) != 0;
  if (hit) hits_.fetch_add(1, std::memory_order_relaxed);
  return hit;
}

void SignatureCache::insert(const Hash256& id) {
  if (capacity_ == 0) return;
  std::lock_guard lock(mu_);
  if (!set_.insert(id).second) return;
  order_.push_back(id);
  while (order_.size() > capacity_) {
    set_.erase(order_.front());
    order_.pop_front();
  }
}

bool SignatureCache::verify(const XOnlyPubKey& key, const Hash256& digest, const Signature& sig) {
  Sha256 h;
  const Hash256 id = h.update(key.view()).update(digest.view()).update(sig.view()).finish();
  if (contains(id)) return true;
  if (!bc::verify(key, digest, sig)) return false;
  insert(id);
  return true;
}

std::size_t SignatureCache::size() const {
  std::lock_guard lock(mu_);
  return set_.size();
}

}  // namespace bc
