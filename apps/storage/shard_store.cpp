#include "apps/storage/shard_store.hpp"

#include <fcntl.h>
#include <leveldb/db.h>
#include <sys/stat.h>
#include <unistd.h>
#include <leveldb/write_batch.h>
#include <uv.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <optional>
#include <utility>

#include "layers/assert.hpp"
#include "layers/crypto.hpp"

namespace bc::storage {
namespace {

constexpr char kShardKeyPrefix = 's';
// Puts named by one group commit: bounds its batch and the directories it
// syncs; the provider's in-flight limits keep fewer than this waiting.
constexpr std::size_t kMaxCommitPuts = 64;

std::string index_key(const ShardId& id) {
  std::string k(1, kShardKeyPrefix);
  k.append(reinterpret_cast<const char*>(id.data()), 32);
  return k;
}

Status io_error(const char* what, std::int64_t uv_code) {
  return fail(Error::kIo, std::string(what) + ": " + uv_strerror(static_cast<int>(uv_code)));
}

// libuv's codes are negated errno values on Unix; uv_strerror's strings are
// static, so this is safe on the pool threads.
Status errno_error(const char* what) { return io_error(what, -errno); }

// Pool thread: makes `path` (a directory: its entries) durable.
Status sync_dir(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno_error("directory open");
  Status s = ::fsync(fd) == 0 ? Status::success() : errno_error("directory fsync");
  ::close(fd);
  return s;
}

Status write_all(int fd, ByteView data) {
  for (std::size_t done = 0; done < data.size();) {
    const ssize_t n = ::pwrite(fd, data.data() + done, data.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return errno_error("shard write");
    done += static_cast<std::size_t>(n);
  }
  return Status::success();
}

// Pool thread: steps 1-2 of the put (docs/storage.md "Crash-consistency
// order"). fdatasync, not fsync: it makes the bytes and the metadata needed
// to read them back (size, blocks) durable and skips only the timestamps,
// which nothing reads; the directory's fsync makes the name durable. Each
// put syncs its own directory here, on its own pool thread, so the
// directory syncs of puts in flight overlap (a commit syncing them one
// after another was slower; with 256 directories two shards of one commit
// rarely share one). On failure the file is removed (else open() would).
Status write_shard_file(const std::string& dir, const std::string& path, ByteView data) {
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) return errno_error("shard directory");
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return errno_error("shard open");
  Status s = write_all(fd, data);
  if (s.ok() && ::fdatasync(fd) != 0) s = errno_error("shard fdatasync");
  if (::close(fd) != 0 && s.ok()) s = errno_error("shard close");
  if (s.ok()) s = sync_dir(dir);
  if (!s.ok()) ::unlink(path.c_str());
  return s;
}

}  // namespace

// One operation in flight: its inputs, its libuv requests and where it is.
// A nested class, so its libuv callbacks (static members) reach the store.
struct ShardStore::Op {
  enum class Kind { kPut, kRead, kRemove };
  // A put is one pool job (kWriteFile: lookup, then the file), then waits
  // for a group commit (ShardStore::Commit); reads and removals step
  // through libuv's file requests.
  enum class Step { kLookup, kWriteFile, kOpen, kClose, kRead, kUnlink };
  Kind kind;
  ShardStore* store;
  ShardId id;
  Bytes data;  // put: the shard is data[data_offset, data_offset + meta.size)
  std::size_t data_offset = 0;
  ReadInto into;                 // read: where the bytes go, asked once the length is known
  std::span<std::uint8_t> dest;  // read: what `into` gave
  ShardMeta meta;
  Key256 token{};
  std::optional<TimeMs> collect_before;  // kRemove by the garbage collector: no token, expired entries only
  std::optional<Hash256> unpaid_of;      // kRemove of an unpaid object: no token, entries naming this escrow only
  std::uint64_t offset = 0;
  std::uint32_t length = 0;
  Done done;
  uv_fs_t fs{};
  uv_work_t work{};
  uv_file fd = -1;
  std::size_t moved = 0;  // bytes written or read so far
  Step step = Step::kLookup;
  // Written on the pool thread by index work, read on the loop thread after it.
  std::optional<ShardMeta> found;
  Status work_status;
  std::uint64_t freed = 0;
  TimeMs freed_expiry = 0;  // the deleted entry's expiry

