// The outgoing window of transaction gossip (docs/ledger.md, "Transaction
// gossip in batches"): the txs a node admitted wait here to share one
// NewTxs frame per peer, until the window is full (max_txs entries or
// max_bytes encoded) or window_ms has passed since the first of them,
// whichever comes first.
//
// Why: one frame per tx cost every node a write, a read, a decode hop and a
// worker and ledger-thread hop per tx and per peer; at a few thousand tx/s
// those queues, not the signature checks, held transfers back (2026-12-07,
// docs/benchmarks.md).
//
// Sans-I/O and deterministic: the owner (SyncCore) passes `now`, sends the
// batch when full() after an add, and when `now >= due()` on its tick.
#pragma once
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "layers/core.hpp"

namespace bc::ledger {

struct TxWindowOptions {
  TimeMs window_ms = 5;              // the longest an admitted tx waits for company
  std::uint32_t max_txs = 256;       // a batch this long goes at once
  std::size_t max_bytes = 256u << 10;  // ... or this large (encoded, counted as in a NewTxs body)
};

class TxWindow {
 public:
  explicit TxWindow(TxWindowOptions options);

  // A tx admitted at `now`: its SignedTx bytes, and the peer that sent it
  // (nullopt: a local client), which is not sent it back.
  void add(Bytes tx, std::optional<PeerId> from, TimeMs now);
  bool empty() const { return entries_.empty(); }
  // The batch must go now: it holds max_txs entries or max_bytes.
  bool full() const;
  // When the open batch must go at the latest; kNever while empty.
  TimeMs due() const { return empty() ? kNever : opened_at_ + opt_.window_ms; }
  // The entries `peer` is to get, in the order added: all but its own. They
  // point into the window: valid until the next add() or clear().
  std::vector<ByteView> for_peer(PeerId peer) const;
  // The same for a peer node reached over several connections (`conns`, the
  // SyncCore's connections to one node): all entries that came on none of them.
  std::vector<ByteView> for_peer(std::span<const PeerId> conns) const;
  void clear();
  std::size_t size() const { return entries_.size(); }
  // The bytes of a NewTxs body carrying every entry.
  std::size_t encoded_bytes() const { return encoded_bytes_; }

 private:
  struct Entry {
    Bytes tx;
    std::optional<PeerId> from;
  };
  TxWindowOptions opt_;
  std::vector<Entry> entries_;
  std::size_t encoded_bytes_ = 4;  // the count
  TimeMs opened_at_ = 0;
};

}  // namespace bc::ledger
