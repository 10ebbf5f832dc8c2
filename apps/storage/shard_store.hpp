// The provider's shard store (docs/storage.md "Provider"): one file per
// shard under <dir>/shards/, an index in LevelDB under <dir>/index/, and a
// capacity in bytes.
//
// File I/O runs on libuv's thread pool (uv_fs_* with callbacks on the
// caller's uv_loop); index reads and synced index batches run there too
// (uv_queue_work), so the loop thread never blocks on the disk. Completion
// callbacks run on the loop thread, from uv_run.
//
// Crash consistency: a put makes the shard file and its directory entry
// durable before it commits the index batch (synced); a delete commits the
// index batch before it unlinks the file; open() removes files with no index
// entry. So after a crash at any instant every index entry names a whole
// file of its recorded size, and used_bytes() equals the sum of the entries.
//
// Group commit: each put writes and syncs its own file and directory on a
// pool thread; the puts whose files are durable then wait for the one
// commit under way, and the next commit takes all of them at once: one
// synced index batch naming them all (after a sync of shards/ when one of
// their fan-out directories is new). A put is answered only after the
// commit that names it, so no answer comes before its shard is durable.
//
// Thread safety: every method must be called on the loop's thread.
#pragma once
#include <bitset>
#include <filesystem>
#include <functional>
#include <memory>
#include <string_view>
#include <set>
#include <span>
#include <unordered_set>
#include <utility>
#include <vector>

#include "apps/storage/cipher.hpp"
#include "apps/storage/format.hpp"
#include "apps/storage/shard_meta.hpp"
#include "apps/storage/shard_pins.hpp"
#include "apps/storage/unpaid.hpp"
#include "layers/runtime.hpp"

struct uv_loop_s;
namespace leveldb {
class DB;
}

namespace bc::storage {

struct StoreOptions {
  std::filesystem::path dir;
  std::uint64_t capacity_bytes = 0;
  // Fault injection for tests: called on the loop thread at named points of
  // a put: "shard_written" (one put's file and name durable, not yet in a
  // commit), "shard_synced" (a commit's files and directories durable, its
  // index batch not yet written), "index_committed" (the batch durable, no
  // put of it answered yet). Empty in production.
  std::function<void(std::string_view stage)> on_stage;
  // Called on the loop thread with a put's buffer once the store is done
  // with it (its bytes durable, or the put refused), so the caller can read
  // a later frame into it. Empty: the buffer is freed.
  std::function<void(Bytes buffer)> recycle;
  // Not the store's own: where LocalProvider takes the buffer of a get's
  // answer frame of n bytes (its contents unspecified; every byte the answer
  // uses is overwritten), so answers reuse the pages recycle() handed back.
  // Empty: a fresh zeroed buffer per answer.
  std::function<Bytes(std::size_t n)> frame_buffer;
};

// The syncs the store asked for since open(): what a group commit saves.
struct SyncCounts {
  std::uint64_t file_syncs = 0;     // one per shard written
  std::uint64_t dir_syncs = 0;      // shards/ab/ per shard written, shards/ per commit with a new one
  std::uint64_t index_commits = 0;  // synced index batches of puts
  std::uint64_t committed_puts = 0; // puts those batches named
};

// What open() found and repaired.
struct RecoveryReport {
  std::uint64_t shards = 0;           // index entries kept
  std::uint64_t orphans_removed = 0;  // files with no index entry (unfinished put or delete)
  std::uint64_t entries_dropped = 0;  // entries whose file was missing or of another size
};

class ShardStore {
 public:
  using Done = std::function<void(Status)>;
  using ReadDone = std::function<void(Result<Bytes>)>;
  // Where a read_into puts its bytes: called once, on the loop thread, with
  // the number of bytes the read delivers; returns storage of exactly that
  // size, valid until the read's done runs.
  using ReadInto = std::function<std::span<std::uint8_t>(std::size_t n)>;

  // Opens or creates the store and repairs it (synchronous: start-up work).
  // The loop must outlive the store. kIo or kCorrupt when it cannot.
  static Result<std::unique_ptr<ShardStore>> open(uv_loop_s* loop, StoreOptions options);
  ~ShardStore();  // REQUIRES: pending() == 0 (run the loop until idle first)

