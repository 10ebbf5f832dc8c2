// White-box tests of the validation stages (ledger/detail/validate.hpp), the
// ledger's error category and produce_block (ledger/producer.hpp).
#include "ledger/detail/validate.hpp"
#include "ledger/producer.hpp"
#include "ledger_fixture.hpp"

using namespace bc;
using namespace bc::ledger;
using namespace bc::ledger::test;

namespace {

Block built_block(Chain& c, const std::vector<Tx>& txs) {
  std::vector<const Tx*> ptrs;
  for (const auto& t : txs) ptrs.push_back(&t);
  return c.ledger->build_block(ptrs, c.now + 1000, c.producer).block;
}

}  // namespace

TEST_CASE("ledger errors are bc::Status codes of their own category, with stable names") {
  Status s = fail(Error::kBadNonce, "expected nonce 1, got 2");
  CHECK(!s.ok());
  CHECK(s.code == Error::kBadNonce);
  CHECK(s.code != Error::kStaleNonce);
  CHECK(s.code.category() == ledger_category());
  CHECK(s.name() == "bad_nonce");
  CHECK(s.text() == "bad_nonce: expected nonce 1, got 2");
  // Same name in another category is another reason.
  CHECK(make_error_code(Error::kMalformed) != make_error_code(bc::Errc::kMalformed));
  // No reason is success: every one makes a failed Status.
  for (int e = static_cast<int>(Error::kMalformed); e <= static_cast<int>(Error::kGenesisMismatch); ++e) {
    CHECK(make_error_code(static_cast<Error>(e)));
    CHECK(std::string(to_string(static_cast<Error>(e))) != "unknown");
  }
}

