// Block and transaction sync between nodes: a sans-I/O bc::StreamProtocol
// (layers/core.hpp).
//
// Peers are framed-stream connections named by the driver (a TCP connection
// each in blockcloudd, a MemNet stream in tests). Inputs: on_peer_up /
// on_frame / on_peer_down / on_tick, the answers to the core's requests
// (handle_block_applied, handle_txs_admitted) and announce_block for a block
// the node committed itself. Outputs: frames and disconnects in the Outbox,
// and requests pulled with poll_event().
//
// The core never touches the ledger's state: it decides which blocks to ask
// for and in what order to commit them, and the driver validates and commits
// (on whatever thread it likes). It reads only committed blocks, through a
// BlockSource, to serve GetBlocks; it keeps the committed head itself from
// what the driver reports.
//
// Requests (poll_event), each answered by the driver in the order made:
//   ApplyBlock{bytes, certificate}  validate and commit this block on top of
//                      the head (with its commit certificate on a certified
//                      chain, docs/staking.md), then call
//                      handle_block_applied(status). One is outstanding at a
//                      time; the next comes after the answer.
//   AdmitTxs{txs, from} a peer gossiped these txs (new to this core, in the
//                      frame's order): try the mempool, and call
//                      handle_txs_admitted(admitted, from) with those it took.
//
// Messages (one per frame; first byte = kind; integers big-endian):
//   1 Hello    {genesis hash 32, head height u64, head hash 32[, node nonce u64]}
//                                                                 on connect and every status_interval
//   2 NewBlock {len u32, block bytes, certificate bytes}          a freshly committed block
//   3 GetBlocks{from height u64, max count u32}
//   4 Blocks   {count u32, then count x (len u32, block bytes, len u32, certificate bytes)}
//                                                                 answer, in height order
// A certificate is empty on a chain without validators; the ledger refuses a
// certified chain's block without a valid one, so sync accepts only those.
//   6 NewTxs   {count u32, then count x (len u32, SignedTx bytes)} gossip of admitted txs,
//                                                                 batched (ledger/tx_batch.hpp, tx_window.hpp)
// (Kind 5, one tx per frame, is retired: a peer sending it is dropped.)
// Two nodes that dial each other hold two connections; the nonce in their
// Hellos (SyncOptions::node_nonce) lets gossip (NewTxs, NewBlock) go over
// one of them only: connections whose Hellos name one nonce from one IP are
// one peer node (docs/ledger.md, "One copy per peer node").
// A peer with another genesis, or that sends a malformed message, is dropped.
// A node behind a peer asks it for blocks in batches and applies them in
// order; one request in flight at a time, to an outbound peer (one the node
// chose) before any inbound one.
//
// Deadlines (all measured on the `now` the driver passes in):
//   hello_timeout_ms    a connection that has not said Hello by then is dropped;
//   idle_timeout_ms     a peer that has sent nothing for that long is dropped
//                       (honest peers say Hello every status_interval_ms);
//   request_timeout_ms  a peer that has not answered GetBlocks by then is dropped.
// Each of these, and an answer that does not move us forward although the
// peer claimed to be ahead, is a fault: the peer is dropped and its address
// banned (connections from or to it closed at once) for distrust_ms, doubled
// for each further fault while remembered, at most max_ban_ms. A peer's claims
// never block the node: the core only decides whom to ask; a producer is
// paused by blocks being committed, not by claims (producer_may_build).
#pragma once
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <unordered_set>
#include <variant>
#include <vector>

#include "layers/core.hpp"
#include "ledger/block.hpp"
#include "ledger/tx.hpp"
#include "ledger/tx_batch.hpp"
#include "ledger/tx_window.hpp"

