#include "layers/merkle.hpp"

#include <algorithm>
#include <optional>

#include "layers/assert.hpp"

namespace bc::merkle {
namespace {

// Distinct prefixes (RFC 6962's idea) keep a leaf from passing as an inner
// node and a root of one kind from passing as the other.
constexpr std::uint8_t kLeafPrefix = 0x00;
constexpr std::uint8_t kNodePrefix = 0x01;
constexpr std::uint8_t kDataRootPrefix = 0x02;
constexpr std::uint8_t kListRootPrefix = 0x03;

Hash256 leaf_hash(Sha256& h, ByteView leaf) {
  const std::uint8_t prefix = kLeafPrefix;
  return h.update(ByteView(&prefix, 1)).update(leaf).finish();
}

Hash256 node_hash(Sha256& h, const Hash256& l, const Hash256& r) {
  const std::uint8_t prefix = kNodePrefix;
  return h.update(ByteView(&prefix, 1)).update(l.view()).update(r.view()).finish();
}

void put_be(std::uint8_t* p, std::uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i, v >>= 8) p[i] = static_cast<std::uint8_t>(v);
}

Hash256 bind_data_root(Sha256& h, std::uint64_t size, std::uint32_t leaf_size, const Hash256& tree_root) {
  std::uint8_t head[13];
  head[0] = kDataRootPrefix;
  put_be(head + 1, size, 8);
  put_be(head + 9, leaf_size, 4);
  return h.update(ByteView(head, sizeof head)).update(tree_root.view()).finish();
}

Hash256 bind_list_root(Sha256& h, std::uint64_t count, const Hash256& tree_root) {
  std::uint8_t head[9];
  head[0] = kListRootPrefix;
  put_be(head + 1, count, 8);
  return h.update(ByteView(head, sizeof head)).update(tree_root.view()).finish();
}

ByteView leaf_at(ByteView data, std::uint64_t i, std::uint32_t leaf_size) {
  const std::uint64_t start = i * leaf_size;
  if (start >= data.size()) return {};
  const std::uint64_t len = std::min<std::uint64_t>(leaf_size, data.size() - start);
  return data.subspan(start, len);
}

std::vector<Hash256> leaf_level(Sha256& h, ByteView data, std::uint32_t leaf_size) {
  const std::uint64_t n = leaf_count(data.size(), leaf_size);
  std::vector<Hash256> level;
  level.reserve(n);
  for (std::uint64_t i = 0; i < n; ++i) level.push_back(leaf_hash(h, leaf_at(data, i, leaf_size)));
  return level;
}

// Replaces `level` by the one above it.
void climb(Sha256& h, std::vector<Hash256>& level) {
  const std::size_t n = level.size();
  std::size_t out = 0;
  for (std::size_t i = 0; i + 1 < n; i += 2) level[out++] = node_hash(h, level[i], level[i + 1]);
  if (n % 2 == 1) level[out++] = level[n - 1];
  level.resize(out);
}

Hash256 top_of(Sha256& h, std::vector<Hash256> level) {
  while (level.size() > 1) climb(h, level);
  BC_ASSERT(level.size() == 1);
  return level[0];
}

// The siblings of level[index] from this level up to the top.
std::vector<Hash256> path_of(Sha256& h, std::vector<Hash256> level, std::uint64_t index) {
  std::vector<Hash256> path;
  while (level.size() > 1) {
    const std::uint64_t sibling = index ^ 1;
    if (sibling < level.size()) path.push_back(level[sibling]);
    climb(h, level);
    index /= 2;
  }
  BC_ASSERT(path.size() <= kMaxPathLength);
  return path;
}

// The top of a tree of `width` nodes in which `node` sits at `index`, climbed
// with `path`; nullopt when the path has the wrong length for that position.
std::optional<Hash256> climb_path(Sha256& h, Hash256 node, std::uint64_t index, std::uint64_t width,
                                  std::span<const Hash256> path) {
  std::size_t used = 0;
  while (width > 1) {
    if ((index ^ 1) < width) {
      if (used == path.size()) return std::nullopt;
      const Hash256& s = path[used++];
      node = (index % 2 == 0) ? node_hash(h, node, s) : node_hash(h, s, node);
    }
    index /= 2;
    width = (width + 1) / 2;
  }
  if (used != path.size()) return std::nullopt;
  return node;
}

}  // namespace

std::uint64_t leaf_count(std::uint64_t size, std::uint32_t leaf_size) {
  BC_ASSERT(leaf_size > 0);
  // Without size + leaf_size - 1: a hostile size near 2^64 would wrap.
  return size == 0 ? 1 : size / leaf_size + (size % leaf_size != 0);
}

Hash256 data_root(ByteView data, std::uint32_t leaf_size) {
  Sha256 h;
  const Hash256 top = top_of(h, leaf_level(h, data, leaf_size));
  return bind_data_root(h, data.size(), leaf_size, top);
}

Proof make_proof(ByteView data, std::uint64_t index, std::uint32_t leaf_size) {
  BC_ASSERT(index < leaf_count(data.size(), leaf_size));
  Sha256 h;
  Proof proof;
  proof.leaf_index = index;
  proof.shard_size = data.size();
  const ByteView leaf = leaf_at(data, index, leaf_size);
  proof.leaf.assign(leaf.begin(), leaf.end());
  proof.path = path_of(h, leaf_level(h, data, leaf_size), index);
  return proof;
}

const char* proof_mismatch(const Hash256& root, const Proof& proof, std::uint32_t leaf_size) {
  BC_ASSERT(leaf_size > 0);
  const std::uint64_t leaves = leaf_count(proof.shard_size, leaf_size);
  if (proof.leaf_index >= leaves) return "leaf index beyond the data";
  const std::uint64_t start = proof.leaf_index * leaf_size;
  const std::uint64_t want_len = proof.shard_size == 0 ? 0 : std::min<std::uint64_t>(leaf_size, proof.shard_size - start);
  if (proof.leaf.size() != want_len) return "leaf has the wrong length";
  Sha256 h;
  const auto top = climb_path(h, leaf_hash(h, proof.leaf), proof.leaf_index, leaves, proof.path);
  if (!top) return "path has the wrong length";
  if (bind_data_root(h, proof.shard_size, leaf_size, *top) != root) return "root mismatch";
  return nullptr;
}

std::uint64_t challenge_leaf(const Hash256& seed, const Hash256& root, std::uint64_t size, std::uint32_t leaf_size) {
  Sha256 h;
  const Hash256 d = h.update(as_bytes("blockcloud/storage/audit/v1")).update(seed.view()).update(root.view()).finish();
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | d.bytes[i];
  return v % leaf_count(size, leaf_size);
}

Hash256 list_root(std::span<const Hash256> items) {
  Sha256 h;
  const Hash256 top = items.empty() ? Hash256{} : top_of(h, std::vector<Hash256>(items.begin(), items.end()));
  return bind_list_root(h, items.size(), top);
}

std::vector<Hash256> list_path(std::span<const Hash256> items, std::uint64_t index) {
  BC_ASSERT(index < items.size());
  Sha256 h;
  return path_of(h, std::vector<Hash256>(items.begin(), items.end()), index);
}

bool list_path_leads_to(const Hash256& root, std::uint64_t count, std::uint64_t index, const Hash256& item,
                        std::span<const Hash256> path) {
  if (index >= count || path.size() > kMaxPathLength) return false;
  Sha256 h;
  const auto top = climb_path(h, item, index, count, path);
  return top && bind_list_root(h, count, *top) == root;
}

}  // namespace bc::merkle
