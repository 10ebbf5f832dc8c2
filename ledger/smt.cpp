#include "ledger/smt.hpp"

#include <cstring>

#include "layers/crypto.hpp"
#include "ledger/hash.hpp"

namespace bc::ledger {

namespace {

int bit(const Hash256& k, int depth) { return (k.bytes[depth / 8] >> (7 - depth % 8)) & 1; }

const Tag& leaf_tag() {
  static const Tag t("blockcloud/smt-leaf/v1");
  return t;
}
const Tag& node_tag() {
  static const Tag t("blockcloud/smt-node/v1");
  return t;
}

}  // namespace

Hash256 smt_leaf_hash(const Hash256& key, const Hash256& value_hash) { return leaf_tag().hash(key, value_hash); }
Hash256 smt_node_hash(const Hash256& left, const Hash256& right) { return node_tag().hash(left, right); }

bool verify_smt_proof(const Hash256& root, const Hash256& key, const std::optional<Hash256>& value_hash, const SmtProof& proof) {
  const std::size_t depth = proof.siblings.size();
  if (depth > 256) return false;
  Hash256 h;
  if (value_hash) {
    h = smt_leaf_hash(key, *value_hash);
  } else if (proof.other_leaf) {
    const auto& [other, vh] = *proof.other_leaf;
    // The other leaf must sit on key's path and be a different key.
    if (other == key || common_prefix_bits(other, key) < static_cast<int>(depth)) return false;
    h = smt_leaf_hash(other, vh);
  } else {
    h = Hash256{};  // empty subtree
  }
  for (std::size_t i = depth; i-- > 0;) {
    h = bit(key, static_cast<int>(i)) ? smt_node_hash(proof.siblings[i], h) : smt_node_hash(h, proof.siblings[i]);
  }
  return h == root;
}

Bytes SmtProof::encode() const {
  // u16 depth, depth x 32 bytes, u8 has_other, [64 bytes]
  Bytes out;
  out.push_back(static_cast<std::uint8_t>(siblings.size() >> 8));
  out.push_back(static_cast<std::uint8_t>(siblings.size()));
  for (const auto& s : siblings) out.insert(out.end(), s.bytes.begin(), s.bytes.end());
  out.push_back(other_leaf ? 1 : 0);
  if (other_leaf) {
    out.insert(out.end(), other_leaf->first.bytes.begin(), other_leaf->first.bytes.end());
    out.insert(out.end(), other_leaf->second.bytes.begin(), other_leaf->second.bytes.end());
  }
  return out;
}

std::optional<SmtProof> SmtProof::decode(ByteView data) {
  if (data.size() < 3) return std::nullopt;
  std::size_t depth = (std::size_t{data[0]} << 8) | data[1];
  if (depth > 256) return std::nullopt;
  std::size_t need = 2 + depth * 32 + 1;
  if (data.size() < need) return std::nullopt;
  SmtProof p;
  for (std::size_t i = 0; i < depth; ++i) p.siblings.push_back(*Hash256::from_bytes(data.subspan(2 + i * 32, 32)));
  std::uint8_t has = data[need - 1];
  if (has > 1) return std::nullopt;
  if (has) {
    if (data.size() != need + 64) return std::nullopt;
    p.other_leaf.emplace(*Hash256::from_bytes(data.subspan(need, 32)), *Hash256::from_bytes(data.subspan(need + 32, 32)));
  } else if (data.size() != need) {
    return std::nullopt;
  }
  return p;
}

SparseMerkleTree::SparseMerkleTree() { nodes_.reserve(1024); }

std::uint32_t SparseMerkleTree::alloc() {
  if (!free_.empty()) {
    std::uint32_t i = free_.back();
    free_.pop_back();
    nodes_[i] = Node{};
    return i;
  }
  nodes_.emplace_back();
  return static_cast<std::uint32_t>(nodes_.size() - 1);
}

void SparseMerkleTree::release(std::uint32_t i) { free_.push_back(i); }

std::uint32_t SparseMerkleTree::new_leaf(const Hash256& key, const Hash256& vh) {
  std::uint32_t i = alloc();
  Node& n = nodes_[i];
  n.leaf = true;
  n.key = key;
  n.value_hash = vh;
  n.hash = smt_leaf_hash(key, vh);
  ++leaves_;
  return i;
}

std::optional<Hash256> SparseMerkleTree::update(const Hash256& key, const std::optional<Hash256>& value_hash) {
  return value_hash ? insert(key, *value_hash) : erase(key);
}

std::optional<Hash256> SparseMerkleTree::insert(const Hash256& key, const Hash256& vh) {
  if (root_ == kNil) {
    root_ = new_leaf(key, vh);
    return std::nullopt;
  }
  // slot: where the current node index is stored (root_ or a parent's child).
  std::uint32_t parent = kNil;
  int side = 0;
  std::uint32_t cur = root_;
  int depth = 0;
  auto set_slot = [&](std::uint32_t v) {
    if (parent == kNil) root_ = v;
    else nodes_[parent].child[side] = v;
  };
  for (;;) {
    if (nodes_[cur].leaf) {
      if (nodes_[cur].key == key) {
        std::optional<Hash256> old = nodes_[cur].value_hash;
        nodes_[cur].value_hash = vh;
        nodes_[cur].hash = smt_leaf_hash(key, vh);
        return old;
      }
      // Push the existing leaf down until the two keys part.
      const Hash256 other = nodes_[cur].key;
      std::uint32_t existing = cur;
      std::uint32_t leaf = new_leaf(key, vh);
      while (bit(key, depth) == bit(other, depth)) {
        std::uint32_t n = alloc();
        nodes_[n].dirty = true;
        set_slot(n);
        parent = n;
        side = bit(key, depth);
        ++depth;
      }
      std::uint32_t n = alloc();
      nodes_[n].dirty = true;
      nodes_[n].child[bit(key, depth)] = leaf;
      nodes_[n].child[bit(other, depth)] = existing;
      set_slot(n);
      return std::nullopt;
    }
    nodes_[cur].dirty = true;
    int b = bit(key, depth);
    std::uint32_t next = nodes_[cur].child[b];
    if (next == kNil) {
      std::uint32_t leaf = new_leaf(key, vh);
      nodes_[cur].child[b] = leaf;
      return std::nullopt;
    }
    parent = cur;
    side = b;
    cur = next;
    ++depth;
  }
}

std::optional<Hash256> SparseMerkleTree::erase(const Hash256& key) {
  if (root_ == kNil) return std::nullopt;
  std::vector<std::pair<std::uint32_t, int>> path;  // (internal node, side taken)
  std::uint32_t cur = root_;
  int depth = 0;
  while (!nodes_[cur].leaf) {
    int b = bit(key, depth);
    std::uint32_t next = nodes_[cur].child[b];
    if (next == kNil) return std::nullopt;
    path.emplace_back(cur, b);
    cur = next;
    ++depth;
  }
  if (nodes_[cur].key != key) return std::nullopt;
  std::optional<Hash256> old = nodes_[cur].value_hash;
  release(cur);
  --leaves_;
  if (path.empty()) {
    root_ = kNil;
    return old;
  }
  for (auto& [n, b] : path) nodes_[n].dirty = true;
  nodes_[path.back().first].child[path.back().second] = kNil;
  // Lift a lone leaf up while its parent holds nothing else.
  std::size_t i = path.size();
  while (i > 0) {
    std::uint32_t n = path[i - 1].first;
    std::uint32_t a = nodes_[n].child[0], b = nodes_[n].child[1];
    std::uint32_t only = a == kNil ? b : (b == kNil ? a : kNil);
    if (only == kNil || !nodes_[only].leaf) break;
    // Replace n by its only (leaf) child.
    if (i == 1) root_ = only;
    else nodes_[path[i - 2].first].child[path[i - 2].second] = only;
    release(n);
    --i;
  }
  return old;
}

std::optional<Hash256> SparseMerkleTree::get(const Hash256& key) const {
  std::uint32_t cur = root_;
  int depth = 0;
  while (cur != kNil) {
    const Node& n = nodes_[cur];
    if (n.leaf) return n.key == key ? std::optional<Hash256>(n.value_hash) : std::nullopt;
    cur = n.child[bit(key, depth++)];
  }
  return std::nullopt;
}

Hash256 SparseMerkleTree::hash_of(std::uint32_t i) {
  if (i == kNil) return Hash256{};
  Node& n = nodes_[i];
  if (n.leaf || !n.dirty) return n.hash;
  Hash256 l = hash_of(n.child[0]);
  Hash256 r = hash_of(n.child[1]);
  // nodes_ is not resized during hashing, so n stays valid.
  n.hash = smt_node_hash(l, r);
  n.dirty = false;
  return n.hash;
}

Hash256 SparseMerkleTree::root() { return hash_of(root_); }

SmtProof SparseMerkleTree::prove(const Hash256& key) {
  root();
  SmtProof p;
  std::uint32_t cur = root_;
  int depth = 0;
  while (cur != kNil && !nodes_[cur].leaf) {
    int b = bit(key, depth);
    p.siblings.push_back(hash_of(nodes_[cur].child[1 - b]));
    cur = nodes_[cur].child[b];
    ++depth;
  }
  if (cur != kNil && nodes_[cur].key != key) p.other_leaf.emplace(nodes_[cur].key, nodes_[cur].value_hash);
  return p;
}

}  // namespace bc::ledger
