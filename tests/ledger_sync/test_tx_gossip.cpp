// Transaction gossip in batches: the NewTxs body codec against hostile
// bytes and the outgoing window.
#include "ledger/tx_batch.hpp"
#include "ledger/tx_window.hpp"
#include "tests/ledger/ledger_fixture.hpp"

using namespace bc;
using namespace bc::ledger;
using namespace bc::ledger::test;

namespace {
// n signed transfers, each from its own account of `c` (account i % 8, nonce i / 8).
std::vector<Tx> transfers(const Chain& c, std::size_t n) {
  std::vector<Tx> v;
  for (std::size_t i = 0; i < n; ++i) v.push_back(c.tx(i % 8, Transfer{c.addr((i + 1) % 8), 1}, 1, i / 8));
  return v;
}
std::vector<Bytes> encoded(const std::vector<Tx>& txs) {
  std::vector<Bytes> v;
  for (const auto& t : txs) v.push_back(encode_tx(t));
  return v;
}
Bytes batch_of(const std::vector<Bytes>& entries) {
  std::vector<ByteView> views(entries.begin(), entries.end());
  Bytes b;
  append_tx_batch(b, views);
  return b;
}
void put32(Bytes& b, std::uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<std::uint8_t>(v >> s));
}
std::vector<Hash256> ids(const std::vector<Tx>& txs) {
  std::vector<Hash256> v;
  for (const auto& t : txs) v.push_back(t.id);
  return v;
}
}  // namespace

TEST_CASE("tx batch: what is encoded decodes to the same txs, in order") {
  Chain c;
  const auto txs = transfers(c, 5);
  auto d = decode_tx_batch(batch_of(encoded(txs)), c.ledger->params(), TxBatchLimits{});
  REQUIRE(d.ok());
  CHECK(d->malformed == 0);
  CHECK(ids(d->txs) == ids(txs));
  auto empty = decode_tx_batch(batch_of({}), c.ledger->params(), TxBatchLimits{});
  REQUIRE(empty.ok());
  CHECK(empty->txs.empty());
}

TEST_CASE("tx batch: a frame outside the bounds or its own framing is refused whole") {
  Chain c;
  const ChainParams& params = c.ledger->params();
  const Bytes good = batch_of(encoded(transfers(c, 3)));
  const TxBatchLimits limits{.max_txs = 2, .max_bytes = good.size() - 1};
  CHECK(decode_tx_batch(good, params, TxBatchLimits{.max_txs = 2}).status().code == Error::kOversized);
  CHECK(decode_tx_batch(good, params, TxBatchLimits{.max_bytes = good.size() - 1}).status().code == Error::kOversized);
  CHECK(decode_tx_batch(good, params, limits).status().code == Error::kOversized);

  Bytes huge_count;  // a count the body cannot hold is refused before anything is allocated for it
  put32(huge_count, 0xffffffffu);
  CHECK(decode_tx_batch(huge_count, params, TxBatchLimits{.max_txs = UINT32_MAX}).status().code == Error::kMalformed);
  Bytes past_end;
  put32(past_end, 1);
  put32(past_end, 100);
  past_end.resize(past_end.size() + 10);
  const Bytes trailing = [&] { Bytes b = good; b.push_back(0); return b; }();
  const Bytes truncated(good.begin(), good.end() - 1);
  for (const Bytes& bad : {Bytes{}, Bytes{0, 0, 0}, Bytes{0, 0, 0, 1}, Bytes{0, 0, 0, 1, 0, 0}, past_end, trailing, truncated}) {
    auto d = decode_tx_batch(bad, params, TxBatchLimits{});
    CHECK(!d.ok());
    CHECK(d.status().code == Error::kMalformed);
  }
}

TEST_CASE("tx batch: an entry that is not a tx, or too long for one, is dropped and counted; the rest stand") {
  Chain c;
  const ChainParams& params = c.ledger->params();
  const auto txs = transfers(c, 2);
  const Bytes oversized(params.max_tx_bytes + 1, 0);
  const std::vector<Bytes> entries{encode_tx(txs[0]), Bytes{1, 2, 3}, oversized, Bytes{}, encode_tx(txs[1])};
  auto d = decode_tx_batch(batch_of(entries), params, TxBatchLimits{});
  REQUIRE(d.ok());
  CHECK(d->malformed == 3);
  CHECK(ids(d->txs) == ids(txs));
}

TEST_CASE("tx window: a batch goes when it is full or when its window has passed") {
  TxWindow w(TxWindowOptions{.window_ms = 5, .max_txs = 3, .max_bytes = 1000});
  CHECK(w.empty());
  CHECK(w.due() == kNever);
  w.add(Bytes(10, 1), std::nullopt, 100);
  w.add(Bytes(10, 2), PeerId{7}, 103);
  CHECK(w.due() == 105);  // counted from the first tx, not the last
  CHECK(!w.full());
  CHECK(w.encoded_bytes() == 4 + 2 * 14);
  w.add(Bytes(10, 3), PeerId{8}, 104);
  CHECK(w.full());
  CHECK(w.for_peer(7).size() == 2);  // not sent back where it came from
  CHECK(w.for_peer(8).size() == 2);
  CHECK(w.for_peer(9).size() == 3);
  CHECK(w.for_peer(7)[0][0] == 1);
  w.clear();
  CHECK(w.empty());
  CHECK(w.due() == kNever);

  TxWindow by_bytes(TxWindowOptions{.window_ms = 5, .max_txs = 100, .max_bytes = 100});
  by_bytes.add(Bytes(60, 0), std::nullopt, 0);
  CHECK(!by_bytes.full());
  by_bytes.add(Bytes(40, 0), std::nullopt, 0);  // 4 + 64 + 44 bytes encoded
  CHECK(by_bytes.full());
}