namespace bc::ledger {

class Ledger;
class Mempool;

struct SyncOptions {
  std::uint32_t batch_blocks = 64;               // blocks per GetBlocks
  std::size_t max_response_bytes = 16u << 20;    // a Blocks answer stops after this many bytes
  TimeMs request_timeout_ms = 5000;              // GetBlocks answer deadline
  TimeMs status_interval_ms = 2000;
  TimeMs hello_timeout_ms = 5000;                // from on_peer_up to the peer's Hello
  TimeMs idle_timeout_ms = 15'000;               // longest silence of a peer after its Hello
  TimeMs distrust_ms = 30'000;                   // first ban of a faulty peer's address
  TimeMs max_ban_ms = 30 * 60'000;               // bans double per fault up to this
  std::size_t max_banned = 4096;                 // addresses remembered; the soonest-expiring go first
  std::size_t seen_tx_ids = 200'000;             // dedup memory for gossip
  TxWindowOptions tx_window{};                   // how admitted txs are batched for gossip
  TxBatchLimits tx_batch{};                      // what a peer's NewTxs may carry; holds our own window's batches
  // Said in Hello so that a peer holding two connections to this node sends
  // each gossip frame on one of them; the driver draws it at random. 0: not
  // said (each of our connections counts as a node of its own).
  std::uint64_t node_nonce = 0;
};

struct SyncStats {
  std::uint64_t blocks_applied = 0, blocks_rejected = 0, blocks_served = 0;
  std::uint64_t blocks_superseded = 0;  // refused because the node committed that height meanwhile
  std::uint64_t txs_gossiped_in = 0, txs_admitted_from_peers = 0, malformed = 0, genesis_mismatch = 0;
  // NewTxs frames sent and received; entries of a well-framed NewTxs that did not decode (dropped, peer kept).
  std::uint64_t tx_batches_out = 0, tx_batches_in = 0, txs_malformed = 0;
  // Faults (each drops the peer and bans its address) and refusals of banned addresses.
  std::uint64_t hello_timeouts = 0, idle_timeouts = 0, request_timeouts = 0, bad_answers = 0, refused_banned = 0;
};

// The committed head as the core knows it.
struct ChainTip {
  std::uint64_t height = 0;
  Hash256 hash;
};

// Committed blocks by height, for serving GetBlocks. Called on the core's
// thread while the driver may be committing on another, so an implementation
// must be safe for that (LevelDB reads are). A height above the core's head
// is never asked for.
class BlockSource {
 public:
  virtual ~BlockSource() = default;
  virtual std::optional<Bytes> block_at(std::uint64_t height) const = 0;
  // The commit certificate stored with that block; nullopt: none.
  virtual std::optional<Bytes> certificate_at(std::uint64_t) const { return std::nullopt; }
};

// A BlockSource over a Ledger's store: Ledger::block_at reads LevelDB only.
class LedgerBlocks final : public BlockSource {
 public:
  explicit LedgerBlocks(const Ledger& ledger) : ledger_(ledger) {}
  std::optional<Bytes> block_at(std::uint64_t height) const override;
  std::optional<Bytes> certificate_at(std::uint64_t height) const override;

 private:
  const Ledger& ledger_;
};

struct ApplyBlock {
  Bytes bytes;
  std::uint64_t height = 0;
  // The driver's clock for the max_future_ms check (a new block), or nullopt
  // for an old block (checked against its parent only).
  std::optional<TimeMs> check_time;
  Bytes certificate;  // encoded CommitCertificate; empty: none
};
struct AdmitTxs {
  std::vector<Tx> txs;
  PeerId from = 0;
};
using SyncEvent = std::variant<ApplyBlock, AdmitTxs>;

class SyncCore final : public StreamProtocol {
 public:
  // `blocks` must outlive the core. `head` is the ledger's committed head.
  SyncCore(const ChainParams& params, const Hash256& genesis_hash, ChainTip head, const BlockSource& blocks,
           SyncOptions options);

  void on_peer_up(PeerId peer, const Endpoint& remote, bool outbound, TimeMs now, Outbox& out) override;
  void on_frame(PeerId peer, ByteView frame, TimeMs now, Outbox& out) override;
  void on_peer_down(PeerId peer, TimeMs now, Outbox& out) override;
  void on_tick(TimeMs now, Outbox& out) override;
  TimeMs next_wakeup() const override;

  // The next request for the driver, in order; nullopt when there is none.
  std::optional<SyncEvent> poll_event();
  // REQUIRES: an ApplyBlock was polled and not yet answered. `result` is the
  // ledger's verdict: ok means the block is committed (durably).
  void handle_block_applied(const Status& result, TimeMs now, Outbox& out);
  // Txs the driver admitted to its mempool: from a peer's AdmitTxs (`from`
  // set) or from local clients (nullopt). Gossiped to every other peer in
  // NewTxs batches: at once when the window fills, else at its due time
  // (next_wakeup, on_tick).
  void handle_txs_admitted(std::span<const Tx> txs, std::optional<PeerId> from, TimeMs now, Outbox& out);
  // The node committed a block of its own (it produced it): the new head,
  // announced to every peer.
  // `certificate`: its encoded commit certificate (certified chains).
  void announce_block(ByteView block_bytes, TimeMs now, Outbox& out, ByteView certificate = {});

  // True while blocks from peers wait to be committed or one is being
  // committed: a producer waits, so it never builds on a head about to move.
  // Only blocks a peer really sent count: a claimed head never makes this true.
  bool applying() const { return !to_apply_.empty(); }
  // Whether a block producer may build on the head now (`started`: when the
  // node started). Never while blocks from peers are being committed
  // (applying()). Within hello_timeout_ms of the start, also not before some
  // peer has said Hello and while a GetBlocks is outstanding, so a producer
  // restarted from an older copy of its store first learns it is behind.
  // After that, no claim and no unanswered request holds it.
  bool producer_may_build(TimeMs started, TimeMs now) const;
  // A GetBlocks is outstanding (it ends by an answer or request_timeout_ms).
  bool requesting() const { return inflight_peer_.has_value(); }
  // Some peer has said Hello since the core started.
  bool heard_hello() const { return heard_hello_; }
  // `remote`'s address is banned at `now` (connections to or from it are closed at once).
  bool banned(const Endpoint& remote, TimeMs now) const;
  const ChainTip& head() const { return head_; }

