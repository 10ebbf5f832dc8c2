// The Merkle tree of one shard (docs/storage.md "Merkle tree of a shard").
//
// Leaves are kLeafSize-byte runs of the shard (the last may be shorter);
// leaf and inner hashes carry distinct one-byte prefixes, a level with an odd
// count carries its last node up unchanged, and the shard root binds the
// shard's length. The root is the shard's ID; an audit proof is one leaf and
// its sibling hashes. Thread-safe: no shared state.
#pragma once
#include <cstdint>
#include <vector>

#include "apps/storage/format.hpp"

namespace bc::storage {

struct MerkleProof {
  std::uint64_t leaf_index = 0;
  Bytes leaf;                   // the leaf's bytes
  std::vector<Hash256> path;    // siblings from level 0 upward (carried levels skipped)
  std::uint64_t shard_size = 0;
};

// Leaves in a shard of `size` bytes (at least 1, also for size 0).
std::uint64_t leaf_count(std::uint64_t size, std::uint32_t leaf_size = kLeafSize);

// The shard root of `shard`. REQUIRES: leaf_size > 0.
Hash256 shard_root(ByteView shard, std::uint32_t leaf_size = kLeafSize);

// A proof for leaf `index` of `shard`. REQUIRES: index < leaf_count(shard.size()).
MerkleProof make_proof(ByteView shard, std::uint64_t index, std::uint32_t leaf_size = kLeafSize);

// kOk when `proof` leads to `root` for a shard of proof.shard_size bytes;
// kBadProof otherwise (wrong leaf, path, index, size or leaf length).
Status verify_proof(const Hash256& root, const MerkleProof& proof, std::uint32_t leaf_size = kLeafSize);

// The leaf an audit with `seed` asks for (docs/storage.md "Wire protocol").
std::uint64_t audit_leaf_index(const Hash256& seed, const ShardId& shard, std::uint64_t shard_size,
                               std::uint32_t leaf_size = kLeafSize);

}  // namespace bc::storage
