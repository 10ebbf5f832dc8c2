// List trees (layers/merkle.hpp); data trees are exercised with the storage
// primitives (tests/storage/test_primitives.cpp).
#include <doctest/doctest.h>

#include "layers/merkle.hpp"

using namespace bc;

namespace {
std::vector<Hash256> items(std::size_t n) {
  std::vector<Hash256> v;
  for (std::size_t i = 0; i < n; ++i) v.push_back(sha256(as_bytes("item" + std::to_string(i))));
  return v;
}
}  // namespace

TEST_CASE("every entry of lists of 1..40 items has a path to the root, and nothing else does") {
  for (std::size_t n = 1; n <= 40; ++n) {
    const auto v = items(n);
    const Hash256 root = merkle::list_root(v);
    for (std::size_t i = 0; i < n; ++i) {
      CAPTURE(n);
      CAPTURE(i);
      const auto path = merkle::list_path(v, i);
      CHECK(path.size() <= 6);
      CHECK(merkle::list_path_leads_to(root, n, i, v[i], path));
      CHECK_FALSE(merkle::list_path_leads_to(root, n, (i + 1) % n == i ? n : (i + 1) % n, v[i], path));
      CHECK_FALSE(merkle::list_path_leads_to(root, n + 1, i, v[i], path));
      CHECK_FALSE(merkle::list_path_leads_to(root, n, i, sha256(as_bytes("other")), path));
    }
  }
}

TEST_CASE("a list root binds the list's length and order") {
  auto v = items(4);
  const Hash256 four = merkle::list_root(v);
  CHECK(merkle::list_root(std::vector<Hash256>(v.begin(), v.begin() + 3)) != four);
  std::swap(v[0], v[1]);
  CHECK(merkle::list_root(v) != four);
  CHECK(merkle::list_root({}) != merkle::list_root(items(1)));
  // A one-item list's root is not the item, nor a data root of it.
  CHECK(merkle::list_root(items(1)) != items(1)[0]);
}

TEST_CASE("leaf counts hold for any size, and a proof claiming a huge size is refused, not wrapped") {
  CHECK(merkle::leaf_count(0, 1024) == 1);
  CHECK(merkle::leaf_count(1024, 1024) == 1);
  CHECK(merkle::leaf_count(1025, 1024) == 2);
  CHECK(merkle::leaf_count(UINT64_MAX, 1024) == UINT64_MAX / 1024 + 1);
  const Bytes data(3000, 7);
  merkle::Proof p = merkle::make_proof(data, 2, 1024);
  const Hash256 root = merkle::data_root(data, 1024);
  CHECK(merkle::proof_mismatch(root, p, 1024) == nullptr);
  p.shard_size = UINT64_MAX;
  CHECK(merkle::proof_mismatch(root, p, 1024) != nullptr);
}
