// The Merkle tree of one shard (docs/storage.md "Merkle tree of a shard"):
// layers/merkle.hpp's data tree with the storage leaf size. The shard root is
// the shard's ID; an audit proof is one leaf and its sibling hashes.
// Thread-safe: no shared state.
#pragma once
#include <cstdint>

#include "apps/storage/format.hpp"
#include "layers/merkle.hpp"

namespace bc::storage {

using MerkleProof = merkle::Proof;

// Leaves in a shard of `size` bytes (at least 1, also for size 0).
inline std::uint64_t leaf_count(std::uint64_t size, std::uint32_t leaf_size = kLeafSize) {
  return merkle::leaf_count(size, leaf_size);
}

// The shard root of `shard`. REQUIRES: leaf_size > 0.
inline Hash256 shard_root(ByteView shard, std::uint32_t leaf_size = kLeafSize) {
  return merkle::data_root(shard, leaf_size);
}

// A proof for leaf `index` of `shard`. REQUIRES: index < leaf_count(shard.size()).
inline MerkleProof make_proof(ByteView shard, std::uint64_t index, std::uint32_t leaf_size = kLeafSize) {
  return merkle::make_proof(shard, index, leaf_size);
}

// kOk when `proof` leads to `root` for a shard of proof.shard_size bytes;
// kBadProof otherwise (wrong leaf, path, index, size or leaf length).
Status verify_proof(const Hash256& root, const MerkleProof& proof, std::uint32_t leaf_size = kLeafSize);

// The leaf an audit with `seed` asks for (docs/storage.md "Wire protocol").
inline std::uint64_t audit_leaf_index(const Hash256& seed, const ShardId& shard, std::uint64_t shard_size,
                                      std::uint32_t leaf_size = kLeafSize) {
  return merkle::challenge_leaf(seed, shard, shard_size, leaf_size);
}

}  // namespace bc::storage
