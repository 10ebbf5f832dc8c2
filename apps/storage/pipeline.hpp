// The storage client (docs/storage.md "Client pipeline"): streams a file in
// bounded memory through segment -> AES-256-GCM -> Reed-Solomon -> per-shard
// Merkle roots -> putShard, and back: fetch k good shards per segment (each
// checked against its root), decode, decrypt (tag checked), stream out.
//
// Memory: a put holds two segment buffers (k shards wide each, plus m
// parity buffers) and the requests of at most kPutSegmentsInFlight segments;
// a get holds kSegmentsInFlight segment buffers and the shards being checked.
// Per segment only the k + m shard roots (32 bytes each) are kept. stats()
// reports the peak, which does not grow with the file.
//
// Throughput: both run a sliding window of segments over
// ShardTransport::send/collect, and a worker thread (cpu_worker.hpp)
// does the CPU work (a put's sealing, Reed-Solomon, shard roots and
// requests; a get's root checks, decoding and decryption) while the
// caller's thread drives the network. A get asks for the first segment
// alone (the first byte comes early), then keeps the window full. Each
// provider then has several shards to store or read at once.
//
// The Source and the Sink are called on the caller's thread.
//
// Not thread-safe; one call at a time. The master key stays in this object.
#pragma once
#include <deque>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "apps/storage/cipher.hpp"
#include "apps/storage/local_provider.hpp"
#include "apps/storage/manifest.hpp"

namespace bc::storage {

struct SegmentBuffers;
class SegmentWindow;
class PutJournal;
class CpuWorker;

// Segments a get has in flight (first asked for, not yet sunk); repair
// fetches this many per exchange.
inline constexpr std::size_t kSegmentsInFlight = 4;
// Segments a put has in flight (read, not yet confirmed): only two of them
// in segment buffers, the others as requests on their way.
inline constexpr std::size_t kPutSegmentsInFlight = 8;

// Reads up to out.size() bytes; 0 means the end of the stream.
using Source = std::function<Result<std::size_t>(std::span<std::uint8_t> out)>;
// Takes the next run of plaintext.
using Sink = std::function<Status(ByteView data)>;

struct PutOptions {
  std::uint32_t segment_size = kDefaultSegmentSize;
  std::uint32_t data_shards = 4;
  std::uint32_t parity_shards = 2;
  std::string name;
  TimeMs expires_at = 0;  // the providers keep the shards until then
  // Provider of shard index j; k + m distinct providers of the transport.
  std::vector<std::size_t> placement;
  // The escrow paying the provider of shard index j, named in its puts
  // (docs/storage.md "Unpaid objects"); absent or zero: none.
  std::vector<Hash256> escrows;
  // Runs once a fresh journal holds its header, before any shard is sent:
  // a paid put records its escrows there (payment.hpp). An error stops the put.
  std::function<Status(PutJournal&)> on_journal_begun;
};

// What the owner keeps to get, verify or delete the file.
struct StoredFile {
  Hash256 cid;
  Bytes envelope;  // the encrypted manifest
  std::vector<std::size_t> placement;
};

// What one audit of every shard of every segment found (verify()).
struct FileHealth {
  std::uint32_t data_shards = 0;                // k: a segment needs k good shards
  std::uint64_t audits = 0;
  std::vector<std::uint64_t> failed;            // per shard index: segments whose audit failed
  std::uint32_t worst_segment_good = 0;         // fewest shards of one segment that passed
  // The shard indexes with a failed audit: what repair() should rebuild.
  std::vector<std::uint32_t> unhealthy() const;
  bool recoverable() const { return worst_segment_good >= data_shards; }
};

struct PipelineStats {
  std::uint64_t segments = 0;
  std::uint64_t bytes = 0;            // plaintext
  std::uint64_t shards_sent = 0;
  std::uint64_t shards_fetched = 0;   // good shards used
  std::uint64_t bad_shards = 0;       // failed the root check
  std::uint64_t missing_shards = 0;   // no answer, or a failure answer
  std::uint64_t decodes = 0;          // segments that needed parity
  std::uint64_t shards_repaired = 0;  // rebuilt and put on a new provider
  std::uint64_t segments_resumed = 0; // taken from a put journal, not sent again
  std::size_t peak_buffer_bytes = 0;  // segment + parity buffers + one segment's messages
};

class StorageClient {
 public:
  StorageClient(const Key256& master, ShardTransport& transport);

  // Puts a file. With a journal, each confirmed segment is recorded before
  // the next is sent, and a journal that already holds a put resumes it: the
  // same options are required, the source is read again from the start and
  // checked against the journal, and only the segments it lacks are sent.
  // Without a journal a failed put deletes what it sent. The caller saves
  // the result, then calls journal->finish().
  Result<StoredFile> put(const Source& source, const PutOptions& options, TimeMs now, PutJournal* journal = nullptr);
  Status get(const StoredFile& file, const Sink& sink);
  // Deletes every shard of the file from its providers. Returns how many
  // shards providers kept because a storage offer of theirs commits to them
  // (kCommitted; they go when those offers end, docs/storage.md "Committed shards").
  Result<std::size_t> remove(const StoredFile& file);
  // Audits shard `shard` of segment `segment` with `seed`: kOk when the
  // provider's proof leads to the manifest's root.
  Status audit(const StoredFile& file, std::uint64_t segment, std::uint32_t shard, const Hash256& seed);

