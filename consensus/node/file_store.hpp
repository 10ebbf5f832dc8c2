// The durable store of a validator's core (BftCore's kSignerKey and
// kDecidedKey) in a directory under DATADIR: one record file per key (the
// CoreStore of the daemon).
//
// apply() makes a StoreWrite durable before it returns when w.sync is set,
// and after kill -9 at any instant a key holds either its old or its new
// value, never a mix. Each key is a record file, DIR/<key>.rec, of two
// slots: a write goes to the slot that does not hold the newest record,
// checksummed and numbered, then one fdatasync (the file's size and blocks
// do not change, so the file system journals nothing: about a fifth of the
// cost of a new file, its rename and the directory's sync, and far steadier
// when the disk is busy). A read takes the intact slot with the higher
// number, so a torn write leaves the previous record. The file is made anew
// (written aside, synced, renamed over, the directory synced) only when a
// value outgrows its slots; they then double. A key written by an older
// store as a plain file (DIR/<key>) is read until its first write.
//
// The driver applies an Outbox's writes before it sends that Outbox's
// frames (layers/core.hpp), so the signer's record on disk always covers
// every vote a peer can have seen.
//
// Thread safety: none; one owner.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "consensus/bft/core.hpp"
#include "consensus/node/core_store.hpp"
#include "layers/core.hpp"
#include "layers/status.hpp"

namespace bc::consensus {

class FileStore final : public CoreStore {
 public:
  // Creates `dir` if missing. kIo with the path if it cannot.
  static Result<FileStore> open(std::filesystem::path dir);

  // Every op of w, in order; kIo with the path on the first failure (the
  // driver must then stop: a vote whose record is not durable must not leave).
  Status apply(const StoreWrite& w) override;
  // nullopt if the key was never written or was deleted.
  std::optional<Bytes> get(std::string_view key) const override;
  std::string where() const override { return dir_.string(); }

  // The core's Recovery from this store.
  bft::Recovery recovery() const;

  const std::filesystem::path& dir() const { return dir_; }

 private:
  explicit FileStore(std::filesystem::path dir) : dir_(std::move(dir)) {}
  struct Loaded {
    std::uint64_t slot_size = 0;
    std::uint64_t seq = 0;  // of the newest record
    int slot = 0;           // where it is
    std::optional<Bytes> value;
  };
  static std::optional<Loaded> parse(ByteView file);
  // "bft/signer" -> DIR/bft_signer.rec: keys are short names of the core's own.
  std::filesystem::path file_of(std::string_view key) const;
  std::filesystem::path legacy_file_of(std::string_view key) const;  // DIR/bft_signer
  Status create(std::string_view key, ByteView value, std::uint64_t seq);
  Status put(std::string_view key, ByteView value, bool sync);
  Status erase(std::string_view key, bool sync);
  Status sync_dir() const;

  std::filesystem::path dir_;
  std::map<std::string, Loaded> slots_;  // record files written since open (value not kept)
};

}  // namespace bc::consensus
