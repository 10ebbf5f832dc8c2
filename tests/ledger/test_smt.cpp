// Sparse Merkle tree: roots against a reference, proofs, tampering.
#include <doctest/doctest.h>

#include <algorithm>
#include <map>

#include "layers/crypto.hpp"
#include "layers/runtime.hpp"
#include "ledger/hash.hpp"
#include "ledger/smt.hpp"

using namespace bc;
using namespace bc::ledger;

namespace {

Hash256 rand_hash(Rng& rng) {
  Hash256 h;
  rng.fill(h.bytes);
  return h;
}

int bit(const Hash256& k, int d) { return (k.bytes[d / 8] >> (7 - d % 8)) & 1; }

// Straight from the definition: recursive over the sorted key set.
Hash256 reference_root(const std::vector<std::pair<Hash256, Hash256>>& items, int depth) {
  if (items.empty()) return Hash256{};
  if (items.size() == 1) return smt_leaf_hash(items[0].first, items[0].second);
  std::vector<std::pair<Hash256, Hash256>> l, r;
  for (const auto& it : items) (bit(it.first, depth) ? r : l).push_back(it);
  return smt_node_hash(reference_root(l, depth + 1), reference_root(r, depth + 1));
}

Hash256 reference(const std::map<Hash256, Hash256>& m) {
  return reference_root(std::vector<std::pair<Hash256, Hash256>>(m.begin(), m.end()), 0);
}

}  // namespace

TEST_CASE("empty tree and one leaf") {
  SparseMerkleTree t;
  CHECK(t.root() == Hash256{});
  Hash256 k{}, v{};
  k.bytes[0] = 1;
  v.bytes[0] = 2;
  t.update(k, v);
  CHECK(t.root() == smt_leaf_hash(k, v));
  t.update(k, std::nullopt);
  CHECK(t.root() == Hash256{});
  CHECK(t.size() == 0);
}

TEST_CASE("roots match the reference definition through inserts, updates and deletes") {
  Rng rng(42);
  SparseMerkleTree t;
  std::map<Hash256, Hash256> m;
  std::vector<Hash256> keys;
  for (int round = 0; round < 2000; ++round) {
    int op = static_cast<int>(rng.uniform(10));
    if (op < 6 || keys.empty()) {
      Hash256 k = rand_hash(rng);
      // Keys sharing long prefixes exercise deep splits.
      if (!keys.empty() && rng.uniform(4) == 0) {
        k = keys[rng.uniform(keys.size())];
        k.bytes[31] ^= static_cast<std::uint8_t>(1 + rng.uniform(255));
      }
      Hash256 v = rand_hash(rng);
      t.update(k, v);
      if (!m.count(k)) keys.push_back(k);
      m[k] = v;
    } else if (op < 8) {
      Hash256 k = keys[rng.uniform(keys.size())];
      Hash256 v = rand_hash(rng);
      t.update(k, v);
      m[k] = v;
    } else {
      std::size_t i = rng.uniform(keys.size());
      t.update(keys[i], std::nullopt);
      m.erase(keys[i]);
      keys.erase(keys.begin() + static_cast<long>(i));
    }
    if (round % 97 == 0) REQUIRE(t.root() == reference(m));
  }
  CHECK(t.root() == reference(m));
  CHECK(t.size() == m.size());
  for (const auto& [k, v] : m) CHECK(t.get(k) == v);
}

TEST_CASE("the root does not depend on insertion order") {
  Rng rng(7);
  std::vector<std::pair<Hash256, Hash256>> items;
  for (int i = 0; i < 300; ++i) items.emplace_back(rand_hash(rng), rand_hash(rng));
  SparseMerkleTree a, b;
  for (const auto& [k, v] : items) a.update(k, v);
  std::reverse(items.begin(), items.end());
  for (const auto& [k, v] : items) b.update(k, v);
  CHECK(a.root() == b.root());
}