  Op(Kind k, ShardStore* s, const ShardId& i) : kind(k), store(s), id(i) {
    fs.data = this;
    work.data = this;
  }
  uv_loop_t* loop() const { return store->loop_; }
  std::string path() const { return store->shard_path(id).string(); }
  std::string dir() const { return store->shard_path(id).parent_path().string(); }

  void queue_index_work(Step s) {
    step = s;
    BC_ASSERT(uv_queue_work(loop(), &work, &Op::index_work, &Op::after_index_work) == 0);
  }
  static void index_work(uv_work_t* w);
  static void after_index_work(uv_work_t* w, int status);
  void remove_entry(leveldb::DB& db);
  static void on_fs(uv_fs_t* req);
  void after_lookup();
  void read_step(std::int64_t result);
  void fs_failed(const char* what, std::int64_t code);
  void close_quietly();
};

// One group commit (docs/storage.md "Crash-consistency order", steps 3-4):
// the puts it names, whose files and names are durable. Its pool jobs: sync
// shards/ when one of their fan-out directories is new (else no job), then
// write the index batch; the loop thread runs between them (the test's
// crash point).
struct ShardStore::Commit {
  enum class Step { kSyncDirs, kWriteIndex };
  ShardStore* store;
  std::vector<Op*> puts;
  std::vector<std::string> dirs;  // shards/, when a fan-out directory among them is new
  std::bitset<256> fan_out;       // their fan-out directories, all durable once dirs are synced
  Step step = Step::kSyncDirs;
  Status status;
  uv_work_t work{};

  explicit Commit(ShardStore* s) : store(s) { work.data = this; }
  void queue(Step s) {
    step = s;
    BC_ASSERT(uv_queue_work(store->loop_, &work, &Commit::run, &Commit::after) == 0);
  }
  static void run(uv_work_t* w);
  static void after(uv_work_t* w, int status);
};

ShardStore::ShardStore(uv_loop_s* loop, StoreOptions options) : loop_(loop), options_(std::move(options)) {}

ShardStore::~ShardStore() { BC_ASSERT_MSG(pending_ == 0, "a shard store closed with operations in flight"); }

std::filesystem::path ShardStore::shard_path(const ShardId& id) const {
  const std::string hex = id.hex();
  return options_.dir / "shards" / hex.substr(0, 2) / hex;
}

Result<std::unique_ptr<ShardStore>> ShardStore::open(uv_loop_s* loop, StoreOptions options) {
  BC_ASSERT(loop != nullptr);
  std::error_code ec;
  // Fan-out directories shards/ab/ are made by the first put into each.
  std::filesystem::create_directories(options.dir / "shards", ec);
  if (ec) return fail(Error::kIo, "cannot create " + (options.dir / "shards").string() + ": " + ec.message());
  std::unique_ptr<ShardStore> store(new ShardStore(loop, std::move(options)));
  leveldb::Options lo;
  lo.create_if_missing = true;
  leveldb::DB* db = nullptr;
  leveldb::Status ls = leveldb::DB::Open(lo, (store->options_.dir / "index").string(), &db);
  if (!ls.ok()) return fail(Error::kIo, "index: " + ls.ToString());
  store->db_.reset(db);
  Status s = store->recover();
  if (s.ok()) s = store->trust_fan_out_dirs();
  if (!s.ok()) return s;
  return store;
}

// The fan-out directories found at open may have been made just before a
// crash, their names in shards/ never synced: one sync of shards/ now makes
// every one of them durable, so commits need not sync shards/ for them.
Status ShardStore::trust_fan_out_dirs() {
  const std::filesystem::path shards = options_.dir / "shards";
  Status s = sync_dir(shards.string());
  if (!s.ok()) return s;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(shards, ec)) {
    const std::string name = entry.path().filename().string();
    auto byte = from_hex(name);  // shard_path's spelling: two lowercase hex digits
    if (entry.is_directory() && byte && byte->size() == 1 && to_hex(*byte) == name) durable_dirs_.set((*byte)[0]);
  }
  if (ec) return fail(Error::kIo, "shard directory scan: " + ec.message());
  return Status::success();
}

