// The storage probe's rule (ledger/pos/storage_proof.hpp): which signed
// answers are right, and which prove malice of the offer's provider.
#include <doctest/doctest.h>

#include <functional>

#include "ledger/pos/codec.hpp"
#include "ledger/pos/errors.hpp"
#include "ledger/pos/schedule.hpp"
#include "ledger/pos/storage_proof.hpp"

using namespace bc;
using namespace bc::pos;

namespace {

KeyPair key(std::uint8_t i) {
  std::array<std::uint8_t, 32> secret{};
  secret[0] = 9;
  secret[31] = i;
  return *KeyPair::from_secret(secret);
}

Hash256 h(std::string_view s) { return sha256(as_bytes(s)); }

// A provider holding three shards under one storage offer.
struct Fixture {
  std::vector<Bytes> shards = {Bytes(3000, 1), Bytes(5000, 2), Bytes(100, 3)};
  std::vector<Hash256> roots;
  KeyPair provider = key(2);
  Offer offer;

  Fixture() {
    for (const Bytes& s : shards) roots.push_back(merkle::data_root(s, kStorageLeafSize));
    offer.kind = ServiceKind::kStorage;
    offer.service_id = h("storage");
    offer.provider = provider.public_key();
    offer.storage_root = merkle::list_root(roots);
    offer.storage_chunks = roots.size();
    offer.bond = 1000;
    sign_offer(offer, key(1));
  }

  // The provider's signed answer to `seed` about chunk j.
  StorageAnswer answer(std::size_t j, const Hash256& seed) const {
    StorageAnswer a;
    a.shard = roots[j];
    a.seed = seed;
    a.proof = merkle::make_proof(shards[j], merkle::challenge_leaf(seed, roots[j], shards[j].size(), kStorageLeafSize),
                                 kStorageLeafSize);
    sign_storage_answer(a, provider);
    return a;
  }

  StorageEvidence evidence(std::size_t j, StorageAnswer a) const {
    return StorageEvidence{offer_id(offer), 0, j, merkle::list_path(roots, j), std::move(a)};
  }
};

}  // namespace

TEST_CASE("a correct signed answer passes and proves nothing") {
  Fixture f;
  for (std::size_t j = 0; j < f.roots.size(); ++j) {
    const StorageAnswer a = f.answer(j, h("seed" + std::to_string(j)));
    CHECK(storage_answer_mismatch(a) == nullptr);
    CHECK(verify_storage_answer(a, f.provider.public_key()));
    CHECK_FALSE(proves_storage_malice(f.offer, f.evidence(j, a)));
  }
}

TEST_CASE("a signed answer with a changed leaf, path, size or leaf index proves malice") {
  Fixture f;
  const Hash256 seed = h("seed");
  std::vector<std::function<void(StorageAnswer&)>> lies = {
      [](StorageAnswer& a) { a.proof.leaf[0] ^= 1; },
      [](StorageAnswer& a) { a.proof.path[0].bytes[3] ^= 1; },
      [](StorageAnswer& a) { a.proof.path.pop_back(); },
      [](StorageAnswer& a) { a.proof.shard_size -= 1; },
      // A true proof of another leaf does not answer the challenge.
      [&](StorageAnswer& a) { a.proof = merkle::make_proof(f.shards[1], (a.proof.leaf_index + 1) % 5, kStorageLeafSize); },
  };
  for (std::size_t i = 0; i < lies.size(); ++i) {
    CAPTURE(i);
    StorageAnswer a = f.answer(1, seed);
    lies[i](a);
    sign_storage_answer(a, f.provider);
    CHECK(storage_answer_mismatch(a) != nullptr);
    CHECK(proves_storage_malice(f.offer, f.evidence(1, a)));
  }
}

TEST_CASE("nobody but the provider can make storage evidence, and only for a shard of the offer") {
  Fixture f;
  StorageAnswer a = f.answer(0, h("seed"));
  a.proof.leaf[0] ^= 1;
  SUBCASE("signed by someone else") {
    sign_storage_answer(a, key(3));
    CHECK_FALSE(proves_storage_malice(f.offer, f.evidence(0, a)));
  }
  SUBCASE("a shard the offer does not list") {
    const Bytes other(700, 9);
    a.shard = merkle::data_root(other, kStorageLeafSize);
    sign_storage_answer(a, f.provider);
    CHECK_FALSE(proves_storage_malice(f.offer, f.evidence(0, a)));
  }
  SUBCASE("a chunk path of another entry or length") {
    sign_storage_answer(a, f.provider);
    StorageEvidence e = f.evidence(0, a);
    e.chunk = 1;
    CHECK_FALSE(proves_storage_malice(f.offer, e));
    e = f.evidence(0, a);
    e.chunk_path.push_back(h("extra"));
    CHECK_FALSE(proves_storage_malice(f.offer, e));
    e = f.evidence(0, a);
    e.chunk = f.offer.storage_chunks;  // beyond the list
    CHECK_FALSE(proves_storage_malice(f.offer, e));
  }
  SUBCASE("evidence filed under another offer, or against a generic offer") {
    sign_storage_answer(a, f.provider);
    StorageEvidence e = f.evidence(0, a);
    e.offer_id = h("other offer");
    CHECK_FALSE(proves_storage_malice(f.offer, e));
    Offer generic = f.offer;
    generic.kind = ServiceKind::kGeneric;
    e.offer_id = offer_id(generic);
    CHECK_FALSE(proves_storage_malice(generic, e));
  }
}

TEST_CASE("storage evidence survives the report codec; its bounds hold") {
  Fixture f;
  StorageAnswer a = f.answer(2, h("seed"));
  a.proof.leaf[0] ^= 1;
  sign_storage_answer(a, f.provider);
  Report r;
  r.epoch = 4;
  r.offer_id = offer_id(f.offer);
  r.evidence.push_back(f.evidence(2, a));
  r.probes.push_back(ProbeRecord{});
  sign_report(r, key(5));
  auto back = decode(encode(Message{r}), PosLimits{});
  REQUIRE(back.ok());
  const Report& got = std::get<Report>(*back);
  CHECK(got == r);
  CHECK(proves_storage_malice(f.offer, got.evidence[0]));
  PosLimits tight;
  tight.max_leaf_bytes = a.proof.leaf.size() - 1;
  CHECK(decode(encode(Message{r}), tight).status().code == Error::kOversized);
  tight = PosLimits{};
  tight.max_path = 0;
  CHECK(decode(encode(Message{r}), tight).status().code == Error::kOversized);
}

TEST_CASE("storage challenges are spread over the chunks and follow the secret") {
  std::vector<int> hits(7, 0);
  for (std::uint32_t i = 0; i < 700; ++i) {
    const StorageChallenge c = storage_challenge(h("s"), 3, h("offer"), i, 7);
    REQUIRE(c.chunk < 7);
    ++hits[c.chunk];
    CHECK(c == storage_challenge(h("s"), 3, h("offer"), i, 7));
  }
  for (int n : hits) CHECK(n > 60);  // about 100 each
  CHECK(storage_challenge(h("s"), 3, h("offer"), 0, 7).seed != storage_challenge(h("t"), 3, h("offer"), 0, 7).seed);
}