TEST_CASE("membership and non-membership proofs verify; tampered ones do not") {
  Rng rng(9);
  SparseMerkleTree t;
  std::vector<std::pair<Hash256, Hash256>> items;
  for (int i = 0; i < 500; ++i) {
    items.emplace_back(rand_hash(rng), rand_hash(rng));
    t.update(items.back().first, items.back().second);
  }
  Hash256 root = t.root();
  for (int i = 0; i < 50; ++i) {
    const auto& [k, v] = items[static_cast<std::size_t>(i)];
    SmtProof p = t.prove(k);
    CHECK(verify_smt_proof(root, k, v, p));
    // Round trip through bytes.
    auto back = SmtProof::decode(p.encode());
    REQUIRE(back.has_value());
    CHECK(verify_smt_proof(root, k, v, *back));
    // Wrong value, wrong root, claimed absent, tampered sibling, truncated path.
    Hash256 v2 = v;
    v2.bytes[0] ^= 1;
    CHECK_FALSE(verify_smt_proof(root, k, v2, p));
    Hash256 r2 = root;
    r2.bytes[5] ^= 1;
    CHECK_FALSE(verify_smt_proof(r2, k, v, p));
    CHECK_FALSE(verify_smt_proof(root, k, std::nullopt, p));
    if (!p.siblings.empty()) {
      SmtProof bad = p;
      bad.siblings.back().bytes[0] ^= 0x80;
      CHECK_FALSE(verify_smt_proof(root, k, v, bad));
      bad = p;
      bad.siblings.pop_back();
      CHECK_FALSE(verify_smt_proof(root, k, v, bad));
    }
  }
  int with_other = 0, with_empty = 0;
  for (int i = 0; i < 200; ++i) {
    Hash256 absent = rand_hash(rng);
    SmtProof p = t.prove(absent);
    CHECK(verify_smt_proof(root, absent, std::nullopt, p));
    CHECK_FALSE(verify_smt_proof(root, absent, rand_hash(rng), p));
    (p.other_leaf ? with_other : with_empty)++;
    if (p.other_leaf) {
      // Presenting the other leaf's proof as absence of that other key fails.
      CHECK_FALSE(verify_smt_proof(root, p.other_leaf->first, std::nullopt, p));
      SmtProof bad = p;
      bad.other_leaf->second.bytes[0] ^= 1;
      CHECK_FALSE(verify_smt_proof(root, absent, std::nullopt, bad));
    }
  }
  CHECK(with_other > 0);
  CHECK(with_empty > 0);
  // A present key cannot be proven absent with any of its neighbours' data.
  const auto& [k0, v0] = items[0];
  SmtProof p0 = t.prove(k0);
  SmtProof fake = p0;
  fake.other_leaf.emplace(items[1].first, items[1].second);
  CHECK_FALSE(verify_smt_proof(root, k0, std::nullopt, fake));
  CHECK_FALSE(SmtProof::decode(Bytes{0x01, 0x02, 0x00}).has_value());
}

TEST_CASE("the ledger's midstate tagged hash equals bc::tagged_hash") {
  Rng rng(3);
  for (std::size_t len : {0, 1, 31, 32, 55, 56, 63, 64, 65, 119, 120, 200, 1000}) {
    Bytes data(len);
    rng.fill(data);
    for (const char* tag : {"blockcloud/smt-node/v1", "blockcloud/tx/v1", "x"}) {
      CAPTURE(len);
      CHECK(Tag(tag).hash(data) == tagged_hash(tag, data));
    }
  }
  Hash256 a = rand_hash(rng), b = rand_hash(rng);
  Bytes ab(a.bytes.begin(), a.bytes.end());
  ab.insert(ab.end(), b.bytes.begin(), b.bytes.end());
  CHECK(Tag("t").hash(a, b) == tagged_hash("t", ab));
  CHECK(smt_node_hash(a, b) == tagged_hash("blockcloud/smt-node/v1", ab));
}
