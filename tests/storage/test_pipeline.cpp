// The client pipeline over in-process providers: round trips, lost and
// lying providers, audits, deletes and bounded memory.
#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>

#include "apps/storage/pipeline.hpp"
#include "tests/storage/pipeline_fixture.hpp"

using namespace bc;
using namespace bc::storage;
using namespace bc::storage::test;

TEST_CASE("pipeline: round trips at several sizes, including empty and segment edges") {
  Net n(6);
  StorageClient client(master_key(), *n.net);
  for (std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{1000}, std::size_t{kSegment - 16},
                           std::size_t{kSegment}, std::size_t{kSegment + 1}, std::size_t{5 * kSegment + 12345}}) {
    CAPTURE(size);
    const Bytes data = test_bytes(size, size + 17);
    auto f = client.put(source_of(data), options(), n.net->now());
    REQUIRE_MESSAGE(f.ok(), f.status().text());
    auto back = get_all(client, *f);
    REQUIRE_MESSAGE(back.ok(), back.status().text());
    CHECK(*back == data);
  }
  CHECK(client.stats().decodes == 0);  // all providers up: data shards only
}

TEST_CASE("pipeline: any 2 of 6 providers down, the file still comes back; 3 down, not_enough_shards") {
  Net n(6);
  StorageClient client(master_key(), *n.net);
  const Bytes data = test_bytes(3 * kSegment + 999, 5);
  auto f = client.put(source_of(data), options(), n.net->now());
  REQUIRE(f.ok());
  for (std::size_t a = 0; a < 6; ++a)
    for (std::size_t b = a + 1; b < 6; ++b) {
      CAPTURE(a);
      CAPTURE(b);
      n.net->set_down(a, true);
      n.net->set_down(b, true);
      StorageClient reader(master_key(), *n.net);
      auto back = get_all(reader, *f);
      REQUIRE_MESSAGE(back.ok(), back.status().text());
      CHECK(*back == data);
      CHECK(reader.stats().decodes == (b < 4 || a < 4 ? 4 : 0));
      n.net->set_down(a, false);
      n.net->set_down(b, false);
    }
  for (std::size_t i : {0, 2, 5}) n.net->set_down(i, true);
  StorageClient reader(master_key(), *n.net);
  CHECK(error_of(get_all(reader, *f).status()) == Error::kNotEnoughShards);
}

TEST_CASE("pipeline: a provider serving wrong bytes is caught by the root check and another shard is used") {
  Net n(6);
  StorageClient client(master_key(), *n.net);
  const Bytes data = test_bytes(2 * kSegment + 77, 6);
  auto f = client.put(source_of(data), options(), n.net->now());
  REQUIRE(f.ok());
  // Bit rot on provider 1's disk: flip one byte in every shard file it holds.
  const auto shards_dir = n.dirs[1]->path() / "shards";
  int flipped = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(shards_dir)) {
    if (!e.is_regular_file()) continue;
    std::fstream file(e.path(), std::ios::in | std::ios::out | std::ios::binary);
    file.seekg(10);
    char c = 0;
    file.read(&c, 1);
    c ^= 0x20;
    file.seekp(10);
    file.write(&c, 1);
    ++flipped;
  }
  REQUIRE(flipped == 3);
  StorageClient reader(master_key(), *n.net);
  auto back = get_all(reader, *f);
  REQUIRE(back.ok());
  CHECK(*back == data);
  CHECK(reader.stats().bad_shards == 1);   // caught once, then the provider is asked last
  CHECK(reader.stats().decodes == 3);      // each segment rebuilt from a parity shard
  // The audit of a rotten shard fails (the provider finds the damage
  // before it would sign a wrong proof, and says so); a healthy one passes.
  Hash256 seed{};
  CHECK(reader.audit(*f, 0, 0, seed).ok());
  bool any_failed = false;
  for (int s = 0; s < 32 && !any_failed; ++s) {
    seed.bytes[0] = static_cast<std::uint8_t>(s);  // until the challenge lands on the flipped leaf (leaf 0)
    any_failed = error_of(reader.audit(*f, 1, 1, seed)) == Error::kCorrupt;
  }
  CHECK(any_failed);
}

TEST_CASE("pipeline: a wrong master key cannot open the manifest; a forged CID is refused") {
  Net n(6);
  StorageClient client(master_key(), *n.net);
  const Bytes data = test_bytes(1000, 8);
  auto f = client.put(source_of(data), options(), n.net->now());
  REQUIRE(f.ok());
  Key256 other = master_key();
  other[0] ^= 1;
  StorageClient stranger(other, *n.net);
  CHECK(error_of(get_all(stranger, *f).status()) == Error::kAuthFailed);
  StoredFile forged = *f;
  forged.cid.bytes[0] ^= 1;
  CHECK(error_of(get_all(client, forged).status()) == Error::kBadRoot);
}

TEST_CASE("pipeline: a put that does not fit is refused with the provider's reason; delete frees the space") {
  Net n(7, 300'000);
  StorageClient client(master_key(), *n.net);
  const Bytes big = test_bytes(20 * kSegment, 9);  // 1.25 MiB -> ~330 KiB per provider
  auto too_big = client.put(source_of(big), options(), n.net->now());
  CHECK(error_of(too_big.status()) == Error::kQuotaExceeded);
  const Bytes small = test_bytes(8 * kSegment, 10);
  auto f = client.put(source_of(small), options({6, 5, 4, 3, 2, 1}), n.net->now());
  REQUIRE_MESSAGE(f.ok(), f.status().text());
  CHECK(n.net->provider(6).store().used_bytes() > 0);
  REQUIRE(client.remove(*f).ok());
  for (std::size_t i = 1; i < 7; ++i) CHECK(n.net->provider(i).store().used_bytes() == 0);
}

TEST_CASE("pipeline: memory stays bounded by the segments in flight whatever the file size") {
  Net n(6, 256u << 20);
  std::size_t peaks[2] = {};
  // Two windows of segments, and 4 MiB
  const std::size_t sizes[2] = {2 * kPutSegmentsInFlight * kSegment, 64 * kSegment};
  for (int t = 0; t < 2; ++t) {
    StorageClient client(master_key(), *n.net);
    std::uint64_t produced = 0;
    Rng rng(t);
    Source gen = [&](std::span<std::uint8_t> out) -> Result<std::size_t> {
      const std::size_t n_out = std::min<std::uint64_t>(out.size(), sizes[t] - produced);
      rng.fill(out.first(n_out));
      produced += n_out;
      return n_out;
    };
    auto f = client.put(gen, options(), n.net->now());
    REQUIRE(f.ok());
    peaks[t] = client.stats().peak_buffer_bytes;
    std::uint64_t consumed = 0;
    REQUIRE(client.get(*f, [&](ByteView d) {
      consumed += d.size();
      return Status::success();
    }).ok());
    CHECK(consumed == sizes[t]);
    peaks[t] = std::max(peaks[t], client.stats().peak_buffer_bytes);
  }
  // A put: two segment buffers (k + m shards each) and the k + m requests
  // of each segment in flight; a get: per segment in flight a buffer and up
  // to k shards being checked. Never a multiple of the file. (The peak
  // itself depends on how the worker thread and the network interleave.)
  const std::size_t shard = (kSegment + kTagBytes + 3) / 4;
  const std::size_t bound = std::max((2 + kPutSegmentsInFlight) * 6, kSegmentsInFlight * 10) * (shard + 1024);
  CHECK(peaks[0] <= bound);
  CHECK(peaks[1] <= bound);
}
