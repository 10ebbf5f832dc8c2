#include "routing/detail/routing_table.hpp"

#include "layers/assert.hpp"

#include <algorithm>

namespace bc::routing {

RoutingTable::RoutingTable(const NodeId& self, std::size_t k)
    : self_(self), k_(k == 0 ? 1 : k) {}

RoutingTable::Bucket& RoutingTable::bucket_grow(int b) {
  if (static_cast<std::size_t>(b) >= buckets_.size()) buckets_.resize(static_cast<std::size_t>(b) + 1);
  return buckets_[b];
}

std::size_t RoutingTable::bucket_size(int bucket) const {
  const Bucket* b = bucket_if(bucket);
  return b ? b->entries.size() : 0;
}

int RoutingTable::bucket_of(const NodeId& id) const {
  int shared = common_prefix_bits(self_, id);
  return shared >= 256 ? -1 : shared;
}

RoutingTable::ObserveResult RoutingTable::observe(const NodeId& id, const Endpoint& ep,
                                                  TimeMs now) {
  int b = bucket_of(id);
  if (b < 0) return {Observed::kSelf, std::nullopt};
  Bucket& bucket = bucket_grow(b);
  bucket.last_touched = std::max(bucket.last_touched, now);
  auto same = [&](const TableEntry& e) { return e.id == id; };
  auto it = std::find_if(bucket.entries.begin(), bucket.entries.end(), same);
  if (it != bucket.entries.end()) {
    TableEntry e = *it;
    bucket.entries.erase(it);
    e.endpoint = ep;
    e.last_seen = now;
    e.fails = 0;
    bucket.entries.push_back(e);
    return {Observed::kUpdated, std::nullopt};
  }
  auto rit = std::find_if(bucket.replacements.begin(), bucket.replacements.end(), same);
  if (rit != bucket.replacements.end()) bucket.replacements.erase(rit);
  if (bucket.entries.size() < k_) {
    bucket.entries.push_back({id, ep, now, 0});
    ++size_;
    BC_ASSERT(bucket.entries.size() <= k_);
    return {Observed::kAdded, std::nullopt};
  }
  bucket.replacements.push_back({id, ep, now, 0});
  if (bucket.replacements.size() > k_) bucket.replacements.erase(bucket.replacements.begin());
  BC_ASSERT(bucket.entries.size() <= k_ && bucket.replacements.size() <= k_);
  return {Observed::kBucketFull, bucket.entries.front()};
}

bool RoutingTable::fail(const NodeId& id, int fails_before_evict) {
  const int b = bucket_of(id);
  if (!bucket_if(b)) return false;
  Bucket& bucket = buckets_[b];
  for (auto& e : bucket.entries) {
    if (e.id != id) continue;
    if (++e.fails >= std::max(1, fails_before_evict)) {
      remove(id);
      return true;
    }
    return false;
  }
  return false;
}

bool RoutingTable::remove(const NodeId& id) {
  const int b = bucket_of(id);
  if (!bucket_if(b)) return false;
  Bucket& bucket = buckets_[b];
  auto same = [&](const TableEntry& e) { return e.id == id; };
  auto it = std::find_if(bucket.entries.begin(), bucket.entries.end(), same);
  if (it == bucket.entries.end()) {
    auto rit = std::find_if(bucket.replacements.begin(), bucket.replacements.end(), same);
    if (rit == bucket.replacements.end()) return false;
    bucket.replacements.erase(rit);
    return true;
  }
  bucket.entries.erase(it);
  --size_;
  if (!bucket.replacements.empty()) {
    // The freshest spare is the likeliest to be alive. It joins as least
    // recently seen so a known-good old entry is not pinged before it.
    TableEntry spare = bucket.replacements.back();
    bucket.replacements.pop_back();
    spare.fails = 0;
    bucket.entries.insert(bucket.entries.begin(), spare);
    ++size_;
  }
  return true;
}

bool RoutingTable::would_keep(const NodeId& id, TimeMs stale_before) const {
  const int b = bucket_of(id);
  if (b < 0) return false;
  const Bucket* found = bucket_if(b);
  if (!found) return true;  // an empty bucket has room
  const Bucket& bucket = *found;
  if (bucket.entries.size() < k_ || bucket.replacements.size() < k_) return true;
  return bucket.replacements.front().last_seen < stale_before;  // front = oldest spare
}

const TableEntry* RoutingTable::find(const NodeId& id) const {
  const Bucket* bucket = bucket_if(bucket_of(id));
  if (!bucket) return nullptr;
  for (const auto& e : bucket->entries) {
    if (e.id == id) return &e;
  }
  return nullptr;
}

std::vector<TableEntry> RoutingTable::closest(const Hash256& target, std::size_t n) const {
  // Buckets form tiers of XOR distance to the target. With i = the prefix
  // length target shares with us: bucket i is closest; then every bucket
  // deeper than i (together: they all differ from the target first at bit i);
  // then buckets i-1, i-2, ... each strictly farther. Collect whole tiers
  // until n entries are in hand, then sort only those.
  std::vector<TableEntry> out;
  if (n == 0) return out;
  const int i = common_prefix_bits(self_, target);
  const int nb = static_cast<int>(buckets_.size());
  auto take = [&](int b) {
    const auto& e = buckets_[b].entries;
    out.insert(out.end(), e.begin(), e.end());
  };
  if (i < nb) take(i);
  if (out.size() < n) {
    for (int b = i + 1; b < nb; ++b) take(b);
  }
  for (int b = std::min(i, nb) - 1; b >= 0 && out.size() < n; --b) take(b);
  auto closer = [&](const TableEntry& a, const TableEntry& b) { return closer_to(target, a.id, b.id); };
  if (out.size() > n) {
    std::partial_sort(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(n), out.end(), closer);
    out.resize(n);
  } else {
    std::sort(out.begin(), out.end(), closer);
  }
  return out;
}

std::vector<TableEntry> RoutingTable::all() const {
  std::vector<TableEntry> out;
  out.reserve(size_);
  for (const auto& b : buckets_) out.insert(out.end(), b.entries.begin(), b.entries.end());
  return out;
}

std::size_t RoutingTable::replacements() const {
  std::size_t n = 0;
  for (const auto& b : buckets_) n += b.replacements.size();
  return n;
}

std::vector<int> RoutingTable::stale_buckets(TimeMs now, TimeMs refresh_ms) const {
  // Buckets beyond the deepest non-empty one cannot hold anyone yet in a
  // network this size; refreshing them would only find the same nodes.
  int deepest = -1;
  for (int i = 0; i < static_cast<int>(buckets_.size()); ++i) {
    if (!buckets_[i].entries.empty()) deepest = i;
  }
  std::vector<int> out;
  for (int i = 0; i <= deepest; ++i) {
    if (now - buckets_[i].last_touched >= refresh_ms) out.push_back(i);
  }
  return out;
}

int RoutingTable::neighbourhood_bucket() const {
  std::size_t seen = 0;
  for (int i = static_cast<int>(buckets_.size()) - 1; i >= 0; --i) {
    seen += buckets_[i].entries.size();
    if (seen >= k_) return i;
  }
  return -1;
}

void RoutingTable::touch_bucket(int bucket, TimeMs now) {
  if (bucket >= 0 && bucket < kBuckets) {
    Bucket& b = bucket_grow(bucket);
    b.last_touched = std::max(b.last_touched, now);
  }
}

NodeId RoutingTable::random_id_in(int bucket, Rng& rng) const {
  NodeId id;
  rng.fill({id.data(), id.size()});
  // Copy our first `bucket` bits, then flip the next one.
  for (int bit = 0; bit <= bucket && bit < 256; ++bit) {
    int byte = bit / 8;
    std::uint8_t mask = static_cast<std::uint8_t>(0x80u >> (bit % 8));
    bool ours = (self_.bytes[byte] & mask) != 0;
    bool want = bit < bucket ? ours : !ours;
    id.bytes[byte] = static_cast<std::uint8_t>(want ? (id.bytes[byte] | mask)
                                                    : (id.bytes[byte] & ~mask));
  }
  return id;
}

}  // namespace bc::routing