  // Stores `data` as shard `id`. done(ok) once file and index are durable;
  // ok at once (no write) when the shard is already stored; kQuotaExceeded
  // when it does not fit; kBusy when a put or delete of `id` is under way.
  // REQUIRES: meta.size == data.size().
  void put(const ShardId& id, Bytes data, const ShardMeta& meta, Done done);
  // The same for the shard at data[offset, offset + meta.size) (the
  // provider's request frame, written without a copy).
  // REQUIRES: offset + meta.size <= data.size().
  void put(const ShardId& id, Bytes data, std::size_t offset, const ShardMeta& meta, Done done);
  // Reads up to `length` bytes from `offset` (clipped to the shard's end).
  // kNotFound for an unknown shard or an offset at or past its end.
  void read(const ShardId& id, std::uint64_t offset, std::uint32_t length, ReadDone done);
  // The same read into the caller's storage (the provider's answer frame):
  // `into` runs once the length is known (not at all when the shard is
  // unknown or the offset past its end); done(ok) once the bytes are there.
  void read_into(const ShardId& id, std::uint64_t offset, std::uint32_t length, ReadInto into, Done done);
  // Deletes the shard if SHA-256(token) is its delete token hash (kBadToken
  // otherwise, kNotFound when absent). Every removal below answers
  // kCommitted for a pinned shard and keeps it.
  void remove(const ShardId& id, const Key256& token, Done done);

  // Garbage collection (docs/storage.md "Garbage collection"): up to `max`
  // unpinned shards whose expiry is before `before`, from memory (no disk access).
  std::vector<ShardId> expired(TimeMs before, std::size_t max) const;
  // Deletes shard `id` if its index entry expired before `expired_before`
  // (checked again against the index), by the delete order above: the index
  // entry goes first (synced), then the file. kBusy when it has not expired.
  void collect(const ShardId& id, TimeMs expired_before, Done done);

  // Unpaid objects (docs/storage.md "Unpaid objects"): up to `max` priced
  // holdings whose first shard was stored before `stored_before`, from memory.
  std::vector<Holding> holdings_due(TimeMs stored_before, std::size_t max, const EscrowHoldings::Skip& skip = nullptr) const {
    return holdings_.due(stored_before, max, skip);
  }
  // Deletes shard `id` if its index entry is priced and names `escrow` (the
  // caller found that escrow does not pay for it), by the delete order
  // above. kBusy when the entry is free or names another escrow.
  void drop_unpaid(const ShardId& id, const Hash256& escrow, Done done);

  // Up to `max` stored shards (no put or delete under way), in ID order,
  // from memory: what a storage offer commits to.
  std::vector<ShardId> held(std::size_t max) const;

  // The shards storage offers commit to: no removal takes them.
  ShardPins& pins() { return pins_; }
  const ShardPins& pins() const { return pins_; }

  std::uint64_t used_bytes() const { return used_; }
  std::uint64_t reserved_bytes() const { return reserved_; }
  std::uint64_t capacity_bytes() const { return options_.capacity_bytes; }
  std::size_t pending() const { return pending_; }
  const RecoveryReport& recovery() const { return recovery_; }
  const SyncCounts& sync_counts() const { return syncs_; }
  std::filesystem::path shard_path(const ShardId& id) const;

 private:
  struct Op;
  struct Commit;
  friend struct Op;
  friend struct Commit;
  ShardStore(uv_loop_s* loop, StoreOptions options);
  Status recover();
  Status trust_fan_out_dirs();
  // Hands a put's buffer to options_.recycle (or frees it).
  void recycle(Bytes buffer);
  // A put whose file is durable waits for the next group commit.
  void queue_commit(Op* op);
  void start_commit();
  void commit_synced(Commit* c);
  void commit_done(Commit* c);
  // remove and collect: `authorise` sets what the removal checks (token or expiry).
  void start_remove(const ShardId& id, Done& done, const std::function<void(Op&)>& authorise);
  void finish(Op* op, Status s);

  uv_loop_s* loop_;
  StoreOptions options_;
  std::unique_ptr<leveldb::DB> db_;
  std::uint64_t used_ = 0;
  std::uint64_t reserved_ = 0;
  std::size_t pending_ = 0;
  std::unordered_set<ShardId, Hash256Hasher> writing_;  // ids with a put or delete under way
  std::set<std::pair<TimeMs, ShardId>> by_expiry_;  // every index entry, soonest expiry first (garbage collector)
  ShardPins pins_;
  EscrowHoldings holdings_;                         // every priced index entry, by the escrow its put named
  std::vector<Op*> awaiting_commit_;  // puts with a durable file, for the next group commit
  bool committing_ = false;           // a group commit is under way (one at a time)
  // Fan-out directories shards/ab/ whose own name in shards/ is durable:
  // a commit with a shard in any other syncs shards/ too.
  std::bitset<256> durable_dirs_;
  SyncCounts syncs_;
  RecoveryReport recovery_;
};

}  // namespace bc::storage
