// LevelDB layout of one ledger (see docs/ledger.md, "Storage layout"):
//   "S" kind id(32)   -> state entry encoding        (ledger/state.hpp)
//   "B" hash(32)      -> block bytes                 (ledger/block.hpp)
//   "N" height(8, BE) -> block hash                  (height index)
//   "C" height(8, BE) -> commit certificate          (certified chains; ledger/certificate.hpp)
//   "head"            -> height(8) hash(32) state_root(32)
// Every block is one WriteBatch written with sync=true: its state changes,
// its bytes, its index entry, its certificate and the new head, all or nothing.
#pragma once
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "layers/bytes.hpp"
#include "ledger/error.hpp"
#include "ledger/state.hpp"

namespace leveldb {
class DB;
class Env;
}  // namespace leveldb

namespace bc::ledger {

struct StoredHead {
  std::uint64_t height = 0;
  Hash256 hash;
  Hash256 state_root;
};

class Store {
 public:
  struct Options {
    bool sync = true;                   // fsync every block (off only in throwaway tests)
    std::size_t write_buffer = 32 << 20;
    leveldb::Env* env = nullptr;        // e.g. an in-memory Env for fuzzing
  };
  static Result<std::unique_ptr<Store>> open(const std::filesystem::path& dir, Options options);
  ~Store();

  std::optional<StoredHead> head() const;
  std::optional<Bytes> block(const Hash256& hash) const;
  std::optional<Hash256> hash_at(std::uint64_t height) const;
  // Calls fn for every state entry; stops with the first error.
  Status load_state(const std::function<Status(Kind, const Hash256&, ByteView)>& fn) const;
  std::optional<Bytes> certificate(std::uint64_t height) const;
  // The one write per block; `certificate` empty: none (uncertified chains).
  Status commit_block(const std::vector<Change>& changes, const Hash256& hash, std::uint64_t height, ByteView block_bytes,
                      const Hash256& state_root, ByteView certificate = {});

  // Raw access for tests that simulate corruption.
  Status put_raw(const std::string& key, ByteView value);

 private:
  Store() = default;
  std::unique_ptr<leveldb::DB> db_;
  Options options_;
};

}  // namespace bc::ledger
