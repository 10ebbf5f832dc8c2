#include "apps/storage/unpaid.hpp"

#include "layers/assert.hpp"

namespace bc::storage {

void EscrowHoldings::add(const ShardId& id, const ShardMeta& m) {
  if (m.price == 0) return;
  Entry& e = by_escrow_[m.escrow_id];
  const bool fresh = e.shards.insert(id).second;
  BC_ASSERT_MSG(fresh, "a shard held twice");
  e.bytes += m.size;
  e.stored_at.insert(m.stored_at);
  e.expires_at.insert(m.expires_at);
  e.price.insert(m.price);
}

void EscrowHoldings::remove(const ShardId& id, const ShardMeta& m) {
  if (m.price == 0) return;
  auto it = by_escrow_.find(m.escrow_id);
  BC_ASSERT_MSG(it != by_escrow_.end() && it->second.shards.erase(id) == 1, "a shard removed that was not held");
  Entry& e = it->second;
  BC_ASSERT(e.bytes >= m.size);
  e.bytes -= m.size;
  e.stored_at.erase(e.stored_at.find(m.stored_at));
  e.expires_at.erase(e.expires_at.find(m.expires_at));
  e.price.erase(e.price.find(m.price));
  if (e.shards.empty()) by_escrow_.erase(it);
}

std::vector<Holding> EscrowHoldings::due(TimeMs stored_before, std::size_t max, const Skip& skip) const {
  std::vector<Holding> out;
  for (const auto& [escrow, e] : by_escrow_) {
    if (out.size() >= max) break;
    if (*e.stored_at.begin() >= stored_before || (skip && skip(escrow, e.bytes))) continue;
    out.push_back(Holding{escrow, e.bytes, *e.stored_at.begin(), *e.expires_at.rbegin(), *e.price.begin(),
                          std::vector<ShardId>(e.shards.begin(), e.shards.end())});
  }
  return out;
}

}  // namespace bc::storage
