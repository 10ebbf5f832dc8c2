// The validator's durable store (consensus/node/file_store.hpp): what the
// signer wrote survives a reopen, so a restarted node never signs twice.
#include <doctest/doctest.h>

#include <filesystem>
#include <random>

#include "consensus/bft/signer.hpp"
#include "consensus/node/file_store.hpp"
#include "layers/crypto.hpp"

using namespace bc;

namespace {
std::filesystem::path temp_dir() {
  std::random_device rd;
  auto p = std::filesystem::temp_directory_path() / ("bc_bft_store_" + std::to_string(rd()));
  std::filesystem::remove_all(p);
  return p;
}
}  // namespace

TEST_CASE("a written key survives a reopen; a deleted one is gone") {
  const auto dir = temp_dir();
  {
    auto store = consensus::FileStore::open(dir);
    REQUIRE(store.ok());
    CHECK_FALSE(store->get(bft::kSignerKey).has_value());
    StoreWrite w{{{std::string(bft::kSignerKey), Bytes{1, 2, 3}}, {std::string(bft::kDecidedKey), Bytes{9}}}, true};
    REQUIRE(store->apply(w).ok());
    REQUIRE(store->apply(StoreWrite{{{std::string(bft::kSignerKey), Bytes{4, 5}}}, true}).ok());
  }
  auto again = consensus::FileStore::open(dir);
  REQUIRE(again.ok());
  CHECK(again->get(bft::kSignerKey) == Bytes{4, 5});
  const auto rec = again->recovery();
  CHECK(rec.signer_record == Bytes{4, 5});
  CHECK(rec.decided_record == Bytes{9});
  REQUIRE(again->apply(StoreWrite{{{std::string(bft::kDecidedKey), std::nullopt}}, true}).ok());
  CHECK_FALSE(again->get(bft::kDecidedKey).has_value());
  std::filesystem::remove_all(dir);
}

TEST_CASE("the signer's record written through the store stops a second signature after a restart") {
  const auto dir = temp_dir();
  const KeyPair key = KeyPair::generate();
  bft::Vote v{Hash256{}, bft::VoteType::kPrevote, 5, 0, std::nullopt, {}, {}};
  {
    auto store = consensus::FileStore::open(dir);
    REQUIRE(store.ok());
    bft::Signer signer(key, bft::SignerRecord{});
    Outbox out;
    REQUIRE(signer.sign_vote(v, bft::Lock{}, out).has_value());
    for (const auto& w : out.writes) REQUIRE(store->apply(w).ok());
  }
  auto store = consensus::FileStore::open(dir);
  REQUIRE(store.ok());
  auto bytes = store->get(bft::kSignerKey);
  REQUIRE(bytes.has_value());
  auto record = bft::decode_signer_record(*bytes, bft::CodecLimits{});
  REQUIRE(record.ok());
  CHECK(record->height == 5);
  bft::Signer restarted(key, *record);
  Outbox out;
  bft::Vote other = v;
  other.value = Hash256{};  // a different value in the same slot
  auto sent = restarted.sign_vote(other, bft::Lock{}, out);
  REQUIRE(sent.has_value());
  CHECK(sent->value == std::nullopt);  // the vote signed before the crash, re-sent
  CHECK(out.writes.empty());
  std::filesystem::remove_all(dir);
}
