// Block and transaction sync between nodes, sans-I/O.
//
// Peers are opaque ids given by the driver (a TCP connection each). Inputs:
// on_connect / on_disconnect / on_message / on_tick and the local events
// (a block this node committed, a tx a client submitted). Outputs: frames to
// send and peers to drop, left in a SyncOut.
//
// Messages (one per frame; first byte = kind; integers big-endian):
//   1 Hello    {genesis hash 32, head height u64, head hash 32}  on connect and every status_interval
//   2 NewBlock {block bytes}                                      a freshly committed block
//   3 GetBlocks{from height u64, max count u32}
//   4 Blocks   {count u32, then count x (len u32, block bytes)}  answer, in height order
//   5 NewTx    {SignedTx bytes}                                   gossip of admitted txs
// A peer with another genesis, or that sends a malformed message, is dropped.
// A node behind a peer asks it for blocks in batches and applies them in
// order; one request in flight at a time, re-asked of another peer after
// request_timeout_ms.
#pragma once
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <unordered_set>
#include <vector>

#include "ledger/ledger.hpp"
#include "ledger/mempool.hpp"

namespace bc::ledger {

using PeerId = std::uint64_t;

struct SyncOptions {
  std::uint32_t batch_blocks = 64;               // blocks per GetBlocks
  std::size_t max_response_bytes = 16u << 20;    // a Blocks answer stops after this many bytes
  TimeMs request_timeout_ms = 5000;
  TimeMs status_interval_ms = 2000;
  TimeMs distrust_ms = 30'000;                   // after a peer's answer did not move us forward
  std::size_t seen_tx_ids = 200'000;             // dedup memory for gossip
};

struct SyncOut {
  std::vector<std::pair<PeerId, Bytes>> sends;
  std::vector<PeerId> drops;
};

struct SyncStats {
  std::uint64_t blocks_applied = 0, blocks_rejected = 0, blocks_served = 0;
  std::uint64_t txs_gossiped_in = 0, txs_admitted_from_peers = 0, malformed = 0, genesis_mismatch = 0;
};

class SyncCore {
 public:
  // on_commit runs after every block this core commits (received ones).
  SyncCore(Ledger& ledger, Mempool& mempool, SyncOptions options,
           std::function<void(const BlockHeader&, TimeMs)> on_commit);

  void on_connect(PeerId peer, TimeMs now, SyncOut& out);
  void on_disconnect(PeerId peer);
  void on_message(PeerId peer, ByteView msg, TimeMs now, SyncOut& out);
  void on_tick(TimeMs now, SyncOut& out);
  TimeMs next_wakeup() const { return next_tick_; }

  // This node committed a block (it produced it): announce it.
  void announce_block(ByteView block_bytes, SyncOut& out);
  // A client's tx: admit it to the mempool and gossip it if admitted.
  Status submit_tx(Tx tx, SyncOut& out);

  struct PeerView {
    PeerId id;
    std::uint64_t height;
    bool hello;
  };
  std::vector<PeerView> peers() const;
  std::uint64_t best_peer_height() const;
  const SyncStats& stats() const { return stats_; }

 private:
  struct Peer {
    bool hello = false;
    std::uint64_t height = 0;
    Hash256 head;
    TimeMs distrust_until = 0;  // its head claims are ignored until then
  };
  Bytes hello_msg() const;
  void handle_hello(PeerId p, ByteView body, TimeMs now, SyncOut& out);
  void handle_new_block(PeerId p, ByteView body, TimeMs now, SyncOut& out);
  void handle_get_blocks(PeerId p, ByteView body, SyncOut& out);
  void handle_blocks(PeerId p, ByteView body, TimeMs now, SyncOut& out);
  void handle_new_tx(PeerId p, ByteView body, SyncOut& out);
  bool apply(ByteView block, std::optional<TimeMs> now);
  void maybe_request(TimeMs now, SyncOut& out);
  void gossip_tx(const Tx& tx, std::optional<PeerId> except, SyncOut& out);
  bool remember(const Hash256& id);
  void bad_peer(PeerId p, SyncOut& out);

  Ledger& ledger_;
  Mempool& mempool_;
  SyncOptions opt_;
  std::function<void(const BlockHeader&, TimeMs)> on_commit_;
  std::map<PeerId, Peer> peers_;
  std::optional<PeerId> inflight_peer_;
  TimeMs inflight_since_ = 0;
  TimeMs next_tick_ = 0;
  std::unordered_set<Hash256, Hash256Hasher> seen_;
  std::deque<Hash256> seen_order_;
  SyncStats stats_;
};

// Message encoders (also used by tests).
Bytes sync_hello(const Hash256& genesis, std::uint64_t height, const Hash256& head);
Bytes sync_new_block(ByteView block);
Bytes sync_get_blocks(std::uint64_t from, std::uint32_t max);
Bytes sync_new_tx(ByteView tx);

}  // namespace bc::ledger