// Removes files with no index entry and entries with no whole file, then
// sums the entries (docs/storage.md "Crash-consistency order").
Status ShardStore::recover() {
  std::map<ShardId, ShardMeta> entries;
  std::unique_ptr<leveldb::Iterator> it(db_->NewIterator(leveldb::ReadOptions()));
  for (it->Seek(std::string(1, kShardKeyPrefix)); it->Valid() && it->key()[0] == kShardKeyPrefix; it->Next()) {
    auto meta = decode_meta(std::string_view(it->value().data(), it->value().size()));
    auto id = Hash256::from_bytes(
        ByteView(reinterpret_cast<const std::uint8_t*>(it->key().data()) + 1, it->key().size() - 1));
    if (!meta || !id) return fail(Error::kCorrupt, "index entry of the wrong length");
    entries.emplace(*id, *meta);
  }
  if (!it->status().ok()) return fail(Error::kIo, "index scan: " + it->status().ToString());
  std::map<ShardId, std::uint64_t> files;
  std::error_code ec;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(options_.dir / "shards", ec)) {
    if (!entry.is_regular_file()) continue;
    auto id = Hash256::from_hex(entry.path().filename().string());
    if (id && entries.count(*id) && entry.path() == shard_path(*id)) {
      files[*id] = entry.file_size();
      continue;
    }
    std::filesystem::remove(entry.path(), ec);
    ++recovery_.orphans_removed;
  }
  if (ec) return fail(Error::kIo, "shard scan: " + ec.message());
  leveldb::WriteBatch drop;
  for (const auto& [id, meta] : entries) {
    auto f = files.find(id);
    if (f == files.end() || f->second != meta.size) {
      drop.Delete(index_key(id));
      if (f != files.end()) std::filesystem::remove(shard_path(id), ec);
      ++recovery_.entries_dropped;
      continue;
    }
    used_ += meta.size;
    by_expiry_.emplace(meta.expires_at, id);
    holdings_.add(id, meta);
    ++recovery_.shards;
  }
  leveldb::WriteOptions wo;
  wo.sync = true;
  leveldb::Status ls = db_->Write(wo, &drop);
  if (!ls.ok()) return fail(Error::kIo, "index repair: " + ls.ToString());
  return Status::success();
}

void ShardStore::put(const ShardId& id, Bytes data, const ShardMeta& meta, Done done) {
  BC_ASSERT(meta.size == data.size());
  put(id, std::move(data), 0, meta, std::move(done));
}

void ShardStore::put(const ShardId& id, Bytes data, std::size_t offset, const ShardMeta& meta, Done done) {
  BC_ASSERT(offset + meta.size <= data.size() && done);
  if (writing_.count(id)) {
    recycle(std::move(data));
    return done(fail(Error::kBusy, "a put or delete of this shard is under way"));
  }
  if (used_ + reserved_ + meta.size > options_.capacity_bytes) {
    recycle(std::move(data));
    return done(fail(Error::kQuotaExceeded, "the shard does not fit in the provider's capacity"));
  }
  auto* op = new Op(Op::Kind::kPut, this, id);
  op->data = std::move(data);
  op->data_offset = offset;
  op->meta = meta;
  op->done = std::move(done);
  reserved_ += meta.size;
  writing_.insert(id);
  ++pending_;
  op->queue_index_work(Op::Step::kWriteFile);
}

void ShardStore::read(const ShardId& id, std::uint64_t offset, std::uint32_t length, ReadDone done) {
  BC_ASSERT(done);
  auto bytes = std::make_shared<Bytes>();
  read_into(
      id, offset, length,
      [bytes](std::size_t n) {
        bytes->resize(n);
        return std::span<std::uint8_t>(*bytes);
      },
      [bytes, done = std::move(done)](Status s) {
        if (s.ok()) return done(std::move(*bytes));
        done(std::move(s));
      });
}

void ShardStore::read_into(const ShardId& id, std::uint64_t offset, std::uint32_t length, ReadInto into, Done done) {
  BC_ASSERT(into && done);
  auto* op = new Op(Op::Kind::kRead, this, id);
  op->offset = offset;
  op->length = length;
  op->into = std::move(into);
  op->done = std::move(done);
  ++pending_;
  op->queue_index_work(Op::Step::kLookup);
}

