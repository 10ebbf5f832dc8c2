// Verify and repair over in-process providers: lost providers, a provider
// that silently deletes shards, and what repair refuses.
#include <doctest/doctest.h>

#include <filesystem>

#include "tests/storage/pipeline_fixture.hpp"

using namespace bc;
using namespace bc::storage;
using namespace bc::storage::test;

namespace {

constexpr TimeMs kExpires = 10'000'000;

// Removes every `every`-th shard file provider `p` holds behind its back;
// returns how many.
int delete_shard_files(Net& n, std::size_t p, int every) {
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::recursive_directory_iterator(n.dirs[p]->path() / "shards"))
    if (e.is_regular_file()) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  int removed = 0;
  for (std::size_t i = 0; i < files.size(); i += every, ++removed) std::filesystem::remove(files[i]);
  return removed;
}

}  // namespace

TEST_CASE("repair: 2 providers lost, rebuilt elsewhere, then 2 more lost: the file still comes back") {
  Net n(8);
  StorageClient client(master_key(), *n.net);
  const Bytes data = test_bytes(7 * kSegment + 4321, 31);
  auto f = client.put(source_of(data), options(), n.net->now());
  REQUIRE(f.ok());
  n.net->set_down(0, true);
  n.net->set_down(4, true);  // a data shard's provider and a parity shard's

  auto health = client.verify(*f);
  REQUIRE(health.ok());
  CHECK(health->audits == 8 * 6);
  CHECK(health->unhealthy() == std::vector<std::uint32_t>{0, 4});
  CHECK(health->worst_segment_good == 4);
  CHECK(health->recoverable());

  auto repaired = client.repair(*f, health->unhealthy(), {6, 7}, kExpires);
  REQUIRE_MESSAGE(repaired.ok(), repaired.status().text());
  CHECK(repaired->cid == f->cid);  // same manifest: rebuilt shards have their old roots
  CHECK(repaired->placement == std::vector<std::size_t>{6, 1, 2, 3, 7, 5});
  CHECK(client.stats().shards_repaired == 2 * 8);
  auto after = client.verify(*repaired);
  REQUIRE(after.ok());
  CHECK(after->unhealthy().empty());

  n.net->set_down(1, true);
  n.net->set_down(5, true);  // four of the original six gone now
  StorageClient reader(master_key(), *n.net);
  auto back = get_all(reader, *repaired);
  REQUIRE_MESSAGE(back.ok(), back.status().text());
  CHECK(*back == data);
}

TEST_CASE("repair: a provider that silently deletes 10% of its shards is caught by verify and repaired") {
  Net n(7);
  StorageClient client(master_key(), *n.net);
  const Bytes data = test_bytes(20 * kSegment, 32);
  auto f = client.put(source_of(data), options(), n.net->now());
  REQUIRE(f.ok());
  const int removed = delete_shard_files(n, 2, 10);
  REQUIRE(removed == 2);  // 20 shards on provider 2, every tenth

  auto health = client.verify(*f);
  REQUIRE(health.ok());
  CHECK(health->unhealthy() == std::vector<std::uint32_t>{2});
  CHECK(health->failed[2] == static_cast<std::uint64_t>(removed));
  CHECK(health->worst_segment_good == 5);

  auto repaired = client.repair(*f, {2}, {6}, kExpires);
  REQUIRE_MESSAGE(repaired.ok(), repaired.status().text());
  CHECK(n.net->provider(2).store().used_bytes() == 0);  // the cheat's remaining copies were deleted
  n.net->set_down(0, true);
  n.net->set_down(1, true);
  StorageClient reader(master_key(), *n.net);
  auto back = get_all(reader, *repaired);
  REQUIRE_MESSAGE(back.ok(), back.status().text());
  CHECK(*back == data);
  CHECK(reader.stats().decodes == 20);
}

TEST_CASE("repair: rebuilding onto the shard's own provider keeps that copy (it is not deleted as old)") {
  Net n(6);
  StorageClient client(master_key(), *n.net);
  const Bytes data = test_bytes(3 * kSegment, 33);
  auto f = client.put(source_of(data), options(), n.net->now());
  REQUIRE(f.ok());
  auto repaired = client.repair(*f, {3}, {3}, kExpires);
  REQUIRE_MESSAGE(repaired.ok(), repaired.status().text());
  CHECK(repaired->placement == f->placement);
  auto health = client.verify(*repaired);
  REQUIRE(health.ok());
  CHECK(health->unhealthy().empty());
  CHECK(n.net->provider(3).store().used_bytes() > 0);
}

TEST_CASE("repair: refuses bad plans and too few survivors, naming the problem") {
  Net n(8);
  StorageClient client(master_key(), *n.net);
  auto f = client.put(source_of(test_bytes(2 * kSegment, 34)), options(), n.net->now());
  REQUIRE(f.ok());
  auto msg = [&](const std::vector<std::uint32_t>& lost, const std::vector<std::size_t>& to) {
    auto r = client.repair(*f, lost, to, kExpires);
    CHECK_FALSE(r.ok());
    return r.ok() ? std::string() : r.status().message;
  };
  CHECK(msg({0, 1}, {6}).find("one replacement provider per lost shard") != std::string::npos);
  CHECK(msg({0, 0}, {6, 7}).find("named twice") != std::string::npos);
  CHECK(msg({9}, {6}).find("does not exist") != std::string::npos);
  CHECK(msg({0}, {1}).find("hold no other shard") != std::string::npos);  // provider 1 keeps shard 1
  CHECK(msg({0}, {99}).find("unknown provider") != std::string::npos);

  for (std::size_t p : {0, 1, 2}) n.net->set_down(p, true);
  auto health = client.verify(*f);
  REQUIRE(health.ok());
  CHECK_FALSE(health->recoverable());
  auto r = client.repair(*f, {0, 1, 2}, {0, 6, 7}, kExpires);
  CHECK(error_of(r.status()) == Error::kNotEnoughShards);
  CHECK(r.status().message.find("repair stopped at segment 0") != std::string::npos);
}
