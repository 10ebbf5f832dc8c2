// Many signed transactions in one message: the body of sync's NewTxs frame
// (docs/ledger.md, "Transaction gossip in batches").
//
// Form (integers big-endian): count u32, then count x (len u32, SignedTx bytes).
//
// The decoder takes hostile bytes. It checks the frame against the limits
// before it decodes any entry: at most max_txs entries and max_bytes in all,
// every length inside the body, no trailing bytes; any of these fails the
// whole frame (kMalformed or kOversized). Each entry is then decoded on its
// own with the bounded decode_tx: an entry longer than params.max_tx_bytes,
// or one that does not decode, is dropped and counted, and the rest stand.
// Nothing is allocated beyond the counted entries of a body that fits.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "ledger/tx.hpp"

namespace bc::ledger {

struct TxBatchLimits {
  std::uint32_t max_txs = 1024;
  std::size_t max_bytes = 1u << 20;
};

struct DecodedTxBatch {
  std::vector<Tx> txs;         // the entries that decoded, in the frame's order
  std::uint32_t malformed = 0;  // entries dropped: oversized or not a SignedTx
};

// Appends the body carrying `txs` to `out`. The receiver's limits are the
// caller's to keep (the sender's TxWindow keeps its batches within them).
void append_tx_batch(Bytes& out, std::span<const ByteView> txs);
Result<DecodedTxBatch> decode_tx_batch(ByteView body, const ChainParams& params, const TxBatchLimits& limits);

}  // namespace bc::ledger
