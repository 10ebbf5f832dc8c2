// SyncCore between in-memory peers: catch-up in batches, new blocks, tx
// gossip, genesis mismatch and malformed input.
#include "ledger/sync.hpp"
#include "ledger/tx_index.hpp"
#include "tests/ledger/cert_fixture.hpp"

using namespace bc;
using namespace bc::ledger;
using namespace bc::ledger::test;

namespace {
// A core over a test chain, its requests served at once on this thread.
struct Node {
  Chain& chain;
  Mempool mempool;
  LedgerBlocks blocks;
  SyncCore core;
  Node(Chain& c, SyncOptions o = {})
      : chain(c), blocks(*c.ledger), core(c.ledger->params(), c.ledger->genesis_hash(), tip(c), blocks, o) {}
  static ChainTip tip(const Chain& c) { return {c.ledger->head().height, c.ledger->head().hash}; }
  void serve(Outbox& out) { serve_sync_requests(core, *chain.ledger, mempool, chain.now, out); }
  void frame(PeerId p, ByteView m, Outbox& out) {
    core.on_frame(p, m, chain.now, out);
    serve(out);
  }
};

// Two cores wired back to back: peer id 1 on each side names the other.
struct Pair {
  Chain& a;
  Chain& b;
  Node na, nb;
  Mempool& ma = na.mempool;
  Mempool& mb = nb.mempool;
  SyncCore& sa = na.core;
  SyncCore& sb = nb.core;
  std::size_t delivered = 0;
  std::vector<PeerId> dropped_by_a, dropped_by_b;
  Pair(Chain& a, Chain& b, SyncOptions o = {}) : a(a), b(b), na(a, o), nb(b, o) {}
  void pump(Outbox& from_a, Outbox& from_b) {
    for (int round = 0; round < 1000 && !(from_a.frames.empty() && from_b.frames.empty()); ++round) {
      Outbox oa, ob;
      for (auto& f : from_a.frames) ++delivered, nb.frame(1, f.payload, ob);
      for (auto& f : from_b.frames) ++delivered, na.frame(1, f.payload, oa);
      dropped_by_a.insert(dropped_by_a.end(), oa.disconnects.begin(), oa.disconnects.end());
      dropped_by_b.insert(dropped_by_b.end(), ob.disconnects.begin(), ob.disconnects.end());
      from_a = std::move(oa);
      from_b = std::move(ob);
    }
  }
  void connect() {
    Outbox oa, ob;
    sa.on_peer_up(1, Endpoint{}, true, a.now, oa);
    sb.on_peer_up(1, Endpoint{}, false, a.now, ob);
    pump(oa, ob);
  }
};

void grow(Chain& c, int blocks) {
  for (int i = 0; i < blocks; ++i) {
    c.now += 1000;
    REQUIRE(c.include({c.tx(0, Transfer{c.addr(1), 1})}).ok());
  }
}
}  // namespace

TEST_CASE("sync: a node behind catches up in batches to the same head and state root") {
  Chain a, b;
  grow(a, 150);
  Pair p(a, b, SyncOptions{.batch_blocks = 64});
  p.connect();
  CHECK(b.ledger->head().height == 150);
  CHECK(b.ledger->head().hash == a.ledger->head().hash);
  CHECK(b.ledger->head().state_root == a.ledger->head().state_root);
  CHECK(p.sb.stats().blocks_applied == 150);
  CHECK(p.sa.stats().blocks_served == 150);
  CHECK(p.dropped_by_a.empty());
  CHECK(p.dropped_by_b.empty());
}

TEST_CASE("sync: a new block is applied; a gap is requested; a tx is gossiped once") {
  Chain a, b;
  Pair p(a, b);
  p.connect();
  grow(a, 3);  // b misses these three
  Outbox oa, ob;
  p.sa.announce_block(*a.ledger->block_at(3), a.now, oa);
  p.pump(oa, ob);
  CHECK(b.ledger->head().height == 3);
  CHECK(b.ledger->head().state_root == a.ledger->head().state_root);

  // A client's tx on b reaches a's mempool once b's gossip window falls
  // due, and is not echoed back.
  const Tx tx = b.tx(2, Transfer{b.addr(3), 5});
  Outbox oa2, ob2;
  REQUIRE(p.mb.add(tx, *b.ledger).ok());
  p.sb.on_tick(b.now, ob2);  // its status timer set, so the window is its next wakeup
  ob2.clear();
  p.sb.handle_txs_admitted(std::span(&tx, 1), std::nullopt, b.now, ob2);
  CHECK(ob2.frames.empty());
  const TimeMs due = b.now + SyncOptions{}.tx_window.window_ms;
  CHECK(p.sb.next_wakeup() == due);
  p.sb.on_tick(due, ob2);
  p.pump(oa2, ob2);
  CHECK(p.ma.contains(tx.id));
  CHECK(p.mb.contains(tx.id));
  CHECK(p.sa.stats().txs_admitted_from_peers == 1);
  CHECK(p.sb.stats().txs_admitted_from_peers == 0);
  Outbox oa3;
  p.sa.on_tick(due + SyncOptions{}.tx_window.window_ms, oa3);
  for (const auto& f : oa3.frames) CHECK(f.payload[0] != 6);  // a's window held it only for others
}

