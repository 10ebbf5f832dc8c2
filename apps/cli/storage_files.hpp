// What blockcloud-cli keeps about stored files on the user's machine, in the
// storage directory (default ~/.blockcloud/storage, mode 0700):
//
//   master.key            32 random bytes as hex (mode 0600): every file key,
//                         manifest key and delete token derives from it; it
//                         never leaves this machine
//   files/<cid>.json      one stored file: its encrypted manifest, its
//                         providers in shard order, size, name, expiry,
//                         and its escrows when it is paid
//   puts/<tag>.journal    an unfinished put (apps/storage/put_journal.hpp) and
//   puts/<tag>.json       its providers and options, for `storage put --resume`
//
// Losing master.key loses every file: back it up.
#pragma once
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "apps/storage/pipeline.hpp"
#include "apps/storage/put_journal.hpp"
#include "sal/host/stream.hpp"

namespace bc::cli {

using storage::Key256;

struct FileEntry {
  Hash256 cid;
  std::string name;
  std::uint64_t size = 0;
  Bytes envelope;
  std::vector<sal::ServiceId> providers;  // shard index j is on providers[j]
  TimeMs stored_at = 0;
  TimeMs expires_at = 0;
  // Payment (docs/storage.md "Payment"): the account that opened the
  // escrows (empty: the file is not paid), the escrow of each paid shard
  // index, and escrows no longer paid (their provider failed and was
  // replaced): the client closes them after they expire.
  std::string payer;
  std::vector<storage::ProviderEscrow> escrows, dropped_escrows;

  storage::StoredFile stored() const;  // placement 0..n-1 over `providers`
};

// An unfinished put: what --resume needs besides the journal.
struct PendingPut {
  std::string file;  // absolute path of the source
  std::string name;
  std::uint32_t segment_size = 0, data_shards = 0, parity_shards = 0;
  TimeMs expires_at = 0;
  std::vector<sal::ServiceId> providers;
  // Per provider, from its advertisement: its ledger account (zero: none
  // known, not paid) and its price (base units per GiB per day).
  std::vector<Hash256> accounts;
  std::vector<std::uint64_t> prices;
};

class StorageDir {
 public:
  // "" for the default. Creates the directory (0700) if needed.
  explicit StorageDir(const std::string& flag);
  const std::filesystem::path& path() const { return dir_; }

  // Loads master.key, creating it (0600) when `create` and it is absent.
  // Throws Failure when it is missing (and !create) or malformed.
  Key256 master_key(bool create) const;

  void save(const FileEntry& e) const;
  void remove(const Hash256& cid) const;
  std::vector<FileEntry> list() const;
  // By full ID text or a unique prefix of at least 6 characters; throws Failure.
  FileEntry find(const std::string& id) const;

  std::filesystem::path journal_path(const std::string& source) const;
  std::optional<PendingPut> load_pending(const std::string& source) const;
  void save_pending(const PendingPut& p) const;
  void drop_pending(const std::string& source) const;

 private:
  std::filesystem::path pending_path(const std::string& source) const;
  std::filesystem::path dir_;
};

std::string cid_text(const Hash256& cid);

}  // namespace bc::cli
