#include "apps/storage/shard_store.hpp"

#include <fcntl.h>
#include <leveldb/db.h>
#include <leveldb/write_batch.h>
#include <uv.h>

#include <cstring>
#include <map>
#include <optional>

#include "layers/assert.hpp"
#include "layers/crypto.hpp"

namespace bc::storage {
namespace {

constexpr char kShardKeyPrefix = 's';
constexpr std::size_t kMetaBytes = 8 + 8 + 32;

std::string index_key(const ShardId& id) {
  std::string k(1, kShardKeyPrefix);
  k.append(reinterpret_cast<const char*>(id.data()), 32);
  return k;
}

void put_be64(char* p, std::uint64_t v) {
  for (int i = 7; i >= 0; --i, v >>= 8) p[i] = static_cast<char>(v & 0xff);
}
std::uint64_t get_be64(const char* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<std::uint8_t>(p[i]);
  return v;
}

std::string encode_meta(const ShardMeta& m) {
  std::string v(kMetaBytes, '\0');
  put_be64(v.data(), m.size);
  put_be64(v.data() + 8, static_cast<std::uint64_t>(m.expires_at));
  std::memcpy(v.data() + 16, m.delete_token_hash.data(), 32);
  return v;
}

std::optional<ShardMeta> decode_meta(std::string_view v) {
  if (v.size() != kMetaBytes) return std::nullopt;
  ShardMeta m;
  m.size = get_be64(v.data());
  m.expires_at = static_cast<TimeMs>(get_be64(v.data() + 8));
  std::memcpy(m.delete_token_hash.data(), v.data() + 16, 32);
  return m;
}

Status io_error(const char* what, std::int64_t uv_code) {
  return fail(Error::kIo, std::string(what) + ": " + uv_strerror(static_cast<int>(uv_code)));
}

}  // namespace

// One operation in flight: its inputs, its libuv requests and where it is.
// A nested class, so its libuv callbacks (static members) reach the store.
struct ShardStore::Op {
  enum class Kind { kPut, kRead, kRemove };
  enum class Step { kLookup, kMkdir, kOpen, kWrite, kFsync, kClose, kOpenDir, kFsyncDir, kCloseDir, kCommit, kRead, kUnlink };
  Kind kind;
  ShardStore* store;
  ShardId id;
  Bytes data;  // put: the shard
  ReadInto into;                 // read: where the bytes go, asked once the length is known
  std::span<std::uint8_t> dest;  // read: what `into` gave
  ShardMeta meta;
  Key256 token{};
  std::optional<TimeMs> collect_before;  // kRemove by the garbage collector: no token, expired entries only
  std::uint64_t offset = 0;
  std::uint32_t length = 0;
  Done done;
  uv_fs_t fs{};
  uv_work_t work{};
  uv_file fd = -1;
  std::size_t moved = 0;  // bytes written or read so far
  Step step = Step::kLookup;
  bool made_dir = false;     // this put created shards/ab: its entry in shards/ must be synced too
  std::string syncing_dir;   // the directory kOpenDir..kCloseDir make durable
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
  static void on_fs(uv_fs_t* req);
  void after_lookup();
  void put_step(std::int64_t result);
  void sync_dir(std::string path);
  void read_step(std::int64_t result);
  void fs_failed(const char* what, std::int64_t code);
  void close_quietly();
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
  if (!s.ok()) return s;
  return store;
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
    ++recovery_.shards;
  }
  leveldb::WriteOptions wo;
  wo.sync = true;
  leveldb::Status ls = db_->Write(wo, &drop);
  if (!ls.ok()) return fail(Error::kIo, "index repair: " + ls.ToString());
  return Status::success();
}

void ShardStore::put(const ShardId& id, Bytes data, const ShardMeta& meta, Done done) {
  BC_ASSERT(meta.size == data.size() && done);
  if (writing_.count(id)) return done(fail(Error::kBusy, "a put or delete of this shard is under way"));
  if (used_ + reserved_ + meta.size > options_.capacity_bytes)
    return done(fail(Error::kQuotaExceeded, "the shard does not fit in the provider's capacity"));
  auto* op = new Op(Op::Kind::kPut, this, id);
  op->data = std::move(data);
  op->meta = meta;
  op->done = std::move(done);
  reserved_ += meta.size;
  writing_.insert(id);
  ++pending_;
  op->queue_index_work(Op::Step::kLookup);
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

void ShardStore::start_remove(const ShardId& id, Done& done, const std::function<void(Op&)>& authorise) {
  BC_ASSERT(done);
  if (writing_.count(id)) return done(fail(Error::kBusy, "a put or delete of this shard is under way"));
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
    if (!writing_.count(it->second)) out.push_back(it->second);
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
    }
    writing_.erase(op->id);
  } else if (op->kind == Op::Kind::kRemove) {
    if (s.ok()) {
      BC_ASSERT(used_ >= op->freed);
      used_ -= op->freed;
      const std::size_t erased = by_expiry_.erase({op->freed_expiry, op->id});
      BC_ASSERT(erased == 1);  // every index entry is in by_expiry_
    }
    writing_.erase(op->id);
  }
  --pending_;
  std::unique_ptr<Op> owned(op);
  op->done(std::move(s));
}