TEST_CASE("stage 1 and 2: context-free shell, then the header against the head") {
  Chain c;
  Block b = built_block(c, {c.tx(0, Transfer{c.addr(1), 10})});
  Bytes bytes = encode_block(b);
  const ChainParams& p = c.ledger->params();
  auto shell = ledger::detail::check_block_context_free(bytes, p);
  REQUIRE_MESSAGE(shell.ok(), shell.status().text());

  const Head& head = c.ledger->head();
  CHECK(ledger::detail::check_header_connects(b.header, b.signature, {head, p, std::nullopt, 15'000}).ok());
  // The clock is only consulted when given.
  CHECK(ledger::detail::check_header_connects(b.header, b.signature, {head, p, b.header.time - 20'000, 15'000}).code == Error::kBadTime);
  // A future head makes the same header stale.
  Head later = head;
  later.height += 1;
  Status s = ledger::detail::check_header_connects(b.header, b.signature, {later, p, std::nullopt, 15'000});
  CHECK(s.code == Error::kBadHeight);
  CHECK(s.message.find("already have it") != std::string::npos);

  b.header.tx_count += 1;
  sign_block(b, c.producer);
  Bytes miscounted = encode_block(b);
  CHECK(ledger::detail::check_block_context_free(miscounted, p).status().code == Error::kMalformed);
}

TEST_CASE("stage 3: bodies checked without state, duplicates refused") {
  Chain c;
  Tx t = c.tx(0, Transfer{c.addr(1), 10});
  Block b = built_block(c, {t});
  b.txs.push_back(t);
  b.header.tx_count = 2;
  Bytes bytes = encode_block(b);
  auto shell = ledger::detail::check_block_context_free(bytes, c.ledger->params());
  REQUIRE(shell.ok());
  WorkerPool pool(2);
  auto txs = ledger::detail::check_txs_context_free(*shell, c.ledger->params(), pool);
  CHECK(txs.status().code == Error::kDuplicateTx);
  CHECK(txs.status().message.rfind("transaction 1 (", 0) == 0);

  Block zero = built_block(c, {c.tx(0, Transfer{c.addr(1), 0})});
  zero.txs = {c.tx(0, Transfer{c.addr(1), 0})};
  zero.header.tx_count = 1;
  Bytes zbytes = encode_block(zero);
  auto zshell = ledger::detail::check_block_context_free(zbytes, c.ledger->params());
  REQUIRE(zshell.ok());
  auto ztxs = ledger::detail::check_txs_context_free(*zshell, c.ledger->params(), pool);
  CHECK(ztxs.status().code == Error::kZeroAmount);
  CHECK(ztxs.status().message.rfind("transaction 0: ", 0) == 0);
}

TEST_CASE("stage 4: signatures checked on the workers, the first bad one named, good ones cached") {
  Chain c;
  std::vector<Tx> txs = {c.tx(0, Transfer{c.addr(1), 1}), c.tx(1, Transfer{c.addr(2), 1}), c.tx(2, Transfer{c.addr(3), 1})};
  txs[1].signature.bytes[5] ^= 1;
  txs[2].signature.bytes[5] ^= 1;
  SignatureCache cache(64);
  WorkerPool pool(2);
  Status s;
  {
    ledger::detail::SignatureCheck check(txs, cache, pool);
    s = check.finish();
  }
  CHECK(s.code == Error::kBadSignature);
  CHECK(s.message.rfind("transaction 1 (", 0) == 0);
  CHECK(cache.contains(txs[0].id));
  CHECK(!cache.contains(txs[1].id));
  {
    // Destroyed without finish(): waits for the workers, reports nothing.
    ledger::detail::SignatureCheck unfinished(txs, cache, pool);
  }
  pool.run(1, [](std::size_t) {});  // the pool is free again
}

TEST_CASE("stage 5 and 6: connect leaves the state alone; commitments compare the header's roots") {
  Chain c;
  Block b = built_block(c, {c.tx(0, Transfer{c.addr(1), 10})});
  const Hash256 root_before = c.ledger->computed_root();
  const Amount balance_before = c.acct(1).balance;
  auto rule = [](const BlockHeader&, const std::vector<Effect>&, const WorkingState&) { return Status{}; };
  auto changes = ledger::detail::connect_block(c.ledger->state(), b.header, b.effects, b.txs, rule, nullptr);
  REQUIRE_MESSAGE(changes.ok(), changes.status().text());
  CHECK(!changes->empty());
  CHECK(c.acct(1).balance == balance_before);
  CHECK(c.ledger->computed_root() == root_before);

  CHECK(ledger::detail::check_commitments(b.header, b.txs, b.effects, b.header.state_root).ok());
  CHECK(ledger::detail::check_commitments(b.header, b.txs, b.effects, root_before).code == Error::kStateRootMismatch);
  CHECK(ledger::detail::check_commitments(b.header, {}, b.effects, b.header.state_root).code == Error::kTxRootMismatch);

  // A tx that fails to apply is named, with its index.
  std::vector<Tx> stale = {c.tx(0, Transfer{c.addr(1), 10}, 1, 5)};
  auto refused = ledger::detail::connect_block(c.ledger->state(), b.header, b.effects, stale, rule, nullptr);
  CHECK(refused.status().code == Error::kBadNonce);
  CHECK(refused.status().message.rfind("transaction 0 (", 0) == 0);
}

TEST_CASE("produce_block: builds, commits, prunes the mempool and keeps the producer's schedule") {
  Chain c;
  Mempool pool;
  SingleProducer producer(c.producer, 1000, c.now + 100);
  for (std::size_t i = 0; i < 3; ++i) REQUIRE(pool.add(c.tx(i, Transfer{c.addr(5), 7}), *c.ledger).ok());

  auto early = produce_block(*c.ledger, pool, producer, c.now);
  REQUIRE(early.ok());
  CHECK(!early->has_value());
  CHECK(c.ledger->head().height == 0);

  auto made = produce_block(*c.ledger, pool, producer, c.now + 100);
  REQUIRE_MESSAGE(made.ok(), made.status().text());
  REQUIRE(made->has_value());
  const ProducedBlock& block = **made;
  CHECK(block.header.height == 1);
  CHECK(block.tx_count == 3);
  CHECK(c.ledger->head().height == 1);
  CHECK(c.ledger->head().hash == header_hash(block.header));
  CHECK(*c.ledger->block_at(1) == block.bytes);
  CHECK(pool.size() == 0);
  CHECK(producer.next_wakeup() == c.now + 1100);
  CHECK(check_supply(c.ledger->state()).empty());
}

TEST_CASE("produce_block: the ledger refusing its own block is reported, nothing committed") {
  Chain c;
  Mempool pool;
  SingleProducer outsider(test_key(5, 5), 1000, c.now);  // not among the genesis producers
  auto made = produce_block(*c.ledger, pool, outsider, c.now);
  CHECK(made.status().code == Error::kBadProposer);
  CHECK(made.status().message.rfind("own block at height 1 refused: ", 0) == 0);
  CHECK(c.ledger->head().height == 0);
  CHECK(outsider.next_wakeup() == c.now + 1000);  // the slot is consumed: no retry storm
}

TEST_CASE("produce_block: a pending tx that no longer applies leaves the mempool with its sender's later ones") {
  Chain c;
  Mempool pool;
  SingleProducer producer(c.producer, 1000, c.now);
  const Tx unjail = c.tx(0, Unjail{});  // account 0 is no validator: admitted (fee and nonce fine), never applies
  REQUIRE(pool.add(unjail, *c.ledger).ok());
  REQUIRE(pool.add(c.tx(0, Transfer{c.addr(5), 7}, 1, 1), *c.ledger).ok());  // nonce 1 waits on nonce 0
  REQUIRE(pool.add(c.tx(1, Transfer{c.addr(5), 7}), *c.ledger).ok());        // another sender
  auto made = produce_block(*c.ledger, pool, producer, c.now);
  REQUIRE_MESSAGE(made.ok(), made.status().text());
  REQUIRE(made->has_value());
  const ProducedBlock& block = **made;
  CHECK(block.tx_count == 1);
  REQUIRE(block.dropped.size() == 2);  // the unjail, then the transfer its nonce was waiting for
  CHECK(block.dropped[0].first == unjail.id);
  CHECK(!block.dropped[0].second.ok());
  CHECK(block.dropped[1].second.code == Error::kBadNonce);
  CHECK(pool.size() == 0);  // not retried at every block
}
