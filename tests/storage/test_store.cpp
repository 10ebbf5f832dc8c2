// The provider's shard store: put / read / remove, quotas, idempotence, the
// group commit, and crash consistency (a real process death between the
// shard's fsync and the index commit, and between the index commit and the
// answers).
#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include "apps/storage/merkle.hpp"
#include "apps/storage/shard_store.hpp"
#include "layers/crypto.hpp"
#include "tests/storage/helpers.hpp"

using namespace bc;
using namespace bc::storage;
using namespace bc::storage::test;

namespace {

struct Stored {
  ShardId id;
  Bytes data;
  Key256 token{};
};

Stored make_shard(std::size_t size, std::uint64_t seed) {
  Stored s{{}, test_bytes(size, seed), {}};
  s.id = shard_root(s.data);
  s.token[0] = static_cast<std::uint8_t>(seed);
  return s;
}

ShardMeta meta_of(const Stored& s) { return ShardMeta{s.data.size(), 1'000'000'000, sha256(s.token)}; }

Status put_sync(Loop& loop, ShardStore& store, const Stored& s) {
  Status out{make_error_code(Errc::kInternal), "not called"};
  store.put(s.id, s.data, meta_of(s), [&](Status st) { out = st; });
  loop.run();
  return out;
}

Result<Bytes> read_sync(Loop& loop, ShardStore& store, const ShardId& id, std::uint64_t off, std::uint32_t len) {
  Result<Bytes> out = Status{make_error_code(Errc::kInternal), "not called"};
  store.read(id, off, len, [&](Result<Bytes> r) { out = std::move(r); });
  loop.run();
  return out;
}

Status remove_sync(Loop& loop, ShardStore& store, const ShardId& id, const Key256& token) {
  Status out{make_error_code(Errc::kInternal), "not called"};
  store.remove(id, token, [&](Status st) { out = st; });
  loop.run();
  return out;
}

std::unique_ptr<ShardStore> open_store(Loop& loop, const TempDir& dir, std::uint64_t capacity) {
  auto s = ShardStore::open(loop.get(), StoreOptions{dir.path(), capacity, {}});
  REQUIRE(s.ok());
  return std::move(s).value();
}

std::vector<Stored> make_shards(std::size_t n, std::size_t size, std::uint64_t first_seed) {
  std::vector<Stored> out;
  for (std::size_t i = 0; i < n; ++i) out.push_back(make_shard(size + i, first_seed + i));
  return out;
}

// In a child process: opens the store over `dir`, puts `shards` all at once
// and dies (no destructors, no LevelDB close) at the first `crash_at` stage.
void crash_child_at(const TempDir& dir, const std::vector<Stored>& shards, std::string_view crash_at) {
  Loop loop;
  StoreOptions o{dir.path(), 1u << 24, [crash_at](std::string_view stage) {
                   if (stage == crash_at) _exit(42);
                 }};
  auto store = ShardStore::open(loop.get(), o);
  if (!store.ok()) _exit(1);
  for (const Stored& s : shards) (*store)->put(s.id, s.data, meta_of(s), [](Status) { _exit(2); });
  loop.run();
  _exit(3);
}

void run_crash_child(const TempDir& dir, const std::vector<Stored>& shards, std::string_view crash_at) {
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) crash_child_at(dir, shards, crash_at);
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 42);
}

}  // namespace

