// Block validation, persistence across reopen, corruption detection, sync, proofs.
#include "ledger/producer.hpp"
#include "ledger/store.hpp"
#include "ledger_fixture.hpp"

using namespace bc;
using namespace bc::ledger;
using namespace bc::ledger::test;

namespace {

// A correct block built by the ledger, then altered by `edit` and re-signed.
template <typename Fn>
Block altered(Chain& c, std::vector<Tx> txs, Fn edit, bool resign = true) {
  std::vector<const Tx*> ptrs;
  for (auto& t : txs) ptrs.push_back(&t);
  auto built = c.ledger->build_block(ptrs, c.now + 1000, c.producer);
  Block b = built.block;
  edit(b);
  if (resign) sign_block(b, c.producer);
  return b;
}

}  // namespace

TEST_CASE("block header checks: state root, tx root, audit root, height, parent, time, proposer, signature") {
  Chain c;
  Tx t = c.tx(0, Transfer{c.addr(1), 10});
  expect_rejected(c, altered(c, {t}, [](Block& b) { b.header.state_root.bytes[0] ^= 1; }), Error::kStateRootMismatch);
  expect_rejected(c, altered(c, {t}, [](Block& b) { b.header.tx_root.bytes[0] ^= 1; }), Error::kTxRootMismatch);
  expect_rejected(c, altered(c, {t}, [](Block& b) { b.header.audit_root.bytes[0] ^= 1; }), Error::kAuditRootMismatch);
  expect_rejected(c, altered(c, {t}, [](Block& b) { b.header.height += 1; }), Error::kBadHeight);
  expect_rejected(c, altered(c, {t}, [](Block& b) { b.header.prev_hash.bytes[0] ^= 1; }), Error::kBadPrevHash);
  expect_rejected(c, altered(c, {t}, [&](Block& b) { b.header.time = c.ledger->head().time - 1; }), Error::kBadTime);
  expect_rejected(c, altered(c, {t}, [](Block& b) { b.header.chain_id = "elsewhere"; }), Error::kWrongChain);
  {
    // From the future, by the caller's clock.
    Block future = altered(c, {t}, [&](Block& b) { b.header.time = c.now + 60'000; });
    Status s = c.ledger->apply_block(future, c.now);
    CHECK(s.code == Error::kBadTime);
    CHECK(s.message.find("ahead of our clock") != std::string::npos);
    CHECK(c.ledger->head().height == 0);
  }
  expect_rejected(c, altered(c, {t}, [](Block& b) { b.header.tx_count = 2; }), Error::kMalformed);
  expect_rejected(c, altered(c, {t}, [](Block& b) { b.signature.bytes[0] ^= 1; }, false), Error::kBadBlockSignature);
  // Signed by a key that is not the configured producer.
  KeyPair intruder = test_key(5, 5);
  Block b = altered(c, {t}, [](Block&) {});
  sign_block(b, intruder);
  expect_rejected(c, b, Error::kBadProposer);
  // Dropping a tx from a built block breaks the tx root (and the state root).
  expect_rejected(c, altered(c, {t}, [](Block& b) { b.txs.clear(); b.header.tx_count = 0; }), Error::kTxRootMismatch);
  // The untouched block goes in.
  Block ok = altered(c, {t}, [](Block&) {});
  Status s = c.ledger->apply_block(ok);
  REQUIRE_MESSAGE(s.ok(), s.text());
  CHECK(c.ledger->head().height == 1);
  // Applying it again: wrong height.
  expect_rejected(c, ok, Error::kBadHeight);
}

TEST_CASE("malformed and oversized blocks are rejected with a reason") {
  Chain c;
  expect_rejected(c, Bytes{}, Error::kMalformed);
  expect_rejected(c, Bytes(24, 0), Error::kMalformed);      // framing says 8 bytes: trailing data
  expect_rejected(c, Bytes(24, 0xab), Error::kOversized);   // claims billions of segments
  Block b = altered(c, {}, [](Block&) {});
  Bytes bytes = encode_block(b);
  Bytes truncated(bytes.begin(), bytes.end() - 16);
  expect_rejected(c, truncated, Error::kMalformed);
  Bytes huge(c.ledger->params().max_block_bytes + 8, 0);
  expect_rejected(c, huge, Error::kOversized);
  // Too many transactions for the chain's limit.
  TempDir dir;
  LedgerOptions o = c.options();
  o.dir = dir.path;
  o.genesis.params.max_block_txs = 2;
  auto small = Ledger::open(o);
  REQUIRE(small.ok());
  std::vector<Tx> txs = {c.tx(0, Bond{1}), c.tx(1, Bond{1}), c.tx(2, Bond{1})};
  Block big = c.raw_block(txs);
  Status s = (*small)->apply_block(big);
  CHECK(s.code == Error::kOversized);
}

TEST_CASE("reopening yields the last committed head and a verified state root") {
  Chain c;
  for (int i = 0; i < 5; ++i) REQUIRE(c.include(c.tx(static_cast<std::size_t>(i), Transfer{c.addr(7), 100})).ok());
  Head before = c.ledger->head();
  Account a7 = c.acct(7);
  c.reopen();
  CHECK(c.ledger->head().height == before.height);
  CHECK(c.ledger->head().hash == before.hash);
  CHECK(c.ledger->head().state_root == before.state_root);
  CHECK(c.ledger->computed_root() == before.state_root);
  CHECK(c.acct(7) == a7);
  // Blocks are served by height and hash after reopen.
  for (std::uint64_t h = 0; h <= before.height; ++h) CHECK(c.ledger->block_at(h).has_value());
  CHECK(c.ledger->block_by_hash(before.hash) == c.ledger->block_at(before.height));
  CHECK(!c.ledger->block_at(before.height + 1).has_value());
  // And the chain continues.
  REQUIRE(c.include(c.tx(0, Transfer{c.addr(7), 100})).ok());
  CHECK(c.ledger->head().height == before.height + 1);
}

TEST_CASE("a corrupted head or state is detected on open, with advice") {
  SUBCASE("head pointing at a wrong state root") {
    Chain c;
    REQUIRE(c.include(c.tx(0, Transfer{c.addr(1), 100})).ok());
    Head h = c.ledger->head();
    c.ledger.reset();
    {
      auto store = Store::open(c.dir.path, {});
      REQUIRE(store.ok());
      Bytes head(72, 0);
      be64_store(head.data(), h.height);
      std::copy(h.hash.bytes.begin(), h.hash.bytes.end(), head.begin() + 8);
      head[40] = 0x55;  // wrong state root
      REQUIRE((*store)->put_raw("head", head).ok());
    }
    auto r = Ledger::open(c.options());
    REQUIRE(!r.ok());
    CHECK(r.status().code == Error::kCorrupt);
    CHECK(r.status().message.find("resync") != std::string::npos);
  }
  SUBCASE("head pointing at a missing block") {
    Chain c;
    REQUIRE(c.include(c.tx(0, Transfer{c.addr(1), 100})).ok());
    Head h = c.ledger->head();
    c.ledger.reset();
    {
      auto store = Store::open(c.dir.path, {});
      Bytes head(72, 0);
      be64_store(head.data(), h.height);
      head[8] = 0x77;  // unknown hash
      std::copy(h.state_root.bytes.begin(), h.state_root.bytes.end(), head.begin() + 40);
      REQUIRE((*store)->put_raw("head", head).ok());
    }
    auto r = Ledger::open(c.options());
    REQUIRE(!r.ok());
    CHECK(r.status().code == Error::kCorrupt);
  }
  SUBCASE("a tampered account balance") {
    Chain c;
    Address a0 = c.addr(0);
    c.ledger.reset();
    {
      auto store = Store::open(c.dir.path, {});
      std::string key = "Sa";
      key.append(reinterpret_cast<const char*>(a0.data()), 32);
      REQUIRE((*store)->put_raw(key, encode_account(Account{999'999'999, 0, 0})).ok());
    }
    auto r = Ledger::open(c.options());
    REQUIRE(!r.ok());
    CHECK(r.status().code == Error::kCorrupt);
    CHECK(r.status().message.find("root") != std::string::npos);
  }
  SUBCASE("an undecodable state entry") {
    Chain c;
    c.ledger.reset();
    {
      auto store = Store::open(c.dir.path, {});
      std::string key = "Sa" + std::string(32, '\x01');
      REQUIRE((*store)->put_raw(key, Bytes{1, 2, 3}).ok());
    }
    auto r = Ledger::open(c.options());
    REQUIRE(!r.ok());
    CHECK(r.status().code == Error::kCorrupt);
  }
  SUBCASE("another genesis") {
    Chain c;
    c.ledger.reset();
    LedgerOptions o = c.options();
    o.genesis.accounts[0].balance += 1;
    auto r = Ledger::open(o);
    REQUIRE(!r.ok());
    CHECK(r.status().code == Error::kGenesisMismatch);
  }
}

TEST_CASE("synced writes: a ledger opened with sync=true commits and reopens") {
  Chain c;
  c.ledger.reset();
  LedgerOptions o = c.options();
  o.sync = true;
  auto r = Ledger::open(o);
  REQUIRE(r.ok());
  c.ledger = std::move(*r);
  REQUIRE(c.include(c.tx(0, Transfer{c.addr(1), 100})).ok());
  Head h = c.ledger->head();
  c.ledger.reset();
  auto again = Ledger::open(o);
  REQUIRE(again.ok());
  CHECK((*again)->head().hash == h.hash);
}

TEST_CASE("sync: a follower applies the producer's blocks and reaches the same state root") {
  Chain a;
  Rng rng(11);
  for (int blk = 0; blk < 15; ++blk) {
    std::vector<Tx> txs;
    for (std::size_t i = 0; i < 8; ++i) txs.push_back(a.tx(i, Transfer{a.addr(rng.uniform(8)), 1 + rng.uniform(1000)}, 1 + rng.uniform(5)));
    REQUIRE(a.include(txs).ok());
  }
  // A follower that was down the whole time catches up block by block.
  TempDir dir;
  LedgerOptions o = a.options();
  o.dir = dir.path;
  auto fb = Ledger::open(o);
  REQUIRE(fb.ok());
  Ledger& follower = **fb;
  CHECK(follower.genesis_hash() == a.ledger->genesis_hash());
  // Out of order: refused with a hint.
  Status gap = follower.apply_block(*a.ledger->block_at(3));
  CHECK(gap.code == Error::kBadHeight);
  CHECK(gap.message.find("sync") != std::string::npos);
  while (follower.head().height < a.ledger->head().height) {
    auto bytes = a.ledger->block_at(follower.head().height + 1);
    REQUIRE(bytes.has_value());
    Status s = follower.apply_block(*bytes);
    REQUIRE_MESSAGE(s.ok(), s.text());
  }
  CHECK(follower.head().hash == a.ledger->head().hash);
  CHECK(follower.head().state_root == a.ledger->head().state_root);
  CHECK(follower.computed_root() == a.ledger->computed_root());
  for (std::size_t i = 0; i < 8; ++i) CHECK(follower.account(a.addr(i)) == a.ledger->account(a.addr(i)));
}

TEST_CASE("validate then commit (the BFT split) and a stale prepared block") {
  Chain c;
  Tx t = c.tx(0, Transfer{c.addr(1), 10});
  auto built = c.ledger->build_block({&t}, c.now + 1000, c.producer);
  Hash256 root = c.ledger->computed_root();
  auto prepared = c.ledger->validate_block(built.bytes);
  REQUIRE_MESSAGE(prepared.ok(), prepared.status().text());
  CHECK(c.ledger->computed_root() == root);  // validation left no trace
  CHECK(c.ledger->head().height == 0);
  auto prepared2 = c.ledger->validate_block(built.bytes);
  REQUIRE(prepared2.ok());
  REQUIRE(c.ledger->commit(std::move(*prepared)).ok());
  CHECK(c.ledger->head().height == 1);
  CHECK(c.acct(1).balance == 1'000'010);
  CHECK(c.ledger->commit(std::move(*prepared2)).code == Error::kBadPrevHash);
  CHECK(c.acct(1).balance == 1'000'010);
}

TEST_CASE("light client: account proofs against the header's state root") {
  Chain c;
  REQUIRE(c.include(c.tx(0, Transfer{c.addr(1), 10})).ok());
  auto header_root = decode_block(*c.ledger->block_at(c.ledger->head().height), c.ledger->params())->header.state_root;
  for (std::size_t i = 0; i < 8; ++i) {
    AccountProof p = c.ledger->prove_account(c.addr(i));
    REQUIRE(p.account.has_value());
    CHECK(p.state_root == header_root);
    CHECK(verify_account_proof(header_root, c.addr(i), p.account, p.proof));
    Account lie = *p.account;
    lie.balance += 1;
    CHECK_FALSE(verify_account_proof(header_root, c.addr(i), lie, p.proof));
    CHECK_FALSE(verify_account_proof(header_root, c.addr(i), std::nullopt, p.proof));
  }
  Address nobody = address_of(test_key(31, 4).public_key());
  AccountProof absent = c.ledger->prove_account(nobody);
  CHECK(!absent.account.has_value());
  CHECK(verify_account_proof(header_root, nobody, std::nullopt, absent.proof));
  CHECK_FALSE(verify_account_proof(header_root, nobody, Account{}, absent.proof));
}

TEST_CASE("signature cache: block validation skips what the mempool verified") {
  Chain c;
  Mempool pool;
  std::vector<Tx> txs;
  for (std::size_t i = 0; i < 6; ++i) txs.push_back(c.tx(i, Transfer{c.addr(7), 5}));
  for (const auto& t : txs) REQUIRE(pool.add(t, *c.ledger).ok());
  std::uint64_t hits = c.ledger->sig_cache().hits();
  auto built = c.ledger->build_block(pool.select(c.ledger->state(), 100, 1 << 20), c.now + 1000, c.producer);
  REQUIRE(c.ledger->apply_block(built.bytes).ok());
  CHECK(c.ledger->sig_cache().hits() >= hits + 12);  // build and validate both hit
  // A follower with an empty cache verifies them all.
  TempDir dir;
  LedgerOptions o = c.options();
  o.dir = dir.path;
  auto f = Ledger::open(o);
  REQUIRE((*f)->apply_block(built.bytes).ok());
  CHECK((*f)->sig_cache().size() == 6);
  CHECK((*f)->sig_cache().hits() == 0);
}

TEST_CASE("SingleProducer makes a block per interval from the mempool") {
  Chain c;
  Mempool pool;
  SingleProducer producer(c.producer, 1000, c.now);
  CHECK(producer.next_wakeup() == c.now);
  for (std::size_t i = 0; i < 4; ++i) REQUIRE(pool.add(c.tx(i, Transfer{c.addr(5), 7}), *c.ledger).ok());
  auto built = producer.on_tick(*c.ledger, pool, c.now + 10);
  REQUIRE(built.has_value());
  CHECK(built->block.txs.size() == 4);
  CHECK(producer.next_wakeup() == c.now + 1010);
  CHECK(!producer.on_tick(*c.ledger, pool, c.now + 500).has_value());
  REQUIRE(c.ledger->apply_block(built->bytes).ok());
  producer.on_committed(built->block.header, c.now + 20);
  pool.prune(c.ledger->state());
  CHECK(pool.size() == 0);
  // Empty blocks keep coming.
  auto next = producer.on_tick(*c.ledger, pool, c.now + 1010);
  REQUIRE(next.has_value());
  CHECK(next->block.txs.empty());
  REQUIRE(c.ledger->apply_block(next->bytes).ok());
  CHECK(c.ledger->head().height == 2);
}

TEST_CASE("metrics count commits and rejections by reason") {
  Chain c;
  metrics::Registry reg;
  c.ledger.reset();
  LedgerOptions o = c.options();
  o.metrics = &reg;
  auto r = Ledger::open(o);
  REQUIRE(r.ok());
  c.ledger = std::move(*r);
  REQUIRE(c.include(c.tx(0, Transfer{c.addr(1), 5})).ok());
  expect_rejected(c, c.raw_block({c.tx(0, Transfer{c.addr(1), 5}, 1, 9)}), Error::kBadNonce);
  CHECK(reg.counter_value("bc_ledger_blocks_committed_total") == 1);
  CHECK(reg.counter_value("bc_ledger_txs_committed_total") == 1);
  CHECK(reg.counter_value("bc_ledger_blocks_rejected_total", {{"reason", "bad_nonce"}}) == 1);
  CHECK(reg.render_prometheus().find("bc_ledger_height 1") != std::string::npos);
}
