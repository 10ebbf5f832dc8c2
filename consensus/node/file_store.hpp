// The durable store of a validator's core (BftCore's kSignerKey and
// kDecidedKey) in a directory under DATADIR: one file per key (the
// CoreStore of the daemon).
//
// apply() makes a StoreWrite durable before it returns when w.sync is set:
// each value is written to a temporary file, fsynced, renamed over the key's
// file and the directory fsynced, so after kill -9 at any instant a key holds
// either its old or its new value, never a mix. The driver applies an
// Outbox's writes before it sends that Outbox's frames (layers/core.hpp), so
// the signer's record on disk always covers every vote a peer can have seen.
//
// Thread safety: none; one owner.
#pragma once
#include <filesystem>
#include <optional>
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
  // "bft/signer" -> DIR/bft_signer: keys are short names of the core's own.
  std::filesystem::path file_of(std::string_view key) const;
  Status put(std::string_view key, ByteView value, bool sync);
  Status erase(std::string_view key, bool sync);
  Status sync_dir() const;

  std::filesystem::path dir_;
};

}  // namespace bc::consensus
