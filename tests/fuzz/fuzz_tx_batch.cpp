// libFuzzer target: hostile bytes -> decode_tx_batch (the body of sync's
// NewTxs frame) and the gossip window that sends such bodies.
//
// Whatever the bytes: the decoder returns a counted reason or a batch within
// its limits; every decoded tx re-encodes to one that decodes to the same ID;
// a batch re-encoded with append_tx_batch decodes to the same txs with no
// malformed entry; and the window built from them keeps its own bounds.
// (fuzz_ledger_sync reaches the same decoder through a live SyncCore.)
#include <cstddef>
#include <cstdint>

#include "ledger/error.hpp"
#include "ledger/tx_batch.hpp"
#include "ledger/tx_window.hpp"

using namespace bc;
using namespace bc::ledger;

namespace {
void require(bool ok) {
  if (!ok) __builtin_trap();
}
constexpr TxBatchLimits kLimits{.max_txs = 64, .max_bytes = 1u << 16};
constexpr TxWindowOptions kWindow{.window_ms = 5, .max_txs = 8, .max_bytes = 4096};

// The decoded txs through the window, as SyncCore feeds it: flushed when full.
void exercise_window(const DecodedTxBatch& batch) {
  TxWindow w(kWindow);
  TimeMs now = 1000;
  for (std::size_t i = 0; i < batch.txs.size(); ++i) {
    const std::optional<PeerId> from = i % 3 == 0 ? std::nullopt : std::optional<PeerId>(i % 3);
    w.add(encode_tx(batch.txs[i]), from, now++);
    require(w.due() != kNever && w.due() <= now - 1 + kWindow.window_ms);  // counted from the first tx
    require(w.for_peer(1).size() <= w.size() && w.for_peer(9).size() == w.size());
    if (w.full()) {
      require(w.size() <= kWindow.max_txs);
      require(w.encoded_bytes() < kWindow.max_bytes + 4 + ChainParams{}.max_tx_bytes);
      w.clear();
    }
  }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const ChainParams params;
  auto batch = decode_tx_batch(ByteView(data, size), params, kLimits);
  if (!batch.ok()) {
    const auto code = batch.status().code;
    require(code == Error::kMalformed || code == Error::kOversized);
    require(!batch.status().message.empty());
    return 0;
  }
  require(size <= kLimits.max_bytes && size >= 4);
  require(batch->txs.size() + batch->malformed <= kLimits.max_txs);

  std::vector<Bytes> again;
  for (const Tx& tx : batch->txs) {
    again.push_back(encode_tx(tx));
    auto one = decode_tx(again.back(), params);
    require(one.ok() && one->id == tx.id);
  }
  std::vector<ByteView> views(again.begin(), again.end());
  Bytes body;
  append_tx_batch(body, views);
  auto round = decode_tx_batch(body, params, TxBatchLimits{});
  require(round.ok() && round->malformed == 0 && round->txs.size() == batch->txs.size());
  for (std::size_t i = 0; i < round->txs.size(); ++i) require(round->txs[i].id == batch->txs[i].id);
  exercise_window(*batch);
  return 0;
}