TEST_CASE("shard store: put, read ranges, remove with the owner's token only") {
  TempDir dir;
  Loop loop;
  auto store = open_store(loop, dir, 10u << 20);
  const Stored a = make_shard(300'000, 1);
  REQUIRE(put_sync(loop, *store, a).ok());
  CHECK(store->used_bytes() == a.data.size());
  auto all = read_sync(loop, *store, a.id, 0, 1u << 20);
  REQUIRE(all.ok());
  CHECK(*all == a.data);
  auto mid = read_sync(loop, *store, a.id, 1000, 5000);
  REQUIRE(mid.ok());
  CHECK(*mid == Bytes(a.data.begin() + 1000, a.data.begin() + 6000));
  CHECK(error_of(read_sync(loop, *store, a.id, a.data.size(), 10).status()) == Error::kNotFound);
  CHECK(error_of(read_sync(loop, *store, make_shard(10, 2).id, 0, 10).status()) == Error::kNotFound);

  Key256 wrong = a.token;
  wrong[1] ^= 1;
  CHECK(error_of(remove_sync(loop, *store, a.id, wrong)) == Error::kBadToken);
  REQUIRE(remove_sync(loop, *store, a.id, a.token).ok());
  CHECK(store->used_bytes() == 0);
  CHECK(!std::filesystem::exists(store->shard_path(a.id)));
  CHECK(error_of(read_sync(loop, *store, a.id, 0, 10).status()) == Error::kNotFound);
}

TEST_CASE("shard store: quota counts stored and in-flight bytes; a repeated put is free") {
  TempDir dir;
  Loop loop;
  auto store = open_store(loop, dir, 250'000);
  const Stored a = make_shard(100'000, 3), b = make_shard(100'000, 4), c = make_shard(100'000, 5);
  REQUIRE(put_sync(loop, *store, a).ok());
  REQUIRE(put_sync(loop, *store, a).ok());  // idempotent: no second charge
  CHECK(store->used_bytes() == 100'000);
  // Two puts in flight at once: the second must not fit beside the first.
  Status sb, sc;
  store->put(b.id, b.data, meta_of(b), [&](Status s) { sb = s; });
  store->put(c.id, c.data, meta_of(c), [&](Status s) { sc = s; });
  CHECK(store->reserved_bytes() == 100'000);
  loop.run();
  CHECK(sb.ok());
  CHECK(error_of(sc) == Error::kQuotaExceeded);
  CHECK(store->used_bytes() == 200'000);
  CHECK(store->reserved_bytes() == 0);
  REQUIRE(remove_sync(loop, *store, a.id, a.token).ok());
  CHECK(put_sync(loop, *store, c).ok());
  CHECK(store->used_bytes() == 200'000);
}

TEST_CASE("shard store: every put's buffer is handed back once the store is done with it") {
  TempDir dir;
  Loop loop;
  std::vector<Bytes> returned;
  StoreOptions o{dir.path(), 250'000, {}};
  o.recycle = [&](Bytes b) { returned.push_back(std::move(b)); };
  auto opened = ShardStore::open(loop.get(), std::move(o));
  REQUIRE(opened.ok());
  ShardStore& store = **opened;
  const Stored a = make_shard(100'000, 6), b = make_shard(200'000, 7);
  Status sa, sb;
  store.put(a.id, a.data, meta_of(a), [&](Status s) { sa = s; });
  CHECK(returned.empty());  // the write is still to come
  store.put(b.id, b.data, meta_of(b), [&](Status s) { sb = s; });  // over the quota beside a
  REQUIRE(returned.size() == 1);
  CHECK(returned[0] == b.data);  // refused at once, bytes untouched
  loop.run();
  CHECK(sa.ok());
  CHECK(error_of(sb) == Error::kQuotaExceeded);
  REQUIRE(returned.size() == 2);
  CHECK(returned[1] == a.data);
  auto back = read_sync(loop, store, a.id, 0, 1u << 20);  // what was written is on disk, not in the buffer
  REQUIRE(back.ok());
  CHECK(*back == a.data);
}

TEST_CASE("shard store: index entries round-trip; entries of the first format read as free") {
  ShardMeta m{123'456, 987'654'321, sha256(Bytes{1}), sha256(Bytes{2}), 55'555, 7};
  const std::string v = encode_meta(m);
  REQUIRE(v.size() == 96);
  auto back = decode_meta(v);
  REQUIRE(back.has_value());
  CHECK((back->size == m.size && back->expires_at == m.expires_at && back->delete_token_hash == m.delete_token_hash &&
         back->escrow_id == m.escrow_id && back->stored_at == m.stored_at && back->price == m.price));
  auto first_format = decode_meta(v.substr(0, 48));
  REQUIRE(first_format.has_value());
  CHECK((first_format->size == m.size && first_format->delete_token_hash == m.delete_token_hash));
  CHECK((first_format->price == 0 && first_format->escrow_id.is_zero() && first_format->stored_at == 0));
  for (std::size_t n : {0, 47, 49, 95, 97}) CHECK_FALSE(decode_meta(std::string(n, 'x')).has_value());
}

TEST_CASE("shard store: priced shards are held by the escrow their put named, kept across a reopen, and dropped only through it") {
  TempDir dir;
  const Hash256 escrow = sha256(Bytes{9});
  const Stored free_shard = make_shard(1000, 20), a = make_shard(2000, 21), b = make_shard(3000, 22), none = make_shard(500, 23);
  auto priced = [&](const Stored& s, const Hash256& e, TimeMs stored_at) {
    ShardMeta m = meta_of(s);
    m.escrow_id = e;
    m.stored_at = stored_at;
    m.price = 7;
    return m;
  };
  {
    Loop loop;
    auto store = open_store(loop, dir, 1u << 20);
    Status st[4];
    store->put(free_shard.id, free_shard.data, meta_of(free_shard), [&](Status s) { st[0] = s; });
    store->put(a.id, a.data, priced(a, escrow, 100), [&](Status s) { st[1] = s; });
    store->put(b.id, b.data, priced(b, escrow, 300), [&](Status s) { st[2] = s; });
    store->put(none.id, none.data, priced(none, {}, 200), [&](Status s) { st[3] = s; });
    loop.run();
    for (const Status& s : st) REQUIRE(s.ok());
  }
  Loop loop;
  auto store = open_store(loop, dir, 1u << 20);
  CHECK(store->holdings_due(100, 10).empty());  // nothing stored before 100
  auto due = store->holdings_due(1'000, 10);
  REQUIRE(due.size() == 2);  // the escrow's and the one naming none; the free shard is not held
  const Holding& paid_by = due[0].escrow == escrow ? due[0] : due[1];
  const Holding& unnamed = due[0].escrow == escrow ? due[1] : due[0];
  CHECK(paid_by.bytes == 5000);
  CHECK(paid_by.first_stored_at == 100);
  CHECK(paid_by.price == 7);
  CHECK(paid_by.shards.size() == 2);
  CHECK(unnamed.escrow.is_zero());
  CHECK(unnamed.shards == std::vector<ShardId>{none.id});

  auto drop = [&](const ShardId& id, const Hash256& e) {
    Status out{make_error_code(Errc::kInternal), "not called"};
    store->drop_unpaid(id, e, [&](Status s) { out = s; });
    loop.run();
    return out;
  };
  CHECK(error_of(drop(free_shard.id, Hash256{})) == Error::kBusy);  // free: never dropped for payment
  CHECK(error_of(drop(a.id, sha256(Bytes{8}))) == Error::kBusy);    // names another escrow
  REQUIRE(drop(a.id, escrow).ok());
  REQUIRE(drop(b.id, escrow).ok());
  CHECK(store->used_bytes() == free_shard.data.size() + none.data.size());
  due = store->holdings_due(1'000, 10);
  REQUIRE(due.size() == 1);
  CHECK(due[0].escrow.is_zero());
  CHECK(error_of(read_sync(loop, *store, a.id, 0, 10).status()) == Error::kNotFound);
  CHECK(read_sync(loop, *store, free_shard.id, 0, 10).ok());
}

TEST_CASE("shard store: a pinned (committed) shard survives every removal until its last pin goes") {
  TempDir dir;
  Loop loop;
  auto store = open_store(loop, dir, 1u << 20);
  const Stored a = make_shard(2000, 30), b = make_shard(1000, 31);
  ShardMeta expired_meta = meta_of(a);
  expired_meta.expires_at = 10;  // long past: the collector's
  expired_meta.escrow_id = sha256(Bytes{5});
  expired_meta.price = 3;
  Status st;
  store->put(a.id, a.data, expired_meta, [&](Status s) { st = s; });
  loop.run();
  REQUIRE(st.ok());
  REQUIRE(put_sync(loop, *store, b).ok());
  const std::vector<ShardId> list{a.id};
  store->pins().pin(list);
  store->pins().pin(list);  // a second offer's list names it too
  auto removal = [&](auto start) {
    Status out{make_error_code(Errc::kInternal), "not called"};
    start([&](Status s) { out = s; });
    loop.run();
    return out;
  };
  CHECK(store->expired(1'000, 10).empty());  // the collector is not offered it
  CHECK(error_of(removal([&](auto done) { store->collect(a.id, 1'000, done); })) == Error::kCommitted);
  CHECK(error_of(removal([&](auto done) { store->drop_unpaid(a.id, expired_meta.escrow_id, done); })) == Error::kCommitted);
  CHECK(error_of(remove_sync(loop, *store, a.id, a.token)) == Error::kCommitted);  // the owner's delete
  CHECK(read_sync(loop, *store, a.id, 0, 10).ok());
  CHECK(remove_sync(loop, *store, b.id, b.token).ok());  // unpinned shards go as before
  store->pins().unpin(list);
  CHECK(error_of(remove_sync(loop, *store, a.id, a.token)) == Error::kCommitted);  // one list still names it
  store->pins().unpin(list);
  CHECK(store->expired(1'000, 10) == list);
  CHECK(removal([&](auto done) { store->collect(a.id, 1'000, done); }).ok());
  CHECK(store->used_bytes() == 0);
}

TEST_CASE("shard store: reopening keeps every entry and recomputes usage from the index") {
  TempDir dir;
  Loop loop;
  const Stored a = make_shard(5000, 6), b = make_shard(7000, 7);
  {
    auto store = open_store(loop, dir, 1u << 20);
    REQUIRE(put_sync(loop, *store, a).ok());
    REQUIRE(put_sync(loop, *store, b).ok());
  }
  auto store = open_store(loop, dir, 1u << 20);
  CHECK(store->recovery().shards == 2);
  CHECK(store->recovery().orphans_removed == 0);
  CHECK(store->used_bytes() == 12'000);
  auto r = read_sync(loop, *store, b.id, 0, 7000);
  REQUIRE(r.ok());
  CHECK(*r == b.data);
}

TEST_CASE("shard store: a crash between the shard's fsync and the index commit leaves a consistent store") {
  TempDir dir;
  const Stored kept = make_shard(4000, 8), lost = make_shard(9000, 9);
  {
    Loop loop;
    auto store = open_store(loop, dir, 1u << 20);
    REQUIRE(put_sync(loop, *store, kept).ok());
  }
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // The child dies (no destructors, no LevelDB close) at the crash point.
    Loop loop;
    StoreOptions o{dir.path(), 1u << 20, [](std::string_view stage) {
                     if (stage == "shard_synced") _exit(42);
                   }};
    auto store = ShardStore::open(loop.get(), o);
    if (!store.ok()) _exit(1);
    (*store)->put(lost.id, lost.data, meta_of(lost), [](Status) { _exit(2); });
    loop.run();
    _exit(3);
  }
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 42);
  Loop loop;
  auto check_path = dir.path() / "shards" / lost.id.hex().substr(0, 2) / lost.id.hex();
  CHECK(std::filesystem::exists(check_path));  // durable file, no index entry: the crash state
  auto store = open_store(loop, dir, 1u << 20);
  CHECK(store->recovery().orphans_removed == 1);
  CHECK(store->recovery().entries_dropped == 0);
  CHECK(store->recovery().shards == 1);
  CHECK(!std::filesystem::exists(check_path));
  CHECK(store->used_bytes() == kept.data.size());
  CHECK(error_of(read_sync(loop, *store, lost.id, 0, 10).status()) == Error::kNotFound);
  auto r = read_sync(loop, *store, kept.id, 0, 4000);
  REQUIRE(r.ok());
  CHECK(*r == kept.data);
  // The client, told nothing, puts again: it is stored and counted once.
  REQUIRE(put_sync(loop, *store, lost).ok());
  CHECK(store->used_bytes() == kept.data.size() + lost.data.size());
}

TEST_CASE("shard store: a torn file with no entry and an entry whose file was truncated are both repaired") {
  TempDir dir;
  Loop loop;
  const Stored a = make_shard(6000, 10), torn = make_shard(3000, 11);
  {
    auto store = open_store(loop, dir, 1u << 20);
    REQUIRE(put_sync(loop, *store, a).ok());
    std::filesystem::create_directories(store->shard_path(torn.id).parent_path());
    std::ofstream(store->shard_path(torn.id), std::ios::binary).write("half", 4);
    std::filesystem::resize_file(store->shard_path(a.id), 100);  // damage from outside
  }
  auto store = open_store(loop, dir, 1u << 20);
  CHECK(store->recovery().orphans_removed == 1);
  CHECK(store->recovery().entries_dropped == 1);
  CHECK(store->used_bytes() == 0);
  CHECK(error_of(read_sync(loop, *store, a.id, 0, 10).status()) == Error::kNotFound);
}

TEST_CASE("shard store: garbage collection deletes only expired shards, index first, and survives a reopen") {
  TempDir dir;
  Loop loop;
  auto store = open_store(loop, dir, 10u << 20);
  const Stored old_shard = make_shard(10'000, 21), live = make_shard(20'000, 22);
  Status put_old{make_error_code(Errc::kInternal), "not called"};
  store->put(old_shard.id, old_shard.data, ShardMeta{old_shard.data.size(), 5'000, sha256(old_shard.token)},
             [&](Status st) { put_old = st; });
  loop.run();
  REQUIRE(put_old.ok());
  REQUIRE(put_sync(loop, *store, live).ok());  // expires at 1e9
  CHECK(store->expired(5'000, 64).empty());    // not before its expiry
  const auto due = store->expired(6'000, 64);
  REQUIRE(due.size() == 1);
  CHECK(due[0] == old_shard.id);
  // The index is checked again: a collect before the expiry refuses.
  Status early{make_error_code(Errc::kInternal), "not called"};
  store->collect(live.id, 6'000, [&](Status st) { early = st; });
  loop.run();
  CHECK(early.code == Error::kBusy);
  Status collected{make_error_code(Errc::kInternal), "not called"};
  store->collect(old_shard.id, 6'000, [&](Status st) { collected = st; });
  loop.run();
  REQUIRE(collected.ok());
  CHECK_FALSE(std::filesystem::exists(store->shard_path(old_shard.id)));
  CHECK(store->used_bytes() == live.data.size());
  CHECK(store->expired(6'000, 64).empty());
  CHECK(read_sync(loop, *store, old_shard.id, 0, 10).status().code == Error::kNotFound);
  store.reset();
  auto reopened = open_store(loop, dir, 10u << 20);
  CHECK(reopened->recovery().shards == 1);
  CHECK(reopened->used_bytes() == live.data.size());
  CHECK(reopened->expired(2'000'000'000, 64) == std::vector<ShardId>{live.id});  // expiries rebuilt from the index
}

TEST_CASE("shard store: puts arriving together share one directory sync pass and one synced index batch") {
  TempDir dir;
  Loop loop;
  auto store = open_store(loop, dir, 10u << 20);
  const auto shards = make_shards(16, 2000, 100);
  std::size_t answered = 0;
  for (const Stored& s : shards)
    store->put(s.id, s.data, meta_of(s), [&](Status st) {
      CHECK(st.ok());
      ++answered;
    });
  loop.run();
  CHECK(answered == shards.size());
  const SyncCounts& c = store->sync_counts();
  CHECK(c.file_syncs == shards.size());
  CHECK(c.committed_puts == shards.size());
  // libuv's pool runs jobs first in, first out on its 4 threads, and a
  // commit's jobs queue behind the writes already asked for: the first
  // commit runs once at least 13 of the 16 files are durable, and the second
  // takes every one of them that the first did not.
  CHECK(c.index_commits <= shards.size() / 2);
  CHECK(c.dir_syncs <= shards.size() + c.index_commits);  // its own directory per shard, shards/ at most once per commit
  for (const Stored& s : shards) {
    auto r = read_sync(loop, *store, s.id, 0, 1u << 20);
    REQUIRE(r.ok());
    CHECK(*r == s.data);
  }
  CHECK(store->used_bytes() == 16 * 2000 + 120);
}

TEST_CASE("shard store: a crash in a group commit before its index batch loses only unanswered puts") {
  TempDir dir;
  const Stored kept = make_shard(4000, 30);
  {
    Loop loop;
    auto store = open_store(loop, dir, 1u << 24);
    REQUIRE(put_sync(loop, *store, kept).ok());
  }
  const auto shards = make_shards(6, 3000, 31);
  run_crash_child(dir, shards, "shard_synced");
  Loop loop;
  auto store = open_store(loop, dir, 1u << 24);
  CHECK(store->recovery().shards == 1);
  CHECK(store->recovery().entries_dropped == 0);
  CHECK(store->recovery().orphans_removed >= 1);  // at least the commit's own files
  CHECK(store->recovery().orphans_removed <= shards.size());
  CHECK(store->used_bytes() == kept.data.size());
  for (const Stored& s : shards) {
    CHECK(error_of(read_sync(loop, *store, s.id, 0, 10).status()) == Error::kNotFound);
    CHECK_FALSE(std::filesystem::exists(store->shard_path(s.id)));
  }
  auto r = read_sync(loop, *store, kept.id, 0, 4000);
  REQUIRE(r.ok());
  CHECK(*r == kept.data);
}

TEST_CASE("shard store: a crash after a group's index batch keeps every shard it named, whole") {
  TempDir dir;
  const auto shards = make_shards(6, 5000, 40);
  run_crash_child(dir, shards, "index_committed");
  Loop loop;
  auto store = open_store(loop, dir, 1u << 24);
  // The shards the commit named are all there and whole; the others (not
  // yet committed: their files, if any, are orphans) are gone.
  CHECK(store->recovery().entries_dropped == 0);
  CHECK(store->recovery().shards >= 1);
  std::uint64_t readable = 0, bytes = 0;
  for (const Stored& s : shards) {
    auto r = read_sync(loop, *store, s.id, 0, 1u << 20);
    if (!r.ok()) {
      CHECK(error_of(r.status()) == Error::kNotFound);
      continue;
    }
    CHECK(*r == s.data);
    ++readable;
    bytes += s.data.size();
  }
  CHECK(readable == store->recovery().shards);
  CHECK(store->used_bytes() == bytes);
  CHECK(store->recovery().orphans_removed <= shards.size() - readable);
}