TEST_CASE("sync: peers of another genesis and malformed messages are dropped") {
  Chain a;
  Chain other(8, 1'000'000, /*seed=*/99);
  Pair p(a, other);
  p.connect();
  CHECK(p.dropped_by_a == std::vector<PeerId>{1});
  CHECK(p.sa.stats().genesis_mismatch == 1);

  Chain b;
  Node n(b);
  Outbox out;
  const Bytes junk[] = {{}, {9, 1, 2}, {3, 0, 0}, {4, 0, 0, 0, 5}, {4, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff}, {2, 1, 2, 3}, {5, 0}};
  for (const auto& j : junk) {
    n.core.on_peer_up(7, Endpoint{}, false, b.now, out);
    n.frame(7, sync_hello(b.ledger->genesis_hash(), 0, b.ledger->head().hash), out);
    out.clear();
    n.frame(7, j, out);
    CHECK_MESSAGE(out.disconnects == std::vector<PeerId>{7}, "message kind ", j.empty() ? -1 : j[0]);
  }
  CHECK(b.ledger->head().height == 0);
}

TEST_CASE("tx index: catches up to the head and finds committed txs") {
  Chain a;
  TempDir d;
  grow(a, 4);
  auto ix = TxIndex::open(d.path);
  REQUIRE(ix.ok());
  REQUIRE((*ix)->catch_up(*a.ledger).ok());
  CHECK((*ix)->indexed_height() == 4);
  auto block = decode_block(*a.ledger->block_at(2), a.ledger->params());
  REQUIRE(block.ok());
  CHECK((*ix)->height_of(block->txs.at(0).id) == std::optional<std::uint64_t>(2));
  CHECK(!(*ix)->height_of(Hash256{}).has_value());
}

TEST_CASE("sync: a peer that claims a higher head but serves nothing is dropped, not asked in a loop") {
  Chain b;
  Node n(b);
  Outbox out;
  n.core.on_peer_up(3, Endpoint{}, true, b.now, out);
  out.clear();
  n.frame(3, sync_hello(b.ledger->genesis_hash(), 500, Hash256{}), out);
  REQUIRE(out.frames.size() == 1);  // GetBlocks
  CHECK(out.frames[0].payload[0] == 3);
  out.clear();
  const Bytes empty_blocks{4, 0, 0, 0, 0};
  n.frame(3, empty_blocks, out);
  CHECK(out.frames.empty());
  CHECK(out.disconnects == std::vector<PeerId>{3});
  CHECK(n.core.stats().bad_answers == 1);
  CHECK(n.core.best_peer_height() == 0);
}

