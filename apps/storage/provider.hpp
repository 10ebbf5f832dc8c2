// The storage provider's protocol as a sans-I/O core (layers/core.hpp).
//
// Peers are framed-stream connections (a SAL flow each, later). on_frame
// decodes one Request, checks it (bounds, a put's data against its shard ID,
// expiry against `now`, the in-flight limit per peer) and either answers at
// once (a failure) or leaves a StoreTask for the driver, pulled with
// poll_event(). The driver runs the task on its ShardStore and reports with
// handle_*_done; only then does the core leave the answer in the Outbox, so
// "stored" is never said before the shard is durable. An audit reads the
// whole shard and the core builds the Merkle proof, checks it and signs it;
// a shard damaged on disk is answered kCorrupt, never with a signed wrong
// proof (which would prove malice against the provider's storage offer).
//
// A usage receipt (payment) is answered at once and kept, the highest per
// escrow, until the driver takes them for its claims (take_receipts). A
// chunk list page (a storage offer's committed shards, add_chunk_list) is
// answered at once from memory.
//
// A frame that is not a request (no request id readable) disconnects the
// peer; any other rejection is answered with a failure and counted by reason.
#pragma once
#include <deque>
#include <map>
#include <optional>
#include <string>

#include "apps/storage/messages.hpp"
#include "apps/storage/shard_store.hpp"
#include "layers/core.hpp"

namespace bc::storage {

struct ProviderOptions {
  std::size_t max_inflight_per_peer = 16;
  // Signs every audit answer (AuditAnswer::signature), so that a storage
  // offer naming its public key can be audited (docs/proof-of-service.md
  // "Storage probe"); none: answers go unsigned.
  std::optional<KeyPair> answer_key;
  // The price each put is recorded at (base units per GiB per day): a
  // priced shard no escrow pays for is dropped after a grace period
  // (docs/storage.md "Unpaid objects"); 0: free.
  std::uint64_t price = 0;
  // TEST ONLY: answer every audit with one leaf byte changed, signed (what a
  // provider serving wrong data does), for the tests of the malicious grade.
  bool test_sign_wrong_answers = false;
};

// Work for the driver's store. `ticket` goes back in handle_*_done.
// kServe (a get) reads the range straight into the answer frame that
// serve_frame makes once the store knows the length; kRead (an audit)
// reads into a buffer of its own.
struct StoreTask {
  enum class Kind { kPut, kRead, kServe, kRemove };
  std::uint64_t ticket = 0;
  Kind kind = Kind::kRead;
  ShardId shard;
  Bytes data;         // kPut: the shard is data[data_offset, data_offset + meta.size)
  std::size_t data_offset = 0;  // kPut: non-zero when data is the request frame itself
  ShardMeta meta;     // kPut
  std::uint64_t offset = 0;  // kRead, kServe
  std::uint32_t length = 0;  // kRead, kServe
  Key256 token{};     // kRemove
};

struct ProviderStats {
  std::uint64_t requests = 0, answered = 0, disconnects = 0;
  std::uint64_t stored = 0, served = 0, deleted = 0, audits = 0, receipts = 0, chunk_pages = 0;
  std::map<std::string, std::uint64_t> rejected;  // by storage::Error name
};

class ProviderCore final : public StreamProtocol {
 public:
  explicit ProviderCore(ProviderOptions options = {});

  void on_peer_up(PeerId peer, const Endpoint& remote, bool outbound, TimeMs now, Outbox& out) override;
  void on_frame(PeerId peer, ByteView frame, TimeMs now, Outbox& out) override;
  // The same for a frame the driver hands over: a put's task then carries
  // the frame itself, its shard read in place (no copy of the shard).
  void on_owned_frame(PeerId peer, Bytes frame, TimeMs now, Outbox& out);
  void on_peer_down(PeerId peer, TimeMs now, Outbox& out) override;
  void on_tick(TimeMs now, Outbox& out) override {}
  TimeMs next_wakeup() const override { return kNever; }