  struct PeerView {
    PeerId id;
    std::uint64_t height;
    bool hello;
    bool outbound;
  };
  std::vector<PeerView> peers() const;
  std::uint64_t best_peer_height() const;
  const SyncStats& stats() const { return stats_; }

 private:
  struct Peer {
    Endpoint remote;
    bool outbound = false;
    bool hello = false;
    std::uint64_t height = 0;
    Hash256 head;
    TimeMs last_heard = 0;  // connect time until its first frame
    std::uint64_t nonce = 0;  // its Hello's node nonce; 0: none said
  };
  // A peer node past Hello for gossip: the connection that carries it, and
  // all of its connections (a tx that came on any of them is not sent back).
  struct GossipTarget {
    PeerId conn;
    std::vector<PeerId> conns;
  };
  using Address = std::array<std::uint8_t, 16>;
  struct Ban {
    std::uint32_t faults = 0;
    TimeMs until = 0;
  };
  // A block waiting to be committed.
  struct Pending {
    Bytes bytes;
    Bytes certificate;
    std::uint64_t height = 0;
    Hash256 hash;
    std::optional<TimeMs> check_time;
    std::optional<PeerId> relay_from;  // a NewBlock: passed on once committed
  };
  // The Blocks answer being committed (at most one: one request in flight).
  struct Batch {
    PeerId peer = 0;
    std::uint64_t height_before = 0;
    std::uint32_t blocks = 0;
    bool failed = false;
  };
  Bytes hello_msg() const;
  void handle_hello(PeerId p, ByteView body, TimeMs now, Outbox& out);
  void handle_new_block(PeerId p, ByteView body, TimeMs now, Outbox& out);
  void handle_get_blocks(PeerId p, ByteView body, Outbox& out);
  void handle_blocks(PeerId p, ByteView body, TimeMs now, Outbox& out);
  void handle_new_txs(PeerId p, ByteView body, Outbox& out);
  std::uint64_t next_height() const { return head_.height + to_apply_.size() + 1; }
  void enqueue(Pending block);
  void request_next_apply();
  void finish_batch(TimeMs now, Outbox& out);
  void maybe_request(TimeMs now, Outbox& out);
  void flush_txs(Outbox& out);
  std::vector<GossipTarget> gossip_targets() const;
  bool remember(const Hash256& id);
  void bad_peer(PeerId p, Outbox& out);
  void forget(PeerId p, Outbox& out);
  void fault(PeerId p, std::uint64_t& counter, TimeMs now, Outbox& out);
  void expire_deadlines(TimeMs now, Outbox& out);
  void prune_bans(TimeMs now);
  std::optional<PeerId> pick_source() const;

  ChainParams params_;
  Hash256 genesis_hash_;
  ChainTip head_;
  const BlockSource& blocks_;
  SyncOptions opt_;
  std::map<PeerId, Peer> peers_;
  std::map<Address, Ban> bans_;
  bool heard_hello_ = false;
  std::optional<PeerId> inflight_peer_;
  TimeMs inflight_since_ = 0;
  TimeMs next_tick_ = 0;
  std::deque<Pending> to_apply_;  // front: the one asked of the driver, if apply_asked_
  bool apply_asked_ = false;
  std::optional<Batch> batch_;
  std::deque<SyncEvent> events_;
  std::unordered_set<Hash256, Hash256Hasher> seen_;
  std::deque<Hash256> seen_order_;
  TxWindow tx_window_;
  SyncStats stats_;
};

// Serves the core's requests on the calling thread, at once: ApplyBlock
// through ledger.apply_block (then mempool.prune), AdmitTxs through
// mempool.add. For tests, the fuzzer and the simulator; blockcloudd serves
// them on its ledger thread instead. on_commit (optional) sees each block
// committed. Returns when the core has no request left.
void serve_sync_requests(SyncCore& core, Ledger& ledger, Mempool& mempool, TimeMs now, Outbox& out,
                         const std::function<void(const BlockHeader&)>& on_commit = {});

// Message encoders (also used by tests).
// With nonce 0 the Hello carries none (the 72-byte form).
Bytes sync_hello(const Hash256& genesis, std::uint64_t height, const Hash256& head, std::uint64_t nonce = 0);
Bytes sync_new_block(ByteView block, ByteView certificate = {});
// Applies an ApplyBlock request: decodes its certificate (if any) and calls
// ledger.apply_block. What serve_sync_requests and blockcloudd both do.
Status apply_sync_block(Ledger& ledger, const ApplyBlock& req);
Bytes sync_get_blocks(std::uint64_t from, std::uint32_t max);
Bytes sync_new_txs(std::span<const ByteView> txs);

}  // namespace bc::ledger
