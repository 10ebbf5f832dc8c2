// The ledger as the committee's Application (consensus/node/ledger_app.hpp):
// a proposal built from the mempool, validated against the ledger, committed
// with the certificate of +2/3 precommits that the next block then carries.
#include <doctest/doctest.h>

#include "../ledger/cert_fixture.hpp"
#include "consensus/bft/codec.hpp"
#include "consensus/node/ledger_app.hpp"

using namespace bc;
using namespace bc::ledger;
using namespace bc::ledger::test;

namespace {

// The precommits of `signers` for `value` at (height, round 0) as the core makes them.
bft::CommitCertificate precommits(const CertChain& c, std::uint64_t height, const bft::Value& value,
                                  const std::vector<std::size_t>& signers) {
  bft::CommitCertificate cert{height, 0, value.hash, value.bytes, {}};
  for (std::size_t i : signers) {
    bft::Vote v{c.ledger->genesis_hash(), bft::VoteType::kPrecommit, height, 0, value.hash, {}, {}};
    bft::sign_vote(v, vote_key(i));
    cert.precommits.push_back(v);
  }
  return cert;
}

}  // namespace

TEST_CASE("block time is the proposer's clock, strictly after the parent") {
  CHECK(consensus::block_time(1000, 500) == 1000);
  CHECK(consensus::block_time(400, 500) == 501);
  CHECK(consensus::block_time(500, 500) == 501);
}

TEST_CASE("a decided block commits with its certificate and the next block carries it") {
  CertChain c(6, 4, 1000);
  Mempool pool;
  TimeMs clock = c.now;
  consensus::LedgerApplication app(*c.ledger, pool, vote_key(0), [&] { return clock; });
  CHECK(app.is_member(1));

  auto set = app.validators(1);
  REQUIRE(set.has_value());
  CHECK(set->size() == 4);
  auto set2 = app.validators(2);  // same epoch: advanced once
  REQUIRE(set2.has_value());
  CHECK(set2->members().size() == 4);

  clock += 1000;
  bft::Value v1 = app.propose_value(1, clock);
  CHECK(app.valid_value(1, v1));
  bft::Value forged = v1;
  forged.hash.bytes[0] ^= 1;
  CHECK_FALSE(app.valid_value(1, forged));
  CHECK_FALSE(app.valid_value(2, v1));

  // 3 of 4 equal powers: more than 2/3.
  bft::Decided d{1, v1, precommits(c, 1, v1, {0, 1, 2})};
  Status s = app.commit_decided(d);
  REQUIRE_MESSAGE(s.ok(), s.text());
  CHECK(c.ledger->head().height == 1);
  CHECK(c.ledger->head().hash == v1.hash);
  CHECK(app.commit_decided(d).ok());  // again (sync got there first): no harm

  auto served = app.certificate(1);
  REQUIRE(served.has_value());
  CHECK(served->value == v1.bytes);
  CHECK(consensus::to_ledger_certificate(*served) == *c.ledger->certificate_at(1));

  clock += 1000;
  bft::Value v2 = app.propose_value(2, clock);
  auto b2 = decode_block(v2.bytes, c.ledger->params());
  REQUIRE(b2.ok());
  REQUIRE(b2->last_commit.has_value());
  CHECK(*b2->last_commit == *c.ledger->certificate_at(1));
  CHECK(app.valid_value(2, v2));
}

TEST_CASE("a decision with too few precommits is refused and commits nothing") {
  CertChain c(6, 4, 1000);
  Mempool pool;
  TimeMs clock = c.now + 1000;
  consensus::LedgerApplication app(*c.ledger, pool, vote_key(1), [&] { return clock; });
  bft::Value v1 = app.propose_value(1, clock);
  CHECK(app.commit_decided(bft::Decided{1, v1, precommits(c, 1, v1, {0, 1})}).code == Error::kUncertified);
  CHECK(c.ledger->head().height == 0);
}

