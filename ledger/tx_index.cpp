#include "ledger/tx_index.hpp"

#include <leveldb/db.h>
#include <leveldb/write_batch.h>

namespace bc::ledger {
namespace {
const std::string kHeightKey = "h";
std::string tx_key(const Hash256& id) { return "t" + std::string(reinterpret_cast<const char*>(id.data()), 32); }
std::string be64(std::uint64_t v) {
  Bytes b;
  append_be64(b, v);
  return std::string(b.begin(), b.end());
}
}  // namespace

Result<std::unique_ptr<TxIndex>> TxIndex::open(const std::filesystem::path& dir) {
  std::unique_ptr<TxIndex> idx(new TxIndex());
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  leveldb::Options o;
  o.create_if_missing = true;
  leveldb::DB* db = nullptr;
  const auto s = leveldb::DB::Open(o, dir.string(), &db);
  if (!s.ok())
    return Result<std::unique_ptr<TxIndex>>::error(
        fail(Error::kStorage, "cannot open the tx index at " + dir.string() + ": " + s.ToString() +
                                  " (it is derived data: delete the directory to rebuild it)"));
  idx->db_.reset(db);
  std::string v;
  if (db->Get({}, kHeightKey, &v).ok() && v.size() == 8)
    idx->indexed_ = be64_load(reinterpret_cast<const std::uint8_t*>(v.data()));
  return Result<std::unique_ptr<TxIndex>>::of(std::move(idx));
}

TxIndex::~TxIndex() = default;

Status TxIndex::catch_up(const Ledger& ledger) {
  // An index ahead of the ledger (ledger directory replaced) is rebuilt from scratch.
  if (indexed_ > ledger.head().height) indexed_ = 0;
  while (indexed_ < ledger.head().height) {
    const std::uint64_t h = indexed_ + 1;
    auto bytes = ledger.block_at(h);
    if (!bytes) return fail(Error::kUnknownBlock, "block " + std::to_string(h) + " is missing from the ledger store");
    auto shell = decode_block_shell(*bytes, ledger.params());
    if (!shell.ok()) return shell.status();
    leveldb::WriteBatch batch;
    for (const auto& raw : shell->raw_txs) {
      const auto id = tx_id_of(tagged_hash("blockcloud/tx/v1", raw.body), raw.signature);
      batch.Put(tx_key(id), be64(h));
    }
    batch.Put(kHeightKey, be64(h));
    const auto s = db_->Write({}, &batch);
    if (!s.ok()) return fail(Error::kStorage, "tx index write failed: " + s.ToString());
    indexed_ = h;
  }
  return Status::success();
}

std::optional<std::uint64_t> TxIndex::height_of(const Hash256& id) const {
  std::string v;
  if (!db_->Get({}, tx_key(id), &v).ok() || v.size() != 8) return std::nullopt;
  return be64_load(reinterpret_cast<const std::uint8_t*>(v.data()));
}

}  // namespace bc::ledger
