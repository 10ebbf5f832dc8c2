// Transaction gossip in batches: the NewTxs body codec against hostile
// bytes, the outgoing window, and SyncCore sending and receiving batches.
#include <tuple>

#include "ledger/sync.hpp"
#include "ledger/tx_batch.hpp"
#include "ledger/tx_window.hpp"
#include "tests/ledger/ledger_fixture.hpp"

using namespace bc;
using namespace bc::ledger;
using namespace bc::ledger::test;

namespace {
constexpr std::uint8_t kNewTxs = 6;

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
  append_be32(huge_count, 0xffffffffu);
  CHECK(decode_tx_batch(huge_count, params, TxBatchLimits{.max_txs = UINT32_MAX}).status().code == Error::kMalformed);
  Bytes past_end;
  append_be32(past_end, 1);
  append_be32(past_end, 100);
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

namespace {
// A core with three peers past Hello (ids 1, 2, 3).
struct Gossiper {
  Chain chain;
  LedgerBlocks blocks{*chain.ledger};
  SyncCore core;
  explicit Gossiper(TxWindowOptions w)
      : core(chain.ledger->params(), chain.ledger->genesis_hash(), ChainTip{0, chain.ledger->head().hash}, blocks,
             SyncOptions{.tx_window = w}) {
    Outbox out;
    for (PeerId p : {1, 2, 3}) {
      core.on_peer_up(p, Endpoint{}, false, chain.now, out);
      core.on_frame(p, sync_hello(chain.ledger->genesis_hash(), 0, chain.ledger->head().hash), chain.now, out);
    }
    core.on_tick(chain.now, out);  // its status timer set, so a window is its next wakeup
  }
  // The NewTxs frames in `out`: (peer, txs decoded).
  std::vector<std::pair<PeerId, std::vector<Tx>>> batches(const Outbox& out) const {
    std::vector<std::pair<PeerId, std::vector<Tx>>> v;
    for (const auto& f : out.frames) {
      if (f.payload[0] != kNewTxs) continue;
      auto d = decode_tx_batch(ByteView(f.payload).subspan(1), chain.ledger->params(), TxBatchLimits{});
      REQUIRE(d.ok());
      v.emplace_back(f.to, std::move(d->txs));
    }
    return v;
  }
};
}  // namespace

TEST_CASE("sync: admitted txs go out as one NewTxs per peer when the window falls due, none back to their sender") {
  Gossiper g(TxWindowOptions{.window_ms = 10});
  const TimeMs t = g.chain.now;
  const auto txs = transfers(g.chain, 5);
  Outbox out;
  g.core.handle_txs_admitted(txs, PeerId{2}, t, out);
  CHECK(g.batches(out).empty());
  CHECK(g.core.next_wakeup() == t + 10);
  g.core.on_tick(t + 9, out);
  CHECK(g.batches(out).empty());
  g.core.on_tick(t + 10, out);
  const auto sent = g.batches(out);
  REQUIRE(sent.size() == 2);
  CHECK(sent[0].first == 1);
  CHECK(sent[1].first == 3);
  CHECK(ids(sent[0].second) == ids(txs));
  CHECK(ids(sent[1].second) == ids(txs));
  CHECK(g.core.stats().tx_batches_out == 2);
  CHECK(g.core.stats().txs_admitted_from_peers == 5);
  CHECK(g.core.next_wakeup() > t + 10);
}

TEST_CASE("sync: a full window goes at once; no window sends one batch per call") {
  Gossiper g(TxWindowOptions{.window_ms = 10, .max_txs = 4});
  const auto txs = transfers(g.chain, 10);
  Outbox out;
  g.core.handle_txs_admitted(txs, std::nullopt, g.chain.now, out);
  const auto sent = g.batches(out);
  REQUIRE(sent.size() == 6);  // two full batches of 4 to each of the 3 peers; 2 txs wait
  for (const auto& [peer, batch] : sent) CHECK(batch.size() == 4);
  CHECK(g.core.next_wakeup() == g.chain.now + 10);

  Gossiper now(TxWindowOptions{.window_ms = 0});
  Outbox out2;
  now.core.handle_txs_admitted(std::span(txs).first(3), std::nullopt, now.chain.now, out2);
  REQUIRE(now.batches(out2).size() == 3);
  CHECK(now.batches(out2)[0].second.size() == 3);
}

TEST_CASE("sync: a NewTxs is one request for the txs not seen yet; a bad entry is counted, a bad frame drops the peer") {
  Gossiper g(TxWindowOptions{});
  const auto txs = transfers(g.chain, 3);
  const std::vector<Bytes> entries{encode_tx(txs[0]), Bytes{9, 9}, encode_tx(txs[1])};
  Outbox out;
  g.core.on_frame(1, sync_new_txs(std::vector<ByteView>(entries.begin(), entries.end())), g.chain.now, out);
  CHECK(out.disconnects.empty());
  auto event = g.core.poll_event();
  REQUIRE(event.has_value());
  const auto& admit = std::get<AdmitTxs>(*event);
  CHECK(admit.from == 1);
  CHECK(ids(admit.txs) == std::vector<Hash256>{txs[0].id, txs[1].id});
  CHECK(g.core.stats().txs_malformed == 1);
  CHECK(g.core.stats().txs_gossiped_in == 3);
  CHECK(g.core.stats().tx_batches_in == 1);

  // The same txs again, from another peer, and one new: only the new one is asked for.
  const std::vector<Bytes> again{encode_tx(txs[1]), encode_tx(txs[2])};
  g.core.on_frame(2, sync_new_txs(std::vector<ByteView>(again.begin(), again.end())), g.chain.now, out);
  event = g.core.poll_event();
  REQUIRE(event.has_value());
  CHECK(ids(std::get<AdmitTxs>(*event).txs) == std::vector<Hash256>{txs[2].id});
  CHECK(!g.core.poll_event().has_value());

  Bytes bad{kNewTxs};
  append_be32(bad, 2);  // two entries announced, none there
  g.core.on_frame(3, bad, g.chain.now, out);
  CHECK(out.disconnects == std::vector<PeerId>{3});
  CHECK(g.core.stats().malformed == 1);
  CHECK(!g.core.poll_event().has_value());
}

TEST_CASE("sync: a peer node on two connections (one nonce, one IP) gets each tx batch once, on its outbound connection") {
  Chain chain;
  LedgerBlocks blocks{*chain.ledger};
  SyncCore core(chain.ledger->params(), chain.ledger->genesis_hash(), ChainTip{0, chain.ledger->head().hash}, blocks,
                SyncOptions{.tx_window = TxWindowOptions{.window_ms = 0}, .node_nonce = 77});
  const Endpoint a = *Endpoint::parse("127.0.0.2:1000"), b = *Endpoint::parse("127.0.0.3:1000");
  Outbox out;
  // Node A on connections 1 (inbound) and 2 (outbound); connection 3 names A's nonce from B's IP; 4 says none.
  for (auto [p, remote, outbound, nonce] : {std::tuple{PeerId{1}, a, false, 5u}, std::tuple{PeerId{2}, a, true, 5u},
                                            std::tuple{PeerId{3}, b, false, 5u}, std::tuple{PeerId{4}, b, false, 0u}}) {
    core.on_peer_up(p, remote, outbound, chain.now, out);
    core.on_frame(p, sync_hello(chain.ledger->genesis_hash(), 0, chain.ledger->head().hash, nonce), chain.now, out);
  }
  CHECK(out.disconnects.empty());
  CHECK(out.frames[0].payload == sync_hello(chain.ledger->genesis_hash(), 0, chain.ledger->head().hash, 77));
  CHECK(out.frames[0].payload.size() == 81);
  auto new_txs_to = [&](const Outbox& o) {
    std::vector<PeerId> to;
    for (const auto& f : o.frames)
      if (f.payload[0] == kNewTxs) to.push_back(f.to);
    return to;
  };
  const auto txs = transfers(chain, 2);
  Outbox out2;
  core.handle_txs_admitted(std::span(txs).first(1), std::nullopt, chain.now, out2);
  CHECK(new_txs_to(out2) == std::vector<PeerId>{2, 3, 4});
  Outbox out3;  // a tx that came on A's inbound connection goes back on neither of A's
  core.handle_txs_admitted(std::span(txs).last(1), PeerId{1}, chain.now, out3);
  CHECK(new_txs_to(out3) == std::vector<PeerId>{3, 4});
  Outbox out4;  // with its outbound connection gone, A is reached on the other
  core.on_peer_down(2, chain.now, out4);
  core.handle_txs_admitted(std::span(txs).first(1), std::nullopt, chain.now, out4);
  CHECK(new_txs_to(out4) == std::vector<PeerId>{1, 3, 4});
}