void ShardStore::remove(const ShardId& id, const Key256& token, Done done) {
  start_remove(id, done, [&](Op& op) { op.token = token; });
}

// A removal that the collector asks for: the same steps, with the expiry
// check in place of the owner's token.
void ShardStore::collect(const ShardId& id, TimeMs expired_before, Done done) {
  start_remove(id, done, [&](Op& op) { op.collect_before = expired_before; });
}

void ShardStore::drop_unpaid(const ShardId& id, const Hash256& escrow, Done done) {
  start_remove(id, done, [&](Op& op) { op.unpaid_of = escrow; });
}

void ShardStore::start_remove(const ShardId& id, Done& done, const std::function<void(Op&)>& authorise) {
  BC_ASSERT(done);
  if (writing_.count(id)) return done(fail(Error::kBusy, "a put or delete of this shard is under way"));
  if (pins_.contains(id)) return done(fail(Error::kCommitted, "a storage offer commits to it: kept until its list is released"));
  auto* op = new Op(Op::Kind::kRemove, this, id);
  authorise(*op);
  op->done = std::move(done);
  writing_.insert(id);
  ++pending_;
  op->queue_index_work(Op::Step::kLookup);
}

std::vector<ShardId> ShardStore::expired(TimeMs before, std::size_t max) const {
  std::vector<ShardId> out;
  for (auto it = by_expiry_.begin(); it != by_expiry_.end() && it->first < before && out.size() < max; ++it)
    if (!writing_.count(it->second) && !pins_.contains(it->second)) out.push_back(it->second);
  return out;
}

std::vector<ShardId> ShardStore::held(std::size_t max) const {
  std::vector<ShardId> out;
  for (const auto& [expiry, id] : by_expiry_)
    if (!writing_.count(id)) out.push_back(id);
  std::sort(out.begin(), out.end());
  if (out.size() > max) out.resize(max);
  return out;
}

void ShardStore::finish(Op* op, Status s) {
  BC_ASSERT(pending_ > 0);
  if (op->kind == Op::Kind::kPut) {
    BC_ASSERT(reserved_ >= op->meta.size);
    reserved_ -= op->meta.size;
    if (s.ok() && !op->found) {
      used_ += op->meta.size;
      by_expiry_.emplace(op->meta.expires_at, op->id);
      holdings_.add(op->id, op->meta);
    }
    writing_.erase(op->id);
    recycle(std::exchange(op->data, Bytes()));
  } else if (op->kind == Op::Kind::kRemove) {
    if (s.ok()) {
      BC_ASSERT(used_ >= op->freed);
      used_ -= op->freed;
      const std::size_t erased = by_expiry_.erase({op->freed_expiry, op->id});
      BC_ASSERT(erased == 1);  // every index entry is in by_expiry_
      holdings_.remove(op->id, *op->found);
    }
    writing_.erase(op->id);
  }
  --pending_;
  std::unique_ptr<Op> owned(op);
  op->done(std::move(s));
}

void ShardStore::recycle(Bytes buffer) {
  if (options_.recycle && buffer.capacity() > 0) options_.recycle(std::move(buffer));
}

void ShardStore::queue_commit(Op* op) {
  awaiting_commit_.push_back(op);
  start_commit();
}

// Takes every put waiting (up to kMaxCommitPuts) into one commit, unless one
// is under way: the puts whose files become durable meanwhile form the next.
// No timer holds a put back: alone, it commits at once.
void ShardStore::start_commit() {
  if (committing_ || awaiting_commit_.empty()) return;
  auto* c = new Commit(this);
  const std::size_t n = std::min(awaiting_commit_.size(), kMaxCommitPuts);
  c->puts.assign(awaiting_commit_.begin(), awaiting_commit_.begin() + static_cast<std::ptrdiff_t>(n));
  awaiting_commit_.erase(awaiting_commit_.begin(), awaiting_commit_.begin() + static_cast<std::ptrdiff_t>(n));
  for (const Op* op : c->puts) c->fan_out.set(op->id.bytes[0]);
  // A new fan-out directory's name in shards/ was made before any file in
  // it, so one sync of shards/ now covers every new one of this commit.
  if ((c->fan_out & ~durable_dirs_).any()) c->dirs.push_back((options_.dir / "shards").string());
  BC_ASSERT(!c->puts.empty() && c->dirs.size() <= 1);
  committing_ = true;
  if (c->dirs.empty()) return commit_synced(c);  // nothing to sync: no pool round trip
  c->queue(Commit::Step::kSyncDirs);
}

