// Resuming a put from its journal: only missing segments are sent, the file
// comes back whole, and a journal from another put, a changed file or a
// damaged journal is refused; a torn last record (a crash mid-append) is not.
#include <doctest/doctest.h>

#include <fstream>

#include "apps/storage/put_journal.hpp"
#include "layers/crypto.hpp"
#include "tests/storage/pipeline_fixture.hpp"

using namespace bc;
using namespace bc::storage;
using namespace bc::storage::test;

namespace {

// A source that fails after `limit` bytes, as a client killed mid-put stops.
Source failing_after(const Bytes& data, std::size_t limit) {
  auto pos = std::make_shared<std::size_t>(0);
  return [&data, pos, limit](std::span<std::uint8_t> out) -> Result<std::size_t> {
    if (*pos >= limit) return fail(Error::kIo, "killed");
    const std::size_t n = std::min({out.size(), data.size() - *pos, limit - *pos});
    std::copy_n(data.begin() + static_cast<std::ptrdiff_t>(*pos), n, out.begin());
    *pos += n;
    return n;
  };
}

PutJournal open_journal(const std::filesystem::path& p) {
  auto j = PutJournal::open(p);
  REQUIRE_MESSAGE(j.ok(), j.status().text());
  return std::move(j).value();
}

}  // namespace

TEST_CASE("put journal: a put killed after 3 of 6 segments resumes and sends only the other 3") {
  Net n(6);
  TempDir tmp;
  const auto path = tmp.path() / "put.journal";
  const Bytes data = test_bytes(5 * kSegment + 1234, 41);
  {
    StorageClient client(master_key(), *n.net);
    PutJournal journal = open_journal(path);
    auto killed = client.put(failing_after(data, 3 * kSegment + 10), options(), n.net->now(), &journal);
    REQUIRE_FALSE(killed.ok());
    CHECK(journal.segments().size() == 3);
  }
  StorageClient client(master_key(), *n.net);
  PutJournal journal = open_journal(path);
  REQUIRE(journal.header().has_value());
  CHECK(journal.segments().size() == 3);
  auto f = client.put(source_of(data), options(), n.net->now(), &journal);
  REQUIRE_MESSAGE(f.ok(), f.status().text());
  CHECK(client.stats().segments_resumed == 3);
  CHECK(client.stats().shards_sent == 3 * 6);
  REQUIRE(journal.finish().ok());
  CHECK_FALSE(std::filesystem::exists(path));
  StorageClient reader(master_key(), *n.net);
  auto back = get_all(reader, *f);
  REQUIRE_MESSAGE(back.ok(), back.status().text());
  CHECK(*back == data);
}

TEST_CASE("put journal: a provider failing mid-put keeps the confirmed shards for the resume") {
  Net n(6);
  TempDir tmp;
  const Bytes data = test_bytes(4 * kSegment, 42);
  StorageClient client(master_key(), *n.net);
  PutJournal journal = open_journal(tmp.path() / "j");
  n.net->set_down(2, true);
  CHECK_FALSE(client.put(source_of(data), options(), n.net->now(), &journal).ok());
  CHECK(n.net->provider(0).store().used_bytes() > 0);  // not deleted: the journal may resume it
  n.net->set_down(2, false);
  auto f = client.put(source_of(data), options(), n.net->now(), &journal);
  REQUIRE_MESSAGE(f.ok(), f.status().text());
  auto back = get_all(client, *f);
  REQUIRE(back.ok());
  CHECK(*back == data);
}

TEST_CASE("put journal: other options or a changed file are refused with what to do") {
  Net n(7);
  TempDir tmp;
  const auto path = tmp.path() / "j";
  Bytes data = test_bytes(3 * kSegment + 5, 43);
  {
    StorageClient client(master_key(), *n.net);
    PutJournal journal = open_journal(path);
    REQUIRE_FALSE(client.put(failing_after(data, 2 * kSegment), options(), n.net->now(), &journal).ok());
  }
  StorageClient client(master_key(), *n.net);
  PutJournal journal = open_journal(path);
  auto other = client.put(source_of(data), options({6, 1, 2, 3, 4, 5}), n.net->now(), &journal);
  CHECK(other.status().message.find("was started with other options") != std::string::npos);
  data[kSegment + 7] ^= 1;
  auto changed = client.put(source_of(data), options(), n.net->now(), &journal);
  CHECK(changed.status().message.find("the file differs") != std::string::npos);
  data.resize(kSegment);
  CHECK(client.put(source_of(data), options(), n.net->now(), &journal).status().message.find("the file differs") !=
        std::string::npos);
}

TEST_CASE("put journal: a torn last record is dropped; a checksummed record of the wrong kind is an error") {
  TempDir tmp;
  const auto path = tmp.path() / "j";
  {
    PutJournal j = open_journal(path);
    PutJournalHeader h;
    h.segment_size = kSegment;
    h.data_shards = 4;
    h.parity_shards = 2;
    h.expires_at = 99;
    h.name = "n";
    h.placement = {0, 1, 2, 3, 4, 5};
    REQUIRE(j.begin(h).ok());
    REQUIRE(j.segment_done({kSegment, Hash256{}, Bytes(6 * 32, 7)}).ok());
  }
  const auto good_size = std::filesystem::file_size(path);
  std::ofstream(path, std::ios::app | std::ios::binary) << std::string("\x40\x00\x00\x00partial", 11);
  {
    PutJournal j = open_journal(path);
    CHECK(j.segments().size() == 1);
    CHECK(j.header()->name == "n");
    CHECK(std::filesystem::file_size(path) == good_size);  // cut back to the last whole record
    REQUIRE(j.segment_done({5, Hash256{}, Bytes(6 * 32, 8)}).ok());
  }
  CHECK(open_journal(path).segments().size() == 2);
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(5);
    f.put('X');  // inside the header's payload: its checksum no longer matches...
  }
  // ...so the header reads as a torn tail and the journal is empty again,
  // which is safe: nothing is resumed from an unverified record.
  CHECK_FALSE(open_journal(path).header().has_value());
  // A whole, checksummed record that is not a put header: damaged, refused.
  const std::string payload = "Zabcd";
  const Hash256 check = sha256(as_bytes(payload));
  std::ofstream(path, std::ios::trunc | std::ios::binary)
      << std::string("\x05\x00\x00\x00", 4) << payload << std::string(reinterpret_cast<const char*>(check.data()), 8);
  auto bad = PutJournal::open(path);
  CHECK(error_of(bad.status()) == Error::kCorrupt);
  CHECK(bad.status().message.find("remove it and put the file again without --resume") != std::string::npos);
}
