#include "ledger/store.hpp"

#include <leveldb/db.h>
#include <leveldb/write_batch.h>

#include <cstring>

namespace bc::ledger {

namespace {

std::string state_db_key(Kind kind, const Hash256& id) {
  std::string k(34, '\0');
  k[0] = 'S';
  k[1] = static_cast<char>(kind);
  std::memcpy(k.data() + 2, id.data(), 32);
  return k;
}

std::string block_db_key(const Hash256& hash) {
  std::string k(33, '\0');
  k[0] = 'B';
  std::memcpy(k.data() + 1, hash.data(), 32);
  return k;
}

std::string height_db_key(std::uint64_t h) {
  std::string k(9, '\0');
  k[0] = 'N';
  be64_store(reinterpret_cast<std::uint8_t*>(k.data() + 1), h);
  return k;
}

std::string cert_db_key(std::uint64_t h) {
  std::string k = height_db_key(h);
  k[0] = 'C';
  return k;
}

leveldb::Slice slice(ByteView v) { return {reinterpret_cast<const char*>(v.data()), v.size()}; }
ByteView view(const std::string& s) { return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()}; }

const char kHeadKey[] = "head";

}  // namespace

Store::~Store() = default;

Result<std::unique_ptr<Store>> Store::open(const std::filesystem::path& dir, Options options) {
  leveldb::Options o;
  o.create_if_missing = true;
  o.write_buffer_size = options.write_buffer;
  o.max_file_size = 8 << 20;
  if (options.env) o.env = options.env;
  if (!options.env) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec)
      return Result<std::unique_ptr<Store>>::error(fail(Error::kStorage, "cannot create ledger directory " + dir.string() + ": " + ec.message()));
  }
  leveldb::DB* raw = nullptr;
  leveldb::Status s = leveldb::DB::Open(o, dir.string(), &raw);
  if (!s.ok())
    return Result<std::unique_ptr<Store>>::error(fail(Error::kStorage, "cannot open ledger database " + dir.string() + ": " + s.ToString() +
                                                                           " (is another process using it? is the directory writable?)"));
  std::unique_ptr<Store> store(new Store());
  store->db_.reset(raw);
  store->options_ = options;
  return Result<std::unique_ptr<Store>>::of(std::move(store));
}

std::optional<StoredHead> Store::head() const {
  std::string v;
  if (!db_->Get(leveldb::ReadOptions(), kHeadKey, &v).ok() || v.size() != 72) return std::nullopt;
  StoredHead h;
  h.height = be64_load(reinterpret_cast<const std::uint8_t*>(v.data()));
  std::memcpy(h.hash.data(), v.data() + 8, 32);
  std::memcpy(h.state_root.data(), v.data() + 40, 32);
  return h;
}

std::optional<Bytes> Store::block(const Hash256& hash) const {
  std::string v;
  if (!db_->Get(leveldb::ReadOptions(), block_db_key(hash), &v).ok()) return std::nullopt;
  return Bytes(v.begin(), v.end());
}

std::optional<Hash256> Store::hash_at(std::uint64_t height) const {
  std::string v;
  if (!db_->Get(leveldb::ReadOptions(), height_db_key(height), &v).ok()) return std::nullopt;
  return Hash256::from_bytes(view(v));
}

Status Store::load_state(const std::function<Status(Kind, const Hash256&, ByteView)>& fn) const {
  leveldb::ReadOptions ro;
  ro.fill_cache = false;
  std::unique_ptr<leveldb::Iterator> it(db_->NewIterator(ro));
  for (it->Seek("S"); it->Valid() && !it->key().empty() && it->key()[0] == 'S'; it->Next()) {
    leveldb::Slice k = it->key();
    if (k.size() != 34) return fail(Error::kCorrupt, "state key of " + std::to_string(k.size()) + " bytes in the ledger database");
    Hash256 id;
    std::memcpy(id.data(), k.data() + 2, 32);
    leveldb::Slice v = it->value();
    Status s = fn(static_cast<Kind>(k[1]), id, ByteView(reinterpret_cast<const std::uint8_t*>(v.data()), v.size()));
    if (!s.ok()) return s;
  }
  if (!it->status().ok()) return fail(Error::kStorage, "reading ledger state: " + it->status().ToString());
  return {};
}

std::optional<Bytes> Store::certificate(std::uint64_t height) const {
  std::string v;
  if (!db_->Get(leveldb::ReadOptions(), cert_db_key(height), &v).ok()) return std::nullopt;
  return Bytes(v.begin(), v.end());
}

Status Store::commit_block(const std::vector<Change>& changes, const Hash256& hash, std::uint64_t height, ByteView block_bytes,
                           const Hash256& state_root, ByteView certificate) {
  leveldb::WriteBatch batch;
  for (const auto& c : changes) {
    if (c.encoding.empty()) batch.Delete(state_db_key(c.kind, c.id));
    else batch.Put(state_db_key(c.kind, c.id), slice(c.encoding));
  }
  batch.Put(block_db_key(hash), slice(block_bytes));
  batch.Put(height_db_key(height), slice(hash.view()));
  if (!certificate.empty()) batch.Put(cert_db_key(height), slice(certificate));
  std::uint8_t head[72];
  be64_store(head, height);
  std::memcpy(head + 8, hash.data(), 32);
  std::memcpy(head + 40, state_root.data(), 32);
  batch.Put(kHeadKey, slice(ByteView(head, sizeof(head))));
  leveldb::WriteOptions wo;
  wo.sync = options_.sync;
  leveldb::Status s = db_->Write(wo, &batch);
  if (!s.ok()) return fail(Error::kStorage, "writing block " + std::to_string(height) + ": " + s.ToString() + " (disk full or failing?)");
  return {};
}

Status Store::put_raw(const std::string& key, ByteView value) {
  leveldb::WriteOptions wo;
  wo.sync = true;
  leveldb::Status s = db_->Put(wo, key, slice(value));
  return s.ok() ? Status{} : fail(Error::kStorage, s.ToString());
}

}  // namespace bc::ledger
