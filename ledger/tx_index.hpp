// Where each committed transaction is: tx id -> block height, in its own
// LevelDB beside the ledger's. Derived data: it is brought up to the
// ledger's head with catch_up() (after every commit and at start), so a
// crash between a block commit and its indexing only delays the index.
#pragma once
#include <filesystem>
#include <memory>
#include <optional>

#include "ledger/ledger.hpp"

namespace leveldb {
class DB;
}

namespace bc::ledger {

class TxIndex {
 public:
  static Result<std::unique_ptr<TxIndex>> open(const std::filesystem::path& dir);
  ~TxIndex();
  // Indexes every block above the indexed height up to the ledger's head.
  Status catch_up(const Ledger& ledger);
  std::optional<std::uint64_t> height_of(const Hash256& tx_id) const;
  std::uint64_t indexed_height() const { return indexed_; }

 private:
  TxIndex() = default;
  std::unique_ptr<leveldb::DB> db_;
  std::uint64_t indexed_ = 0;
};

}  // namespace bc::ledger
