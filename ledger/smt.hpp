// Sparse Merkle tree over 256-bit keys: the ledger's state commitment.
//
// Conceptually a full binary tree of depth 256 whose empty subtrees all hash
// to the default value zero. A subtree holding exactly one leaf hashes to
// that leaf's hash wherever it sits (the leaf is stored at the shallowest
// depth where it is alone), so a tree of n random keys is ~log2(n) deep and
// only non-empty nodes exist. Hashes:
//   leaf(key, value_hash) = tagged_hash("blockcloud/smt-leaf/v1", key || value_hash)
//   node(left, right)     = tagged_hash("blockcloud/smt-node/v1", left || right)   (>= 2 leaves below)
//   empty                 = 32 zero bytes
// Proofs are checked by verify_smt_proof() alone: a light client needs no tree.
#pragma once
#include <cstdint>
#include <optional>
#include <vector>

#include "layers/bytes.hpp"

namespace bc::ledger {

struct SmtProof {
  // Sibling hashes from depth 0 (children of the root) down to the depth
  // where the path ends.
  std::vector<Hash256> siblings;
  // For non-membership: the other leaf found where the path ends (nullopt if
  // it ends in an empty subtree). Ignored for membership proofs.
  std::optional<std::pair<Hash256, Hash256>> other_leaf;  // key, value_hash

  Bytes encode() const;
  static std::optional<SmtProof> decode(ByteView data);
};

Hash256 smt_leaf_hash(const Hash256& key, const Hash256& value_hash);
Hash256 smt_node_hash(const Hash256& left, const Hash256& right);

// value_hash set: proves key -> value_hash is in the tree with this root.
// value_hash nullopt: proves key is absent.
bool verify_smt_proof(const Hash256& root, const Hash256& key, const std::optional<Hash256>& value_hash, const SmtProof& proof);

class SparseMerkleTree {
 public:
  SparseMerkleTree();
  // Sets key -> value_hash, or removes key when value_hash is nullopt.
  // Returns the previous value hash (one walk for both).
  std::optional<Hash256> update(const Hash256& key, const std::optional<Hash256>& value_hash);
  std::optional<Hash256> get(const Hash256& key) const;
  // Recomputes the hashes that updates made stale.
  Hash256 root();
  // Proof for key against root() (membership if present, else non-membership).
  SmtProof prove(const Hash256& key);
  std::size_t size() const { return leaves_; }

 private:
  static constexpr std::uint32_t kNil = 0xffffffffu;
  struct Node {
    std::uint32_t child[2] = {kNil, kNil};
    bool leaf = false;
    bool dirty = false;
    Hash256 hash;        // leaf hash, or cached node hash when !dirty
    Hash256 key;         // leaves only
    Hash256 value_hash;  // leaves only
  };
  std::uint32_t alloc();
  void release(std::uint32_t i);
  std::uint32_t new_leaf(const Hash256& key, const Hash256& vh);
  std::optional<Hash256> insert(const Hash256& key, const Hash256& vh);
  std::optional<Hash256> erase(const Hash256& key);
  Hash256 hash_of(std::uint32_t i);

  std::vector<Node> nodes_;
  std::vector<std::uint32_t> free_;
  std::uint32_t root_ = kNil;
  std::size_t leaves_ = 0;
};

}  // namespace bc::ledger