TEST_CASE("sync: a peer dropped for a lie is refused while its address is banned, then heard again") {
  Chain b;
  Node n(b);
  Outbox out;
  n.core.on_peer_up(3, Endpoint{}, true, b.now, out);
  n.frame(3, sync_hello(b.ledger->genesis_hash(), 500, Hash256{}), out);
  const Bytes empty_blocks{4, 0, 0, 0, 0};
  n.frame(3, empty_blocks, out);
  out.clear();
  // Reconnecting during the ban: closed at once, without a Hello.
  n.core.on_peer_up(4, Endpoint{}, true, b.now + 2000, out);
  CHECK(out.disconnects == std::vector<PeerId>{4});
  CHECK(out.frames.empty());
  CHECK(n.core.stats().refused_banned == 1);
  // After the ban (30 s): a peer like any other.
  out.clear();
  n.core.on_peer_up(5, Endpoint{}, true, b.now + 31'000, out);
  CHECK(out.disconnects.empty());
  n.core.on_frame(5, sync_hello(b.ledger->genesis_hash(), 500, Hash256{}), b.now + 31'000, out);
  CHECK(n.core.best_peer_height() == 500);
}

namespace {
Bytes blocks_msg(const Chain& c, std::uint64_t from, std::uint64_t to) {
  Bytes m{4};
  append_be64(m, 0);
  m.resize(5);
  std::uint32_t count = 0;
  for (std::uint64_t h = from; h <= to; ++h, ++count) {
    const Bytes b = *c.ledger->block_at(h);
    for (int s = 24; s >= 0; s -= 8) m.push_back(static_cast<std::uint8_t>(b.size() >> s));
    m.insert(m.end(), b.begin(), b.end());
    for (int i = 0; i < 4; ++i) m.push_back(0);  // no certificate: a chain without validators
  }
  for (int i = 0; i < 4; ++i) m[1 + i] = static_cast<std::uint8_t>(count >> (24 - 8 * i));
  return m;
}
}  // namespace

TEST_CASE("sync: the driver commits, one block at a time; a refused block ends the batch") {
  Chain a, b;
  grow(a, 5);
  Node n(b);
  Outbox out;
  n.core.on_peer_up(1, Endpoint{}, true, b.now, out);
  n.core.on_frame(1, sync_hello(a.ledger->genesis_hash(), 5, a.ledger->head().hash), b.now, out);
  out.clear();
  n.core.on_frame(1, blocks_msg(a, 1, 5), b.now, out);
  // Asked for block 1 only; nothing committed by the core itself.
  auto first = n.core.poll_event();
  REQUIRE(first.has_value());
  REQUIRE(std::holds_alternative<ApplyBlock>(*first));
  CHECK(std::get<ApplyBlock>(*first).height == 1);
  CHECK(!std::get<ApplyBlock>(*first).check_time.has_value());  // old block: no clock check
  CHECK(!n.core.poll_event().has_value());
  CHECK(b.ledger->head().height == 0);
  CHECK(n.core.applying());

  REQUIRE(b.ledger->apply_block(std::get<ApplyBlock>(*first).bytes).ok());
  n.core.handle_block_applied(Status{}, b.now, out);
  CHECK(n.core.head().height == 1);
  CHECK(n.core.head().hash == b.ledger->head().hash);
  auto second = n.core.poll_event();
  REQUIRE(second.has_value());
  CHECK(std::get<ApplyBlock>(*second).height == 2);

  // The ledger refuses it (here: block 3 where 2 belongs): the rest is dropped.
  const auto refused = b.ledger->apply_block(*a.ledger->block_at(3));
  REQUIRE(!refused.ok());
  out.clear();
  n.core.handle_block_applied(refused, b.now, out);
  CHECK(!n.core.poll_event().has_value());
  CHECK(!n.core.applying());
  CHECK(n.core.head().height == 1);
  CHECK(n.core.stats().blocks_rejected == 1);
  CHECK(n.core.stats().bad_answers == 1);
  CHECK(out.disconnects == std::vector<PeerId>{1});  // dropped and banned: not asked again
  CHECK(n.core.best_peer_height() == 0);
  CHECK(out.frames.empty());
}

TEST_CASE("sync: a Hello and GetBlocks are answered from the core's head, not the store's") {
  Chain a;
  grow(a, 3);
  Node n(a);
  Outbox out;
  n.core.on_peer_up(1, Endpoint{}, false, a.now, out);
  REQUIRE(out.frames.size() == 1);
  CHECK(out.frames[0].payload == sync_hello(a.ledger->genesis_hash(), 3, a.ledger->head().hash));
  // A block committed by the driver but not yet reported is not served.
  grow(a, 1);
  n.core.on_frame(1, sync_hello(a.ledger->genesis_hash(), 0, Hash256{}), a.now, out);
  out.clear();
  n.core.on_frame(1, sync_get_blocks(1, 64), a.now, out);
  REQUIRE(out.frames.size() == 1);
  CHECK(out.frames[0].payload == blocks_msg(a, 1, 3));
}

TEST_CASE("sync on a certified chain: blocks travel with their certificates; one without is refused") {
  CertChain a(8, 4, 100), b(8, 4, 100);
  REQUIRE(a.ledger->genesis_hash() == b.ledger->genesis_hash());
  for (int i = 0; i < 5; ++i) a.step();
  Pair p(a, b);
  p.connect();
  CHECK(b.ledger->head().height == 5);
  CHECK(b.ledger->certificate_at(5) == a.ledger->certificate_at(5));
  // A new block announced with its certificate is committed.
  auto six = a.step();
  Outbox oa, ob;
  p.sa.announce_block(six.bytes, a.now, oa, *a.ledger->certificate_bytes_at(6));
  p.pump(oa, ob);
  CHECK(b.ledger->head().height == 6);
  // Without it, the ledger refuses the block; B then fetches it from A's
  // store, certificate included, and commits that.
  auto seven = a.step();
  Outbox oa2, ob2;
  p.sa.announce_block(seven.bytes, a.now, oa2);
  p.pump(oa2, ob2);
  CHECK(p.nb.core.stats().blocks_rejected == 1);
  CHECK(b.ledger->head().height == 7);
  CHECK(b.ledger->certificate_at(7) == a.ledger->certificate_at(7));
}