// Loop thread: the commit's files, their names and their directories' names
// are durable.
void ShardStore::commit_synced(Commit* c) {
  if (!c->status.ok()) return commit_done(c);
  syncs_.dir_syncs += c->dirs.size();
  durable_dirs_ |= c->fan_out;
  if (options_.on_stage) options_.on_stage("shard_synced");
  c->queue(Commit::Step::kWriteIndex);
}

// Loop thread: the index batch is durable (or the commit failed): every put
// of it is answered. The next commit starts first, so its syncs overlap
// with the answers to this one.
void ShardStore::commit_done(Commit* c) {
  std::unique_ptr<Commit> owned(c);
  BC_ASSERT(committing_ && pending_ >= c->puts.size());
  if (c->status.ok()) {
    ++syncs_.index_commits;
    syncs_.committed_puts += c->puts.size();
    if (options_.on_stage) options_.on_stage("index_committed");
  }
  committing_ = false;
  start_commit();
  // A failed commit leaves its files as orphans (open() removes them); an
  // index batch that failed in its sync may still be replayed at open, and
  // then names durable files, so it is consistent either way.
  for (Op* op : c->puts) finish(op, c->status);
}

// Pool thread: one step of a group commit.
void ShardStore::Commit::run(uv_work_t* w) {
  Commit* c = static_cast<Commit*>(w->data);
  if (c->step == Step::kSyncDirs) {
    for (const std::string& dir : c->dirs)
      if (c->status = sync_dir(dir); !c->status.ok()) return;
    return;
  }
  leveldb::WriteBatch batch;
  for (const Op* op : c->puts) batch.Put(index_key(op->id), encode_meta(op->meta));
  leveldb::WriteOptions sync;
  sync.sync = true;
  leveldb::Status ls = c->store->db_->Write(sync, &batch);
  if (!ls.ok()) c->status = fail(Error::kIo, "index commit: " + ls.ToString());
}

void ShardStore::Commit::after(uv_work_t* w, int status) {
  Commit* c = static_cast<Commit*>(w->data);
  BC_ASSERT(status == 0);  // nothing cancels a commit
  if (c->step == Step::kSyncDirs) return c->store->commit_synced(c);
  c->store->commit_done(c);
}

// Pool thread: the LevelDB side of every operation, and a put's file.
void ShardStore::Op::index_work(uv_work_t* w) {
  Op* op = static_cast<Op*>(w->data);
  leveldb::DB& db = *op->store->db_;
  std::string value;
  leveldb::Status ls = db.Get(leveldb::ReadOptions(), index_key(op->id), &value);
  if (ls.IsNotFound()) {
    // A new shard: a put writes its file in the same job (no loop round
    // trip per file request), then waits for a group commit.
    if (op->kind == Kind::kPut)
      op->work_status = write_shard_file(op->dir(), op->path(), ByteView(op->data).subspan(op->data_offset, op->meta.size));
    return;
  }
  if (!ls.ok()) {
    op->work_status = fail(Error::kIo, "index read: " + ls.ToString());
    return;
  }
  op->found = decode_meta(value);
  if (!op->found) {
    op->work_status = fail(Error::kCorrupt, "index entry of the wrong length");
    return;
  }
  if (op->kind == Kind::kRemove) op->remove_entry(db);
}

// Pool thread: a removal's check and its synced index delete.
void ShardStore::Op::remove_entry(leveldb::DB& db) {
  if (collect_before) {
    if (found->expires_at >= *collect_before) {
      work_status = fail(Error::kBusy, "the shard has not expired");
      return;
    }
  } else if (unpaid_of) {
    if (found->price == 0 || found->escrow_id != *unpaid_of) {
      work_status = fail(Error::kBusy, "the shard is free or named another escrow");
      return;
    }
  } else if (sha256(token) != found->delete_token_hash) {
    work_status = fail(Error::kBadToken, "the delete token does not match");
    return;
  }
  leveldb::WriteOptions sync;
  sync.sync = true;
  leveldb::WriteBatch batch;
  batch.Delete(index_key(id));
  leveldb::Status ls = db.Write(sync, &batch);
  if (!ls.ok()) work_status = fail(Error::kIo, "index delete: " + ls.ToString());
  freed = found->size;
  freed_expiry = found->expires_at;
}

