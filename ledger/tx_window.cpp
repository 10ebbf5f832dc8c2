#include "ledger/tx_window.hpp"

#include <algorithm>

#include "layers/assert.hpp"

namespace bc::ledger {

TxWindow::TxWindow(TxWindowOptions options) : opt_(options) {
  BC_ASSERT(opt_.max_txs > 0 && opt_.window_ms >= 0);
}

void TxWindow::add(Bytes tx, std::optional<PeerId> from, TimeMs now) {
  // The owner sends a full batch before adding more: the bounds hold by one entry at most.
  BC_ASSERT(!full());
  if (empty()) opened_at_ = now;
  encoded_bytes_ += 4 + tx.size();
  entries_.push_back(Entry{std::move(tx), from});
}

bool TxWindow::full() const { return entries_.size() >= opt_.max_txs || encoded_bytes_ >= opt_.max_bytes; }

std::vector<ByteView> TxWindow::for_peer(PeerId peer) const { return for_peer(std::span<const PeerId>(&peer, 1)); }

std::vector<ByteView> TxWindow::for_peer(std::span<const PeerId> conns) const {
  std::vector<ByteView> v;
  v.reserve(entries_.size());
  for (const Entry& e : entries_)
    if (!e.from || std::find(conns.begin(), conns.end(), *e.from) == conns.end()) v.emplace_back(e.tx);
  return v;
}

void TxWindow::clear() {
  entries_.clear();
  encoded_bytes_ = 4;
  BC_ASSERT(due() == kNever);
}

}  // namespace bc::ledger