TEST_CASE("a block too far ahead of this node's clock is not valid") {
  CertChain c(6, 4, 1000);
  Mempool pool;
  TimeMs clock = c.now + 1000;
  consensus::LedgerApplication app(*c.ledger, pool, vote_key(0), [&] { return clock; });
  bft::Value v1 = app.propose_value(1, clock + 60'000);
  CHECK_FALSE(app.valid_value(1, v1));
  clock += 60'000;
  CHECK(app.valid_value(1, v1));
}

TEST_CASE("the proposal cap follows the measured time per tx") {
  consensus::ProposalBudget b(150);
  CHECK(b.max_txs(20000) == 20000);  // nothing measured yet: the chain's limit
  b.record(10, 50);                   // too small a block to tell a per-tx cost
  CHECK(b.cost_us() == 0);
  b.record(1000, 20);                 // 20 us per tx: 150 ms holds 3,750 builds plus validations
  CHECK(b.cost_us() == doctest::Approx(20.0));
  CHECK(b.max_txs(20000) == 3750);
  CHECK(b.max_txs(1000) == 1000);     // never above the chain's limit
  for (int i = 0; i < 40; ++i) b.record(100, 100);  // 1 ms per tx: recent samples dominate
  CHECK(b.cost_us() > 900);
  CHECK(b.max_txs(20000) == consensus::ProposalBudget::kFloorTxs);  // 75 would fit; the floor keeps the chain moving
}

TEST_CASE("a proposal carries no more txs than the budget allows") {
  CertChain c(6, 4, 1000);
  Mempool pool;
  TimeMs clock = c.now + 1000;
  consensus::LedgerApplication app(*c.ledger, pool, vote_key(0), [&] { return clock; }, 150);
  const std::size_t pending = consensus::ProposalBudget::kFloorTxs + 40;
  for (std::size_t i = 0; i < pending; ++i) {
    const std::size_t from = i % 6;
    REQUIRE(pool.add(c.tx(from, Transfer{c.addr((from + 1) % 6), 1}, 1, c.nonce(from) + i / 6), *c.ledger).ok());
  }
  app.budget().record(1000, 1000);  // 1 ms per tx measured: the floor
  bft::Value v1 = app.propose_value(1, clock);
  auto block = decode_block(v1.bytes, c.ledger->params());
  REQUIRE(block.ok());
  CHECK(block->txs.size() == consensus::ProposalBudget::kFloorTxs);
  CHECK(app.valid_value(1, v1));
  CHECK(pool.size() == pending);  // the rest waits for the next height
}

TEST_CASE("a tx the proposal refuses leaves the mempool and is reported with its reason") {
  CertChain c(6, 4, 1000);
  Mempool pool;
  TimeMs clock = c.now + 1000;
  consensus::LedgerApplication app(*c.ledger, pool, vote_key(0), [&] { return clock; });
  std::vector<std::pair<Hash256, std::string>> dropped;
  app.on_dropped([&](const Hash256& id, const Status& why) { dropped.emplace_back(id, why.name()); });
  const Tx unjail = c.tx(5, Unjail{});  // account 5 is no validator: admitted, refused by the builder
  REQUIRE(pool.add(unjail, *c.ledger).ok());
  bft::Value v1 = app.propose_value(1, clock);
  REQUIRE(dropped.size() == 1);
  CHECK(dropped[0].first == unjail.id);
  CHECK(dropped[0].second == "not_validator");
  CHECK_FALSE(pool.contains(unjail.id));
  CHECK(app.valid_value(1, v1));
}

// The proposer commits from its build and a validator from its validation
// (neither executes the block again): both must reach the state that a
// node executing the block afresh (sync's apply_block) reaches.
TEST_CASE("a decided block commits from the work that built or validated it, to the state of a fresh execution") {
  CertChain proposer(6, 4, 1000), validator(6, 4, 1000), follower(6, 4, 1000);
  Mempool pool, other_pool;
  TimeMs clock = proposer.now + 1000;
  consensus::LedgerApplication p_app(*proposer.ledger, pool, vote_key(0), [&] { return clock; });
  consensus::LedgerApplication v_app(*validator.ledger, other_pool, vote_key(1), [&] { return clock; });
  for (std::size_t from = 0; from < 6; ++from)
    REQUIRE(pool.add(proposer.tx(from, Transfer{proposer.addr((from + 1) % 6), 10 + from}), *proposer.ledger).ok());
  bft::Value v1 = p_app.propose_value(1, clock);
  REQUIRE(v_app.valid_value(1, v1));
  const bft::Decided d{1, v1, precommits(proposer, 1, v1, {0, 1, 2})};
  REQUIRE(p_app.commit_decided(d).ok());
  REQUIRE(v_app.commit_decided(d).ok());
  const auto cert = consensus::to_ledger_certificate(d.certificate);
  REQUIRE(follower.ledger->apply_block(v1.bytes, &cert).ok());
  for (const auto* c : {&proposer, &validator}) {
    CHECK(c->ledger->head().hash == follower.ledger->head().hash);
    CHECK(c->ledger->head().state_root == follower.ledger->head().state_root);
    CHECK(c->ledger->computed_root() == follower.ledger->computed_root());
    CHECK(c->ledger->account(proposer.addr(1))->balance == follower.ledger->account(proposer.addr(1))->balance);
  }
  CHECK(pool.size() == 0);  // the committed transfers left the mempool
}