void ShardStore::Op::after_index_work(uv_work_t* w, int status) {
  Op* op = static_cast<Op*>(w->data);
  BC_ASSERT(status == 0);  // nothing cancels index work
  if (!op->work_status.ok()) return op->store->finish(op, std::move(op->work_status));
  op->after_lookup();
}

void ShardStore::Op::after_lookup() {
  switch (kind) {
    case Kind::kPut:
      if (found) return store->finish(this, Status::success());  // already stored: idempotent
      ++store->syncs_.file_syncs;
      ++store->syncs_.dir_syncs;
      if (store->options_.on_stage) store->options_.on_stage("shard_written");
      store->recycle(std::exchange(data, Bytes()));  // durable: the buffer is not needed for the commit
      return store->queue_commit(this);
    case Kind::kRead:
      if (!found) return store->finish(this, fail(Error::kNotFound, "no such shard"));
      if (offset >= found->size) return store->finish(this, fail(Error::kNotFound, "offset past the shard's end"));
      {
        const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(length, found->size - offset));
        dest = into(n);
        BC_ASSERT(dest.size() == n);
      }
      step = Step::kOpen;
      BC_ASSERT(uv_fs_open(loop(), &fs, path().c_str(), O_RDONLY, 0, &Op::on_fs) == 0);
      return;
    case Kind::kRemove:
      if (!found) return store->finish(this, fail(Error::kNotFound, "no such shard"));
      step = Step::kUnlink;  // the index no longer names it: unlink is cleanup
      BC_ASSERT(uv_fs_unlink(loop(), &fs, path().c_str(), &Op::on_fs) == 0);
      return;
  }
}

void ShardStore::Op::on_fs(uv_fs_t* req) {
  Op* op = static_cast<Op*>(req->data);
  const std::int64_t result = req->result;
  uv_fs_req_cleanup(req);
  switch (op->kind) {
    case Kind::kPut: BC_UNREACHABLE("a put makes no libuv file request");
    case Kind::kRead: return op->read_step(result);
    case Kind::kRemove:
      // A file already gone (removed by hand) is what a delete wants anyway.
      return op->store->finish(op, Status::success());
  }
}

void ShardStore::Op::close_quietly() {
  if (fd < 0) return;
  uv_fs_t req;
  uv_fs_close(loop(), &req, fd, nullptr);  // synchronous: error path only
  uv_fs_req_cleanup(&req);
  fd = -1;
}

void ShardStore::Op::fs_failed(const char* what, std::int64_t code) {
  close_quietly();
  store->finish(this, io_error(what, code));
}

void ShardStore::Op::read_step(std::int64_t result) {
  if (result < 0) return fs_failed("shard read", result);
  switch (step) {
    case Step::kOpen: fd = static_cast<uv_file>(result); [[fallthrough]];
    case Step::kRead: {
      if (step == Step::kRead) {
        if (result == 0) {
          close_quietly();
          return store->finish(this, fail(Error::kCorrupt, "shard file shorter than its index entry"));
        }
        moved += static_cast<std::size_t>(result);
      }
      step = Step::kRead;
      if (moved < dest.size()) {
        uv_buf_t buf = uv_buf_init(reinterpret_cast<char*>(dest.data() + moved), static_cast<unsigned>(dest.size() - moved));
        BC_ASSERT(uv_fs_read(loop(), &fs, fd, &buf, 1, static_cast<std::int64_t>(offset + moved), &Op::on_fs) == 0);
        return;
      }
      step = Step::kClose;
      BC_ASSERT(uv_fs_close(loop(), &fs, fd, &Op::on_fs) == 0);
      return;
    }
    case Step::kClose:
      fd = -1;
      return store->finish(this, Status::success());
    default: BC_UNREACHABLE("a read step without a file request");
  }
}

}  // namespace bc::storage