  std::optional<StoreTask> poll_event();
  // REQUIRES: ticket came from a task of the matching kind, reported once.
  void handle_put_done(std::uint64_t ticket, const Status& s, TimeMs now, Outbox& out);
  void handle_read_done(std::uint64_t ticket, Result<Bytes> r, TimeMs now, Outbox& out);
  // REQUIRES (both): ticket came from a kServe task not yet reported.
  // The answer frame for n bytes of it, to read them into; built in
  // `buffer` when it has capacity (encode_data_frame: then every one of the
  // n bytes must be overwritten, or the frame dropped).
  DataFrame serve_frame(std::uint64_t ticket, std::size_t n, Bytes buffer = {}) const;
  // `frame` is serve_frame's, filled (ignored when !s.ok()).
  void handle_serve_done(std::uint64_t ticket, const Status& s, Bytes frame, TimeMs now, Outbox& out);
  void handle_remove_done(std::uint64_t ticket, const Status& s, TimeMs now, Outbox& out);

  // The usage receipts received since the last call, the highest per
  // escrow (docs/storage.md "Payment"): the driver claims with them.
  std::vector<ReceiptRequest> take_receipts();

  // Serves `shards` as the chunk list of a storage offer and returns its
  // root (merkle::list_root). REQUIRES: 1..pos::kMaxOfferChunks shards.
  Hash256 add_chunk_list(std::vector<ShardId> shards);
  // Stops serving list `root`; returns its shards (none when it is not served).
  std::vector<ShardId> remove_chunk_list(const Hash256& root);
  bool has_chunk_list(const Hash256& root) const { return chunk_lists_.contains(root); }
  std::vector<Hash256> chunk_list_roots() const;
  std::size_t chunk_lists() const { return chunk_lists_.size(); }

  const ProviderStats& stats() const { return stats_; }
  std::size_t inflight() const { return pending_.size(); }
  // Escrows with a receipt waiting; a receipt for another escrow past it is refused (busy).
  static constexpr std::size_t kMaxQueuedReceipts = 4096;

 private:
  enum class Purpose { kPut, kGet, kDelete, kAudit };
  struct Pending {
    PeerId peer;
    std::uint64_t request_id;
    Purpose purpose;
    ShardId shard;
    Hash256 seed;  // kAudit
    std::uint64_t size = 0;  // kPut
  };
  // `owned`: the frame, when the driver handed it over (on_owned_frame).
  void handle_frame(PeerId peer, ByteView frame, Bytes* owned, TimeMs now, Outbox& out);
  void start(PeerId peer, RequestDecode d, Bytes* owned, TimeMs now, Outbox& out);
  bool take_put(PeerId peer, RequestDecode& d, Bytes* owned, TimeMs now, StoreTask& task, Outbox& out);
  void take_receipt(PeerId peer, std::uint64_t request_id, const ReceiptRequest& r, Outbox& out);
  void answer_chunk_list(PeerId peer, std::uint64_t request_id, const ChunkListRequest& r, Outbox& out);
  void reject(PeerId peer, std::uint64_t request_id, const Status& s, Outbox& out);
  void answer(const Pending& p, Response r, Outbox& out);
  std::optional<Pending> take(std::uint64_t ticket);
  void answer_audit(const Pending& p, ByteView shard, Outbox& out);

  ProviderOptions options_;
  std::map<PeerId, std::size_t> peers_;  // peer -> requests in flight
  std::map<std::uint64_t, Pending> pending_;
  std::deque<StoreTask> tasks_;
  std::map<Hash256, ReceiptRequest> receipts_;  // escrow -> its highest receipt
  std::map<Hash256, std::vector<ShardId>> chunk_lists_;  // storage root -> the committed shard IDs
  std::uint64_t next_ticket_ = 1;
  ProviderStats stats_;
};

}  // namespace bc::storage
