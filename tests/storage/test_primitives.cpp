// Merkle tree, erasure coding, segment cipher and manifest.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>

#include "apps/storage/cipher.hpp"
#include "apps/storage/erasure.hpp"
#include "apps/storage/manifest.hpp"
#include "apps/storage/merkle.hpp"
#include "apps/storage/wire/storage.capnp.h"
#include "layers/wire/decode.hpp"
#include "tests/storage/helpers.hpp"

using namespace bc;
using namespace bc::storage;
using bc::storage::test::test_bytes;

TEST_CASE("merkle: every leaf's proof verifies; a changed leaf, path, index or size does not") {
  for (std::size_t size : {0u, 1u, 1023u, 1024u, 1025u, 3000u, 7u * 1024u, 65536u + 5u}) {
    CAPTURE(size);
    const Bytes shard = test_bytes(size, size + 1);
    const Hash256 root = shard_root(shard);
    const std::uint64_t leaves = leaf_count(size);
    for (std::uint64_t i = 0; i < leaves; ++i) {
      MerkleProof p = make_proof(shard, i);
      REQUIRE(verify_proof(root, p).ok());
      if (!p.leaf.empty()) {
        MerkleProof bad = p;
        bad.leaf[0] ^= 1;
        CHECK(error_of(verify_proof(root, bad)) == Error::kBadProof);
      }
      if (!p.path.empty()) {
        MerkleProof bad = p;
        bad.path.back().bytes[3] ^= 0x80;
        CHECK(error_of(verify_proof(root, bad)) == Error::kBadProof);
      }
      MerkleProof wrong_size = p;
      wrong_size.shard_size += 1;
      CHECK(!verify_proof(root, wrong_size).ok());
    }
    if (leaves > 1) {
      MerkleProof swapped = make_proof(shard, 0);
      swapped.leaf_index = 1;
      CHECK(!verify_proof(root, swapped).ok());
    }
  }
}

TEST_CASE("merkle: the root binds the length (a zero-padded shard has another root)") {
  Bytes a = test_bytes(1000, 9);
  Bytes b = a;
  b.push_back(0);
  CHECK(shard_root(a) != shard_root(b));
  CHECK(shard_root(Bytes{}) != shard_root(Bytes{0}));
}

TEST_CASE("erasure 4+2: every 4-subset of the 6 shards rebuilds the data") {
  const std::uint32_t k = 4, m = 2, len = 4097;
  ErasureCoder coder(k, m);
  std::vector<Bytes> shards(k + m, Bytes(len));
  for (std::uint32_t j = 0; j < k; ++j) shards[j] = test_bytes(len, 100 + j);
  std::vector<const std::uint8_t*> data{shards[0].data(), shards[1].data(), shards[2].data(), shards[3].data()};
  std::vector<std::uint8_t*> parity{shards[4].data(), shards[5].data()};
  coder.encode(data, parity, len);
  int subsets = 0;
  for (std::uint32_t mask = 0; mask < 64; ++mask) {
    if (__builtin_popcount(mask) != 4) continue;
    ++subsets;
    std::vector<Bytes> work = shards;
    std::array<bool, 6> present{};
    std::vector<std::uint8_t*> ptrs;
    for (std::uint32_t j = 0; j < 6; ++j) {
      present[j] = (mask >> j) & 1;
      if (!present[j]) std::fill(work[j].begin(), work[j].end(), 0xEE);  // garbage where a shard is lost
      ptrs.push_back(work[j].data());
    }
    REQUIRE(coder.reconstruct_data(ptrs, present, len).ok());
    for (std::uint32_t j = 0; j < k; ++j) CHECK(work[j] == shards[j]);
  }
  CHECK(subsets == 15);
  std::array<bool, 6> three{true, false, true, false, true, false};
  std::vector<std::uint8_t*> ptrs;
  for (auto& s : shards) ptrs.push_back(s.data());
  CHECK(error_of(coder.reconstruct_data(ptrs, three, len)) == Error::kNotEnoughShards);
}

TEST_CASE("erasure: other shapes rebuild from the parity shards alone where k <= m") {
  ErasureCoder coder(3, 5);
  const std::uint32_t len = 333;
  std::vector<Bytes> shards(8, Bytes(len));
  for (int j = 0; j < 3; ++j) shards[j] = test_bytes(len, 7 + j);
  std::vector<const std::uint8_t*> data{shards[0].data(), shards[1].data(), shards[2].data()};
  std::vector<std::uint8_t*> parity;
  for (int j = 3; j < 8; ++j) parity.push_back(shards[j].data());
  coder.encode(data, parity, len);
  std::vector<Bytes> work = shards;
  for (int j = 0; j < 3; ++j) std::fill(work[j].begin(), work[j].end(), 0);
  std::array<bool, 8> present{false, false, false, false, true, true, false, true};
  std::vector<std::uint8_t*> ptrs;
  for (auto& s : work) ptrs.push_back(s.data());
  REQUIRE(coder.reconstruct_data(ptrs, present, len).ok());
  for (int j = 0; j < 3; ++j) CHECK(work[j] == shards[j]);
}

