// A leveldb::Env for the whole-node simulator: files in memory
// (leveldb::NewMemEnv) and a crash that loses what was never made durable,
// after LevelDB's FaultInjectionTestEnv.
//
// Model: every file written through this Env remembers how many of its bytes
// were synced. A Sync() makes all bytes so far durable; syncing a file
// created since its directory was last synced also syncs the directory (as
// LevelDB's own Env does for the MANIFEST, and FaultInjectionTestEnv for
// every new file). crash() then: stops recording (writes after it are lost),
// and, once the database is closed, drop_unsynced() truncates every file to
// its last synced size and deletes files created since the last directory
// sync. Renames and deletions are treated as durable at once. Between
// crash() and drop_unsynced() (a node that runs on for the rest of one input
// after its power went out) renames and deletions do nothing and files
// created then are deleted.
//
// Thread safety: LevelDB calls it from its own threads; one mutex guards the
// bookkeeping.
#pragma once
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include <leveldb/env.h>

namespace bc::sim {

// Owns the in-memory Env; a base so it exists before EnvWrapper points at it.
struct MemEnvHolder {
  std::unique_ptr<leveldb::Env> mem;
};

class FaultEnv final : private MemEnvHolder, public leveldb::EnvWrapper {
 public:
  FaultEnv();
  ~FaultEnv() override;

  leveldb::Status NewWritableFile(const std::string& f, leveldb::WritableFile** r) override;
  leveldb::Status NewAppendableFile(const std::string& f, leveldb::WritableFile** r) override;
  leveldb::Status RemoveFile(const std::string& f) override;
  leveldb::Status RenameFile(const std::string& from, const std::string& to) override;

  // From now on writes are not recorded and syncs do nothing (the power is out).
  void crash();
  // REQUIRES: crash() was called and the database using this Env is closed.
  // Drops what was not durable and powers the filesystem on again.
  void drop_unsynced();
  // Bytes written but not yet synced, over all files (for tests of the Env).
  std::uint64_t unsynced_bytes() const;

  // Called by this Env's files.
  void on_append(const std::string& f, std::size_t n);
  void on_sync(const std::string& f);

 private:
  struct FileState {
    std::uint64_t size = 0;
    std::uint64_t synced = 0;
  };
  leveldb::Status truncate(const std::string& f, std::uint64_t size);

  mutable std::mutex mu_;
  bool active_ = true;
  std::map<std::string, FileState> files_;
  std::set<std::string> new_since_dir_sync_;
  std::set<std::string> created_while_off_;
};

}  // namespace bc::sim