// Pool thread: the LevelDB side of every operation.
void ShardStore::Op::index_work(uv_work_t* w) {
  Op* op = static_cast<Op*>(w->data);
  leveldb::DB& db = *op->store->db_;
  leveldb::WriteOptions sync;
  sync.sync = true;
  if (op->step == Step::kCommit) {
    leveldb::WriteBatch batch;
    batch.Put(index_key(op->id), encode_meta(op->meta));
    leveldb::Status ls = db.Write(sync, &batch);
    if (!ls.ok()) op->work_status = fail(Error::kIo, "index commit: " + ls.ToString());
    return;
  }
  std::string value;
  leveldb::Status ls = db.Get(leveldb::ReadOptions(), index_key(op->id), &value);
  if (ls.IsNotFound()) return;
  if (!ls.ok()) {
    op->work_status = fail(Error::kIo, "index read: " + ls.ToString());
    return;
  }
  op->found = decode_meta(value);
  if (!op->found) {
    op->work_status = fail(Error::kCorrupt, "index entry of the wrong length");
    return;
  }
  if (op->kind != Kind::kRemove) return;
  if (op->collect_before) {
    if (op->found->expires_at >= *op->collect_before) {
      op->work_status = fail(Error::kBusy, "the shard has not expired");
      return;
    }
  } else if (sha256(op->token) != op->found->delete_token_hash) {
    op->work_status = fail(Error::kBadToken, "the delete token does not match");
    return;
  }
  leveldb::WriteBatch batch;
  batch.Delete(index_key(op->id));
  ls = db.Write(sync, &batch);
  if (!ls.ok()) op->work_status = fail(Error::kIo, "index delete: " + ls.ToString());
  op->freed = op->found->size;
  op->freed_expiry = op->found->expires_at;
}

void ShardStore::Op::after_index_work(uv_work_t* w, int status) {
  Op* op = static_cast<Op*>(w->data);
  BC_ASSERT(status == 0);  // nothing cancels index work
  if (!op->work_status.ok()) return op->store->finish(op, std::move(op->work_status));
  if (op->step == Step::kCommit) return op->store->finish(op, Status::success());
  op->after_lookup();
}

void ShardStore::Op::after_lookup() {
  switch (kind) {
    case Kind::kPut:
      if (found) return store->finish(this, Status::success());  // already stored: idempotent
      step = Step::kMkdir;
      BC_ASSERT(uv_fs_mkdir(loop(), &fs, dir().c_str(), 0755, &Op::on_fs) == 0);
      return;
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
    case Kind::kPut: return op->put_step(result);
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
  if (kind == Kind::kPut) {
    uv_fs_t req;  // best effort; open() would remove the orphan anyway
    uv_fs_unlink(loop(), &req, path().c_str(), nullptr);
    uv_fs_req_cleanup(&req);
  }
  store->finish(this, io_error(what, code));
}

// The put's file steps, in the order docs/storage.md argues.
void ShardStore::Op::put_step(std::int64_t result) {
  if (step == Step::kMkdir) {
    made_dir = result == 0;
    if (result == UV_EEXIST) result = 0;
  }
  if (result < 0) return fs_failed("shard write", result);
  switch (step) {
    case Step::kMkdir:
      step = Step::kOpen;
      BC_ASSERT(uv_fs_open(loop(), &fs, path().c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644, &Op::on_fs) == 0);
      return;
    case Step::kOpen: fd = static_cast<uv_file>(result); [[fallthrough]];
    case Step::kWrite: {
      if (step == Step::kWrite) moved += static_cast<std::size_t>(result);
      step = Step::kWrite;
      if (moved < data.size()) {
        uv_buf_t buf = uv_buf_init(reinterpret_cast<char*>(data.data() + moved), static_cast<unsigned>(data.size() - moved));
        BC_ASSERT(uv_fs_write(loop(), &fs, fd, &buf, 1, static_cast<std::int64_t>(moved), &Op::on_fs) == 0);
        return;
      }
      step = Step::kFsync;
      BC_ASSERT(uv_fs_fsync(loop(), &fs, fd, &Op::on_fs) == 0);
      return;
    }
    case Step::kFsync:
      step = Step::kClose;
      BC_ASSERT(uv_fs_close(loop(), &fs, fd, &Op::on_fs) == 0);
      return;
    case Step::kClose:
      fd = -1;
      return sync_dir(dir());
    case Step::kOpenDir:
      fd = static_cast<uv_file>(result);
      step = Step::kFsyncDir;
      BC_ASSERT(uv_fs_fsync(loop(), &fs, fd, &Op::on_fs) == 0);
      return;
    case Step::kFsyncDir:
      step = Step::kCloseDir;
      BC_ASSERT(uv_fs_close(loop(), &fs, fd, &Op::on_fs) == 0);
      return;
    case Step::kCloseDir:
      fd = -1;
      if (made_dir) {  // then the new directory's own name, in shards/
        made_dir = false;
        return sync_dir((store->options_.dir / "shards").string());
      }
      if (store->options_.on_stage) store->options_.on_stage("shard_synced");
      data = Bytes();  // durable: the buffer is not needed for the commit
      return queue_index_work(Step::kCommit);
    default: BC_UNREACHABLE("a put step without a file request");
  }
}

void ShardStore::Op::sync_dir(std::string path) {
  syncing_dir = std::move(path);
  step = Step::kOpenDir;
  BC_ASSERT(uv_fs_open(loop(), &fs, syncing_dir.c_str(), O_RDONLY | O_DIRECTORY, 0, &Op::on_fs) == 0);
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
