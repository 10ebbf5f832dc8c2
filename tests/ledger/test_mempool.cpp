// Mempool: admission, ordering, limits, replace-by-fee, eviction.
#include "ledger_fixture.hpp"

using namespace bc;
using namespace bc::ledger;
using namespace bc::ledger::test;

TEST_CASE("admission checks signature, nonce, funds; duplicates refused") {
  Chain c;
  Mempool pool;
  Tx t = c.tx(0, Transfer{c.addr(1), 10});
  REQUIRE(pool.add(t, *c.ledger).ok());
  CHECK(pool.add(t, *c.ledger).code == Error::kAlreadyKnown);
  Tx bad = c.tx(1, Transfer{c.addr(2), 10});
  bad.signature.bytes[0] ^= 1;
  bad.id = tx_id_of(bad.digest, bad.signature);
  CHECK(pool.add(bad, *c.ledger).code == Error::kBadSignature);
  CHECK(pool.add(c.tx(1, Transfer{c.addr(2), 2'000'000}), *c.ledger).code == Error::kInsufficientFunds);
  // Cumulative: two pending txs that together overspend.
  REQUIRE(pool.add(c.tx(2, Transfer{c.addr(3), 600'000}, 1, 0), *c.ledger).ok());
  CHECK(pool.add(c.tx(2, Transfer{c.addr(3), 600'000}, 1, 1), *c.ledger).code == Error::kInsufficientFunds);
  CHECK(pool.add(c.tx(3, Transfer{c.addr(2), 10}, 0), *c.ledger).code == Error::kFeeTooLow);
  KeyPair stranger = test_key(55, 0);
  TxBody b = c.body(0, Bond{1});
  b.sender = stranger.public_key();
  CHECK(pool.add(sign_tx(b, stranger), *c.ledger).code == Error::kUnknownAccount);
  CHECK(pool.size() == 2);
}

TEST_CASE("selection: nonce order per sender, fee order across senders, no gaps") {
  Chain c;
  Mempool pool;
  // Sender 0: nonces 0,1,2 with low fees; sender 1: one high fee; sender 2: nonce 1 only (gap).
  for (std::uint64_t n = 0; n < 3; ++n) REQUIRE(pool.add(c.tx(0, Bond{1}, 2, n), *c.ledger).ok());
  REQUIRE(pool.add(c.tx(1, Bond{1}, 50), *c.ledger).ok());
  REQUIRE(pool.add(c.tx(2, Bond{1}, 100, 1), *c.ledger).ok());
  auto sel = pool.select(c.ledger->state(), 100, 1 << 20);
  REQUIRE(sel.size() == 4);
  CHECK(sel[0]->body.fee == 50);
  for (std::size_t i = 1; i < 4; ++i) CHECK(sel[i]->body.nonce == i - 1);
  // Count and byte limits.
  CHECK(pool.select(c.ledger->state(), 2, 1 << 20).size() == 2);
  CHECK(pool.select(c.ledger->state(), 100, sel[0]->wire_size).size() == 1);
  // The selected set builds a valid block.
  auto built = c.ledger->build_block(sel, c.now + 1000, c.producer);
  CHECK(built.dropped.empty());
  REQUIRE(c.ledger->apply_block(built.bytes).ok());
  pool.prune(c.ledger->state());
  CHECK(pool.size() == 1);  // only sender 2's gapped tx is left
}

TEST_CASE("replace-by-fee needs the configured bump") {
  Chain c;
  Mempool pool(MempoolLimits{.max_bytes = 1 << 20, .max_per_account = 8, .rbf_bump_percent = 10});
  Tx a = c.tx(0, Transfer{c.addr(1), 10}, 100);
  REQUIRE(pool.add(a, *c.ledger).ok());
  Status s = pool.add(c.tx(0, Transfer{c.addr(2), 10}, 105), *c.ledger);
  CHECK(s.code == Error::kReplacementUnderpriced);
  CHECK(s.message.find("at least 110") != std::string::npos);
  Tx b = c.tx(0, Transfer{c.addr(2), 10}, 110);
  REQUIRE(pool.add(b, *c.ledger).ok());
  CHECK(pool.size() == 1);
  CHECK(!pool.contains(a.id));
  CHECK(pool.contains(b.id));
  CHECK(pool.bytes() == b.wire_size);
}

TEST_CASE("per-account limit and nonces too far ahead") {
  Chain c;
  Mempool pool(MempoolLimits{.max_bytes = 1 << 20, .max_per_account = 3, .rbf_bump_percent = 10});
  for (std::uint64_t n = 0; n < 3; ++n) REQUIRE(pool.add(c.tx(0, Bond{1}, 1, n), *c.ledger).ok());
  CHECK(pool.add(c.tx(0, Bond{1}, 1, 3), *c.ledger).code == Error::kAccountLimit);
  CHECK(pool.add(c.tx(1, Bond{1}, 1, 3), *c.ledger).code == Error::kAccountLimit);
}

TEST_CASE("byte bound: low fees are evicted for higher ones, never the reverse") {
  Chain c;
  Tx probe = c.tx(0, Bond{1});
  Mempool pool(MempoolLimits{.max_bytes = probe.wire_size * 3, .max_per_account = 8, .rbf_bump_percent = 10});
  REQUIRE(pool.add(c.tx(0, Bond{1}, 5), *c.ledger).ok());
  REQUIRE(pool.add(c.tx(1, Bond{1}, 3), *c.ledger).ok());
  REQUIRE(pool.add(c.tx(2, Bond{1}, 7), *c.ledger).ok());
  Status s = pool.add(c.tx(3, Bond{1}, 2), *c.ledger);
  CHECK(s.code == Error::kMempoolFull);
  CHECK(s.message.find("lowest pending fee is 3") != std::string::npos);
  Tx rich = c.tx(4, Bond{1}, 9);
  REQUIRE(pool.add(rich, *c.ledger).ok());
  CHECK(pool.size() == 3);
  CHECK(pool.bytes() <= pool.limits().max_bytes);
  auto sel = pool.select(c.ledger->state(), 10, 1 << 20);
  for (const Tx* t : sel) CHECK(t->body.fee != 3);
}

TEST_CASE("prune evicts what became invalid after a block") {
  Chain c;
  Mempool pool;
  REQUIRE(pool.add(c.tx(0, Transfer{c.addr(1), 900'000}, 1, 0), *c.ledger).ok());
  REQUIRE(pool.add(c.tx(0, Transfer{c.addr(1), 50'000}, 1, 1), *c.ledger).ok());
  // Another tx with nonce 0 (a conflicting spend) goes into a block instead.
  REQUIRE(c.include(c.tx(0, Transfer{c.addr(2), 990'000}, 1, 0)).ok());
  pool.prune(c.ledger->state());
  // nonce 0 is stale; nonce 1 (50,001) is no longer affordable (9,999 left).
  CHECK(pool.size() == 0);
  CHECK(pool.bytes() == 0);
}
