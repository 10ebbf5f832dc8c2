// SyncCore between in-memory peers: catch-up in batches, new blocks, tx
// gossip, genesis mismatch and malformed input.
#include "ledger/sync.hpp"
#include "ledger/tx_index.hpp"
#include "tests/ledger/ledger_fixture.hpp"

using namespace bc;
using namespace bc::ledger;
using namespace bc::ledger::test;

namespace {
// Two cores wired back to back: peer id 1 on each side names the other.
struct Pair {
  Chain& a;
  Chain& b;
  Mempool ma, mb;
  SyncCore sa, sb;
  std::size_t delivered = 0;
  std::vector<PeerId> dropped_by_a, dropped_by_b;
  Pair(Chain& a, Chain& b, SyncOptions o = {})
      : a(a), b(b), sa(*a.ledger, ma, o, nullptr), sb(*b.ledger, mb, o, nullptr) {}
  void pump(SyncOut& from_a, SyncOut& from_b) {
    for (int round = 0; round < 1000 && !(from_a.sends.empty() && from_b.sends.empty()); ++round) {
      SyncOut na, nb;
      for (auto& [p, m] : from_a.sends) ++delivered, sb.on_message(1, m, a.now, nb);
      for (auto& [p, m] : from_b.sends) ++delivered, sa.on_message(1, m, a.now, na);
      dropped_by_a.insert(dropped_by_a.end(), na.drops.begin(), na.drops.end());
      dropped_by_b.insert(dropped_by_b.end(), nb.drops.begin(), nb.drops.end());
      from_a = std::move(na);
      from_b = std::move(nb);
    }
  }
  void connect() {
    SyncOut oa, ob;
    sa.on_connect(1, a.now, oa);
    sb.on_connect(1, a.now, ob);
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
  SyncOut oa, ob;
  p.sa.announce_block(*a.ledger->block_at(3), oa);
  p.pump(oa, ob);
  CHECK(b.ledger->head().height == 3);
  CHECK(b.ledger->head().state_root == a.ledger->head().state_root);

  // A client's tx on b reaches a's mempool, and is not echoed back forever.
  const Tx tx = b.tx(2, Transfer{b.addr(3), 5});
  SyncOut oa2, ob2;
  REQUIRE(p.sb.submit_tx(tx, ob2).ok());
  p.pump(oa2, ob2);
  CHECK(p.ma.contains(tx.id));
  CHECK(p.mb.contains(tx.id));
  CHECK(p.sa.stats().txs_admitted_from_peers == 1);
  CHECK(p.sb.stats().txs_admitted_from_peers == 0);
}

TEST_CASE("sync: peers of another genesis and malformed messages are dropped") {
  Chain a;
  Chain other(8, 1'000'000, /*seed=*/99);
  Pair p(a, other);
  p.connect();
  CHECK(p.dropped_by_a == std::vector<PeerId>{1});
  CHECK(p.sa.stats().genesis_mismatch == 1);

  Chain b;
  Mempool m;
  SyncCore core(*b.ledger, m, {}, nullptr);
  SyncOut out;
  core.on_connect(7, b.now, out);
  core.on_message(7, sync_hello(b.ledger->genesis_hash(), 0, b.ledger->head().hash), b.now, out);
  const Bytes junk[] = {{}, {9, 1, 2}, {3, 0, 0}, {4, 0, 0, 0, 5}, {4, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff}, {2, 1, 2, 3}, {5, 0}};
  for (const auto& j : junk) {
    core.on_connect(7, b.now, out);
    core.on_message(7, sync_hello(b.ledger->genesis_hash(), 0, b.ledger->head().hash), b.now, out);
    out = {};
    core.on_message(7, j, b.now, out);
    CHECK_MESSAGE(out.drops == std::vector<PeerId>{7}, "message kind ", j.empty() ? -1 : j[0]);
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

TEST_CASE("sync: a peer that claims a higher head but serves nothing is not asked in a loop") {
  Chain b;
  Mempool m;
  SyncCore core(*b.ledger, m, {}, nullptr);
  SyncOut out;
  core.on_connect(3, b.now, out);
  out = {};
  core.on_message(3, sync_hello(b.ledger->genesis_hash(), 500, Hash256{}), b.now, out);
  REQUIRE(out.sends.size() == 1);  // GetBlocks
  CHECK(out.sends[0].second[0] == 3);
  out = {};
  const Bytes empty_blocks{4, 0, 0, 0, 0};
  core.on_message(3, empty_blocks, b.now, out);
  CHECK(out.sends.empty());
  CHECK(core.best_peer_height() == 0);
}

TEST_CASE("sync: a distrusted peer's next Hello does not make us (or a producer) think we are behind") {
  Chain b;
  Mempool m;
  SyncCore core(*b.ledger, m, {}, nullptr);
  SyncOut out;
  core.on_connect(3, b.now, out);
  core.on_message(3, sync_hello(b.ledger->genesis_hash(), 500, Hash256{}), b.now, out);
  const Bytes empty_blocks{4, 0, 0, 0, 0};
  core.on_message(3, empty_blocks, b.now, out);
  out = {};
  core.on_message(3, sync_hello(b.ledger->genesis_hash(), 500, Hash256{}), b.now + 2000, out);
  CHECK(out.sends.empty());
  CHECK(core.best_peer_height() == 0);
  // Trusted again later.
  core.on_message(3, sync_hello(b.ledger->genesis_hash(), 500, Hash256{}), b.now + 31'000, out);
  CHECK(core.best_peer_height() == 500);
}
