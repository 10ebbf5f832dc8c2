// The validator's durable store (consensus/node/file_store.hpp): what the
// signer wrote survives a reopen, so a restarted node never signs twice.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
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

namespace {
Bytes filled(std::size_t n, std::uint8_t v) { return Bytes(n, v); }

void flip_byte(const std::filesystem::path& file, std::uint64_t offset) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  REQUIRE(f.good());
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  f.read(&c, 1);
  c = static_cast<char>(c ^ 0x5a);
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(&c, 1);
}
}  // namespace

TEST_CASE("a key keeps its newest value through many writes, growing values and reopens") {
  const auto dir = temp_dir();
  const std::string key(bft::kSignerKey);
  Bytes last;
  for (int round = 0; round < 3; ++round) {
    auto store = consensus::FileStore::open(dir);
    REQUIRE(store.ok());
    if (round > 0) CHECK(store->get(key) == last);
    for (std::size_t i = 0; i < 20; ++i) {
      // Sizes from a few bytes to past the first slots (64 KiB), so the file grows.
      last = filled(1 + i * i * 400 * static_cast<std::size_t>(round + 1), static_cast<std::uint8_t>(i + round));
      REQUIRE(store->apply(StoreWrite{{{key, last}}, true}).ok());
      CHECK(store->get(key) == last);
    }
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("a torn write of the newest record leaves the one before it") {
  const auto dir = temp_dir();
  const std::string key(bft::kSignerKey);
  {
    auto store = consensus::FileStore::open(dir);
    REQUIRE(store.ok());
    REQUIRE(store->apply(StoreWrite{{{key, filled(100, 1)}}, true}).ok());  // a new file: slot 0
    REQUIRE(store->apply(StoreWrite{{{key, filled(100, 2)}}, true}).ok());  // slot 1
  }
  // Slot 1 starts after the 12-byte file header and the 64 KiB of slot 0;
  // its value after the 48-byte slot header.
  flip_byte(dir / "bft_signer.rec", 12 + (64u << 10) + 48 + 10);
  auto store = consensus::FileStore::open(dir);
  REQUIRE(store.ok());
  CHECK(store->get(key) == filled(100, 1));
  // The next write goes over the torn slot, and is the newest again.
  REQUIRE(store->apply(StoreWrite{{{key, filled(100, 3)}}, true}).ok());
  auto reopened = consensus::FileStore::open(dir);
  REQUIRE(reopened.ok());
  CHECK(reopened->get(key) == filled(100, 3));
  std::filesystem::remove_all(dir);
}

TEST_CASE("a damaged record file is never read as an empty store") {
  const auto dir = temp_dir();
  const std::string key(bft::kSignerKey);
  {
    auto store = consensus::FileStore::open(dir);
    REQUIRE(store.ok());
    REQUIRE(store->apply(StoreWrite{{{key, filled(100, 1)}}, true}).ok());
  }
  flip_byte(dir / "bft_signer.rec", 12 + 48 + 10);  // the only record
  auto store = consensus::FileStore::open(dir);
  REQUIRE(store.ok());
  auto bytes = store->get(key);
  REQUIRE(bytes.has_value());  // not "never signed": the signer must not start afresh
  CHECK_FALSE(bft::decode_signer_record(*bytes, bft::CodecLimits{}).ok());
  std::filesystem::remove_all(dir);
}

TEST_CASE("a key a plain-file store wrote is read, and its next write moves it to a record file") {
  const auto dir = temp_dir();
  const std::string key(bft::kSignerKey);
  std::filesystem::create_directories(dir);
  {
    std::ofstream old(dir / "bft_signer", std::ios::binary);
    old.write("\x07\x08", 2);
  }
  auto store = consensus::FileStore::open(dir);
  REQUIRE(store.ok());
  CHECK(store->get(key) == Bytes{7, 8});
  REQUIRE(store->apply(StoreWrite{{{key, Bytes{9}}}, true}).ok());
  auto reopened = consensus::FileStore::open(dir);
  REQUIRE(reopened.ok());
  CHECK(reopened->get(key) == Bytes{9});
  REQUIRE(reopened->apply(StoreWrite{{{key, std::nullopt}}, true}).ok());
  CHECK_FALSE(reopened->get(key).has_value());  // both files gone
  std::filesystem::remove_all(dir);
}
