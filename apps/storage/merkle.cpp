#include "apps/storage/merkle.hpp"

#include <algorithm>

#include "layers/assert.hpp"
#include "layers/crypto.hpp"

namespace bc::storage {
namespace {

constexpr std::uint8_t kLeafPrefix = 0x00;
constexpr std::uint8_t kNodePrefix = 0x01;
constexpr std::uint8_t kRootPrefix = 0x02;

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

Hash256 bind_root(Sha256& h, std::uint64_t size, std::uint32_t leaf_size, const Hash256& tree_root) {
  std::uint8_t head[13];
  head[0] = kRootPrefix;
  put_be(head + 1, size, 8);
  put_be(head + 9, leaf_size, 4);
  return h.update(ByteView(head, sizeof head)).update(tree_root.view()).finish();
}

ByteView leaf_at(ByteView shard, std::uint64_t i, std::uint32_t leaf_size) {
  const std::uint64_t start = i * leaf_size;
  if (start >= shard.size()) return {};
  const std::uint64_t len = std::min<std::uint64_t>(leaf_size, shard.size() - start);
  return shard.subspan(start, len);
}

std::vector<Hash256> leaf_level(Sha256& h, ByteView shard, std::uint32_t leaf_size) {
  const std::uint64_t n = leaf_count(shard.size(), leaf_size);
  std::vector<Hash256> level;
  level.reserve(n);
  for (std::uint64_t i = 0; i < n; ++i) level.push_back(leaf_hash(h, leaf_at(shard, i, leaf_size)));
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

}  // namespace

std::uint64_t leaf_count(std::uint64_t size, std::uint32_t leaf_size) {
  BC_ASSERT(leaf_size > 0);
  return size == 0 ? 1 : (size + leaf_size - 1) / leaf_size;
}

Hash256 shard_root(ByteView shard, std::uint32_t leaf_size) {
  Sha256 h;
  std::vector<Hash256> level = leaf_level(h, shard, leaf_size);
  while (level.size() > 1) climb(h, level);
  BC_ASSERT(level.size() == 1);
  return bind_root(h, shard.size(), leaf_size, level[0]);
}

MerkleProof make_proof(ByteView shard, std::uint64_t index, std::uint32_t leaf_size) {
  BC_ASSERT(index < leaf_count(shard.size(), leaf_size));
  Sha256 h;
  MerkleProof proof;
  proof.leaf_index = index;
  proof.shard_size = shard.size();
  const ByteView leaf = leaf_at(shard, index, leaf_size);
  proof.leaf.assign(leaf.begin(), leaf.end());
  std::vector<Hash256> level = leaf_level(h, shard, leaf_size);
  std::uint64_t pos = index;
  while (level.size() > 1) {
    const std::uint64_t sibling = pos ^ 1;
    if (sibling < level.size()) proof.path.push_back(level[sibling]);
    climb(h, level);
    pos /= 2;
  }
  BC_ASSERT(proof.path.size() <= 64);
  return proof;
}

Status verify_proof(const Hash256& root, const MerkleProof& proof, std::uint32_t leaf_size) {
  BC_ASSERT(leaf_size > 0);
  const std::uint64_t leaves = leaf_count(proof.shard_size, leaf_size);
  if (proof.leaf_index >= leaves) return fail(Error::kBadProof, "leaf index beyond the shard");
  const std::uint64_t start = proof.leaf_index * leaf_size;
  const std::uint64_t want_len = proof.shard_size == 0 ? 0 : std::min<std::uint64_t>(leaf_size, proof.shard_size - start);
  if (proof.leaf.size() != want_len) return fail(Error::kBadProof, "leaf has the wrong length");
  Sha256 h;
  Hash256 node = leaf_hash(h, proof.leaf);
  std::uint64_t pos = proof.leaf_index, width = leaves;
  std::size_t used = 0;
  while (width > 1) {
    const std::uint64_t sibling = pos ^ 1;
    if (sibling < width) {
      if (used == proof.path.size()) return fail(Error::kBadProof, "path too short");
      const Hash256& s = proof.path[used++];
      node = (pos % 2 == 0) ? node_hash(h, node, s) : node_hash(h, s, node);
    }
    pos /= 2;
    width = (width + 1) / 2;
  }
  if (used != proof.path.size()) return fail(Error::kBadProof, "path too long");
  if (bind_root(h, proof.shard_size, leaf_size, node) != root) return fail(Error::kBadProof, "root mismatch");
  return Status::success();
}

std::uint64_t audit_leaf_index(const Hash256& seed, const ShardId& shard, std::uint64_t shard_size,
                               std::uint32_t leaf_size) {
  Sha256 h;
  const Hash256 d = h.update(as_bytes("blockcloud/storage/audit/v1")).update(seed.view()).update(shard.view()).finish();
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | d.bytes[i];
  return v % leaf_count(shard_size, leaf_size);
}

}  // namespace bc::storage