  // Audits every shard of every segment once, each with a fresh random
  // challenge: a missing shard always fails; a corrupted one fails when the
  // challenge lands on a bad leaf (get() checks every byte).
  Result<FileHealth> verify(const StoredFile& file);
  // Rebuilds shard indexes `lost` of every segment from any k good shards
  // and puts them on `replacements` (one provider per lost shard, none that
  // keeps another shard of the file), kept until expires_at. The manifest and
  // CID do not change (a rebuilt shard has its old root); the returned file
  // has the new placement. Old copies are deleted where their provider still
  // answers. Fails, changing nothing the caller holds, when a segment has
  // fewer than k good shards or a replacement refuses a shard.
  // escrows[x], when given, is the escrow that pays replacement x, named in
  // its puts (docs/storage.md "Unpaid objects").
  Result<StoredFile> repair(const StoredFile& file, const std::vector<std::uint32_t>& lost,
                            const std::vector<std::size_t>& replacements, TimeMs expires_at,
                            const std::vector<Hash256>& escrows = {});

  // The RTT the caller measured to each transport provider, in
  // microseconds (-1: not measured). Gets then ask for shards by
  // fetch_order (placement.hpp): the nearest Coral cluster level first.
  void set_nearness(std::vector<std::int64_t> rtt_us);

  const PipelineStats& stats() const { return stats_; }

 private:
  Status put_segments(const Source& source, SegmentBuffers& b, Manifest& m, std::uint64_t index,
                      const PutOptions& options, PutJournal* journal);
  Result<std::uint64_t> resume_from(const PutJournal& journal, const PutOptions& options, const Source& source,
                                    SegmentBuffers& b, Manifest& m);
  struct ShardPut {
    std::size_t provider;
    ShardId root;
    ByteView shard;
    Hash256 escrow;  // zero: none named
  };
  // The put's sliding window (put_window.cpp).
  struct PutSegment;
  struct PutAsked {
    PutSegment* segment;
    std::size_t provider;
    std::uint32_t size;  // of the shard
  };
  void seal_segment(PutSegment& s, SegmentCipher& cipher, const PutOptions& options, const Salt& salt,
                    bool journaled) const;
  void send_sealed(CpuWorker& worker, std::deque<PutSegment>& segs, std::vector<SegmentBuffers*>& free_buffers,
                   std::map<std::uint64_t, PutAsked>& asked);
  Status await_puts(CpuWorker& worker, std::map<std::uint64_t, PutAsked>& asked);
  Status check_put_answer(const ShardTransport::Answer& a, std::map<std::uint64_t, PutAsked>& asked);
  Status retire(const PutSegment& s, Manifest& m, PutJournal* journal);
  Status retire_confirmed(std::deque<PutSegment>& segs, Manifest& m, PutJournal* journal);
  // The get's sliding window (get_window.cpp).
  struct GetWindow;
  Status start_fetches(GetWindow& g);
  void await_shards(GetWindow& g);
  void take_failed_answer(GetWindow& g, const ShardTransport::Answer& a);
  void take_checked(GetWindow& g);
  Status fetch_segment(SegmentBuffers& b, const Manifest& m, const std::vector<std::size_t>& placement, std::uint64_t index);
  // Fetches segments first .. first + count - 1 into w's slots 0 .. count - 1.
  Status fetch_segments(SegmentWindow& w, std::size_t count, const Manifest& m, const std::vector<std::size_t>& placement,
                        std::uint64_t first);
  Result<Manifest> open_file(const StoredFile& file) const;
  ShardTransport::Call audit_call(const Manifest& m, const std::vector<std::size_t>& placement, std::uint64_t segment,
                                  std::uint32_t shard, const Hash256& seed);
  std::uint32_t audit_segment(const Manifest& m, const std::vector<std::size_t>& placement, std::uint64_t segment,
                              FileHealth& health);
  Status rebuild_segment(SegmentBuffers& b, const Manifest& m, const StoredFile& file, std::uint64_t segment,
                         const std::vector<std::uint32_t>& lost, const std::vector<std::size_t>& replacements,
                         TimeMs expires_at, const std::vector<Hash256>& escrows);
  void forget_old_copies(const Manifest& m, const std::vector<std::size_t>& old_placement,
                         const std::vector<std::size_t>& new_placement, const std::vector<std::uint32_t>& lost);
  Result<std::size_t> delete_shards(const Manifest& m, const std::vector<std::size_t>& placement);
  Status send_puts(const std::vector<ShardPut>& puts, const Salt& file_salt, TimeMs expires_at, std::size_t held_bytes);
  std::vector<ShardTransport::Answer> exchange(std::vector<ShardTransport::Call> calls, std::size_t held_bytes);

  Key256 master_;
  ShardTransport& transport_;
  std::uint64_t next_request_ = 1;
  PipelineStats stats_;
  std::vector<std::uint32_t> strikes_;  // per provider: bad or missing answers, to try others first
  std::vector<std::int64_t> rtt_us_;    // per provider, or empty: nothing measured
};

}  // namespace bc::storage
