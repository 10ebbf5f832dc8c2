// Binary SHA-256 Merkle trees: the one rule that storage providers, clients,
// auditors and the ledger's settlement all check proofs by
// (docs/storage.md "Merkle tree of a shard", docs/proof-of-service.md
// "Storage offers").
//
// Data trees: leaves are leaf_size-byte runs of the data (the last may be
// shorter, and empty data has one empty leaf); leaf and inner hashes carry
// distinct one-byte prefixes, a level with an odd count carries its last
// node up unchanged, and the root binds the data's length and leaf size.
//
// List trees: the same inner nodes over a list of hashes (a storage offer's
// chunk roots); the root binds the list's length.
//
// Pure functions; thread-safe.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "layers/bytes.hpp"
#include "layers/crypto.hpp"

namespace bc::merkle {

// A path is at most this long: 64 levels cover 2^64 leaves.
inline constexpr std::size_t kMaxPathLength = 64;

// One leaf of a data tree and its sibling hashes, from level 0 upward
// (levels where the node was carried up without a sibling are skipped).
struct Proof {
  std::uint64_t leaf_index = 0;
  Bytes leaf;
  std::vector<Hash256> path;
  std::uint64_t shard_size = 0;  // the data's length, which the root binds
  friend bool operator==(const Proof&, const Proof&) = default;
};

// Leaves in data of `size` bytes (at least 1, also for size 0). REQUIRES: leaf_size > 0.
std::uint64_t leaf_count(std::uint64_t size, std::uint32_t leaf_size);

// The root of `data`'s tree. REQUIRES: leaf_size > 0.
Hash256 data_root(ByteView data, std::uint32_t leaf_size);

// A proof for leaf `index` of `data`. REQUIRES: index < leaf_count(data.size()).
Proof make_proof(ByteView data, std::uint64_t index, std::uint32_t leaf_size);

// nullptr when `proof` leads to `root`; otherwise why not (a static string:
// wrong leaf, path, index, size or leaf length). REQUIRES: leaf_size > 0.
const char* proof_mismatch(const Hash256& root, const Proof& proof, std::uint32_t leaf_size);

// The leaf a challenge with `seed` asks for in data of `size` bytes whose
// root is `root`: uniform over the leaves and unknown before the seed is.
std::uint64_t challenge_leaf(const Hash256& seed, const Hash256& root, std::uint64_t size, std::uint32_t leaf_size);

// The root of a list tree over `items` (an empty list has a root too).
Hash256 list_root(std::span<const Hash256> items);

// The sibling path of items[index]. REQUIRES: index < items.size().
std::vector<Hash256> list_path(std::span<const Hash256> items, std::uint64_t index);

// True when `item` is entry `index` of a list of `count` items whose root is
// `root`, as `path` (from list_path) shows.
bool list_path_leads_to(const Hash256& root, std::uint64_t count, std::uint64_t index, const Hash256& item,
                        std::span<const Hash256> path);

}  // namespace bc::merkle