TEST_CASE("segment cipher: round trip; tag, index, salt and key are all checked") {
  Key256 master{};
  master[0] = 1;
  Salt salt{};
  salt[5] = 7;
  const Bytes plain = test_bytes(70000, 3);
  SegmentCipher c(master, salt);
  Bytes sealed(plain.size() + kTagBytes);
  c.seal(4, plain, sealed);
  CHECK(!std::equal(plain.begin(), plain.end(), sealed.begin()));
  Bytes out(plain.size());
  REQUIRE(c.open(4, sealed, out).ok());
  CHECK(out == plain);
  CHECK(error_of(c.open(5, sealed, out)) == Error::kAuthFailed);  // moved to another index
  Bytes flipped = sealed;
  flipped[100] ^= 1;
  CHECK(error_of(c.open(4, flipped, out)) == Error::kAuthFailed);
  Salt other_salt = salt;
  other_salt[0] ^= 1;
  SegmentCipher other(master, other_salt);
  CHECK(error_of(other.open(4, sealed, out)) == Error::kAuthFailed);
  // In place, as the pipeline does it.
  Bytes buf = plain;
  buf.resize(plain.size() + kTagBytes);
  c.seal(9, ByteView(buf.data(), plain.size()), buf);
  REQUIRE(c.open(9, buf, std::span(buf).first(plain.size())).ok());
  CHECK(std::equal(plain.begin(), plain.end(), buf.begin()));
}

TEST_CASE("hkdf: per-file keys differ by salt and by purpose") {
  Key256 master{};
  Salt a{}, b{};
  b[31] = 1;
  CHECK(hkdf_sha256(master, a, as_bytes(kSegmentKeyInfo)) != hkdf_sha256(master, b, as_bytes(kSegmentKeyInfo)));
  CHECK(hkdf_sha256(master, a, as_bytes(kSegmentKeyInfo)) != hkdf_sha256(master, a, as_bytes(kManifestKeyInfo)));
  // RFC 5869 test case 3 (empty salt and info), first bytes of the 42-byte OKM.
  Bytes ikm(22, 0x0b);
  Key256 okm = hkdf_sha256(ikm, {}, {});
  CHECK(to_hex(ByteView(okm.data(), 8)) == "8da4e775a563c18f");
}

namespace {
Manifest sample_manifest() {
  Manifest m;
  m.shape = Shape{5'000'000, 1u << 20, 4, 2};
  m.file_salt.fill(0x42);
  m.shard_roots = test_bytes(m.shape.segment_count() * 6 * 32, 77);
  m.name = "report.pdf";
  return m;
}
}  // namespace

TEST_CASE("manifest: sealed round trip; the CID names the envelope; a wrong key or a flipped bit fails") {
  Key256 master{};
  master[1] = 9;
  const Manifest m = sample_manifest();
  Salt ms{};
  ms[0] = 3;
  const Bytes env = seal_manifest(master, m, ms);
  auto back = open_manifest(master, env);
  REQUIRE(back.ok());
  CHECK(back->shape.file_size == m.shape.file_size);
  CHECK(back->shard_roots == m.shard_roots);
  CHECK(back->name == m.name);
  CHECK(back->root(4, 5) == m.root(4, 5));
  CHECK(content_id(env) != content_id(seal_manifest(master, m, Salt{})));
  Key256 other = master;
  other[0] ^= 1;
  CHECK(error_of(open_manifest(other, env).status()) == Error::kAuthFailed);
  Bytes flipped = env;
  flipped[env.size() / 2] ^= 4;
  CHECK(error_of(open_manifest(master, flipped).status()) == Error::kAuthFailed);
}

TEST_CASE("manifest decoder: truncated, oversized and inconsistent manifests are refused with a reason") {
  const Bytes plain = encode_manifest(sample_manifest());
  REQUIRE(decode_manifest(plain).ok());
  CHECK(error_of(decode_manifest(ByteView(plain).first(plain.size() - 8)).status()) != Error::kOk);
  CHECK(error_of(decode_manifest(ByteView(plain).first(plain.size() - 3)).status()) == Error::kTruncated);
  CHECK(error_of(decode_manifest(Bytes(kMaxManifestBytes + 8)).status()) == Error::kOversized);
  // Built by hand, past the encoder's own checks: the decoder must refuse
  // roots that disagree with the shape, and a shape outside the limits.
  auto hand = [](std::uint8_t k, std::size_t roots_bytes) {
    capnp::MallocMessageBuilder message;
    auto b = message.initRoot<bc::storage::wire::Manifest>();
    b.setVersion(kManifestVersion);
    b.setFileSize(3u << 20);
    b.setSegmentSize(1u << 20);
    b.setDataShards(k);
    b.setParityShards(2);
    b.setLeafSize(kLeafSize);
    Bytes salt(32, 1), roots(roots_bytes, 2);
    b.setFileSalt(kj::arrayPtr(salt.data(), salt.size()));
    b.setShardRoots(kj::arrayPtr(roots.data(), roots.size()));
    return bc::wire::canonical_bytes(message.getRoot<capnp::AnyStruct>().asReader());
  };
  CHECK(decode_manifest(hand(4, 3 * 6 * 32)).ok());
  CHECK(error_of(decode_manifest(hand(4, 3 * 6 * 32 - 32)).status()) == Error::kMalformed);
  CHECK(error_of(decode_manifest(hand(0, 0)).status()) == Error::kBadShape);
  CHECK(error_of(decode_manifest(hand(40, 3 * 42 * 32)).status()) == Error::kBadShape);
}
