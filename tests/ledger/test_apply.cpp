// Each transaction kind: the happy path and every rejection, through real blocks.
#include "ledger_fixture.hpp"

using namespace bc;
using namespace bc::ledger;
using namespace bc::ledger::test;

TEST_CASE("transfer moves funds, charges the fee to the proposer and bumps the nonce") {
  Chain c;
  Address proposer = address_of(c.producer.public_key());
  REQUIRE(c.include(c.tx(0, Transfer{c.addr(1), 1000}, 10)).ok());
  CHECK(c.acct(0).balance == 1'000'000 - 1010);
  CHECK(c.acct(0).nonce == 1);
  CHECK(c.acct(1).balance == 1'001'000);
  CHECK(c.ledger->account(proposer)->balance == 10);
  CHECK(check_supply(c.ledger->state()).empty());
  // A new account is created on first receipt.
  Address fresh = address_of(test_key(5, 5).public_key());
  REQUIRE(c.include(c.tx(0, Transfer{fresh, 5})).ok());
  CHECK(c.ledger->account(fresh)->balance == 5);
  CHECK(c.ledger->account(fresh)->nonce == 0);
}

TEST_CASE("transfer rejections: overspend, bad nonce, unknown sender, replay") {
  Chain c;
  Status s = c.include(c.tx(0, Transfer{c.addr(1), 1'000'000}, 1));
  CHECK(s.code == Error::kInsufficientFunds);
  CHECK(s.message.find("has 1000000, needs 1000001") != std::string::npos);
  s = c.include(c.tx(0, Transfer{c.addr(1), 5}, 1, 4));
  CHECK(s.code == Error::kBadNonce);
  CHECK(s.message.find("expected nonce 0, got 4") != std::string::npos);
  KeyPair stranger = test_key(77, 1);
  TxBody b = c.body(0, Transfer{c.addr(1), 5});
  b.sender = stranger.public_key();
  s = c.include(sign_tx(b, stranger));
  CHECK(s.code == Error::kUnknownAccount);
  // Double spend: the same signed tx twice (second time its nonce is used).
  Tx t = c.tx(0, Transfer{c.addr(1), 5});
  REQUIRE(c.include(t).ok());
  CHECK(c.include(t).code == Error::kBadNonce);
  // Two txs with the same nonce in one block: only the first goes in.
  Tx a = c.tx(2, Transfer{c.addr(3), 100});
  Tx a2 = c.tx(2, Transfer{c.addr(4), 100}, 2);
  CHECK(c.include(std::vector<Tx>{a, a2}).code == Error::kBadNonce);
  CHECK(c.acct(3).balance == 1'000'100);
  CHECK(c.acct(4).balance == 1'000'000);
  CHECK(check_supply(c.ledger->state()).empty());
}

TEST_CASE("blocks carrying a bad tx are rejected whole, with no state change") {
  Chain c;
  Tx good = c.tx(0, Transfer{c.addr(1), 10});
  Tx overspend = c.tx(2, Transfer{c.addr(1), 2'000'000});
  expect_rejected(c, c.raw_block({good, overspend}), Error::kInsufficientFunds);
  Tx bad_nonce = c.tx(2, Transfer{c.addr(1), 5}, 1, 7);
  expect_rejected(c, c.raw_block({good, bad_nonce}), Error::kBadNonce);
  Tx bad_sig = c.tx(3, Transfer{c.addr(1), 5});
  bad_sig.signature.bytes[3] ^= 1;
  bad_sig.id = tx_id_of(bad_sig.digest, bad_sig.signature);
  expect_rejected(c, c.raw_block({good, bad_sig}), Error::kBadSignature);
  // Double spend inside one block: the same nonce twice.
  Tx d1 = c.tx(4, Transfer{c.addr(1), 600'000});
  Tx d2 = c.tx(4, Transfer{c.addr(2), 600'000});
  expect_rejected(c, c.raw_block({d1, d2}), Error::kBadNonce);
  expect_rejected(c, c.raw_block({good, good}), Error::kDuplicateTx);
  Tx wrong_chain = sign_tx([&] { auto b = c.body(5, Bond{1}); b.chain_id = "mainnet"; return b; }(), c.key(5));
  expect_rejected(c, c.raw_block({wrong_chain}), Error::kWrongChain);
  CHECK(c.acct(0).nonce == 0);
}

TEST_CASE("bond and unbond with the unbonding delay") {
  Chain c;  // unbonding_delay = 3
  REQUIRE(c.include(c.tx(0, Bond{5000})).ok());
  CHECK(c.acct(0).bonded == 5000);
  CHECK(c.acct(0).balance == 1'000'000 - 5001);
  CHECK(c.include(c.tx(0, Unbond{6000})).code == Error::kInsufficientStake);
  CHECK(c.include(c.tx(0, Bond{2'000'000})).code == Error::kInsufficientFunds);
  REQUIRE(c.include(c.tx(0, Unbond{2000})).ok());
  std::uint64_t unbond_height = c.ledger->head().height;
  CHECK(c.acct(0).bonded == 3000);
  CHECK(c.ledger->state().unbondings().size() == 1);
  Amount before = c.acct(0).balance;
  while (c.ledger->head().height < unbond_height + 2) {
    REQUIRE(c.include(std::vector<Tx>{}).ok());
    CHECK(c.acct(0).balance == before);  // still locked
    CHECK(check_supply(c.ledger->state()).empty());
  }
  REQUIRE(c.include(std::vector<Tx>{}).ok());  // height = unbond + 3: released
  CHECK(c.acct(0).balance == before + 2000);
  CHECK(c.ledger->state().unbondings().empty());
  CHECK(check_supply(c.ledger->state()).empty());
}

TEST_CASE("register a service ID to its owner key, once") {
  Chain c;
  REQUIRE(c.include(c.tx(0, RegisterService{"storage"})).ok());
  Hash256 id = service_id_of(c.key(0).public_key(), "storage");
  const Service* s = c.ledger->state().service(id);
  REQUIRE(s != nullptr);
  CHECK(s->owner == c.key(0).public_key());
  CHECK(s->name == "storage");
  CHECK(c.include(c.tx(0, RegisterService{"storage"})).code == Error::kServiceExists);
  // Same name, other owner: a different, self-certifying ID.
  REQUIRE(c.include(c.tx(1, RegisterService{"storage"})).ok());
  CHECK(c.ledger->state().services().size() == 2);
}

TEST_CASE("escrow: open, top up, claim with client receipts, close after expiry") {
  Chain c;
  const std::string chain = c.ledger->params().chain_id;
  std::uint64_t h = c.ledger->head().height;
  std::uint64_t open_nonce = c.nonce(0);
  REQUIRE(c.include(c.tx(0, EscrowOpen{c.addr(1), 10'000, h + 30})).ok());
  Hash256 eid = escrow_id_of(c.addr(0), open_nonce);
  REQUIRE(c.ledger->state().escrow(eid) != nullptr);
  CHECK(c.acct(0).balance == 1'000'000 - 10'001);
  CHECK(check_supply(c.ledger->state()).empty());

  REQUIRE(c.include(c.tx(0, EscrowTopUp{eid, 500, h + 40})).ok());
  CHECK(c.ledger->state().escrow(eid)->deposited == 10'500);
  CHECK(c.ledger->state().escrow(eid)->expires_at == h + 40);
  CHECK(c.include(c.tx(2, EscrowTopUp{eid, 5, 0})).code == Error::kNotEscrowClient);
  CHECK(c.include(c.tx(0, EscrowTopUp{eid, 5, h + 35})).code == Error::kBadExpiry);

  // Provider claims with receipts signed by the client.
  auto r1 = sign_receipt(c.key(0), chain, eid, 3000);
  auto r2 = sign_receipt(c.key(0), chain, eid, 4000);
  Amount prov = c.acct(1).balance;
  REQUIRE(c.include(c.tx(1, EscrowClaim{eid, {r1, r2}})).ok());
  CHECK(c.acct(1).balance == prov + 4000 - 1);
  CHECK(c.ledger->state().escrow(eid)->claimed == 4000);
  CHECK(check_supply(c.ledger->state()).empty());

  // Rejections.
  CHECK(c.include(c.tx(1, EscrowClaim{eid, {r1}})).code == Error::kNothingToClaim);
  CHECK(c.include(c.tx(2, EscrowClaim{eid, {sign_receipt(c.key(0), chain, eid, 5000)}})).code == Error::kNotEscrowProvider);
  CHECK(c.include(c.tx(1, EscrowClaim{eid, {sign_receipt(c.key(0), chain, eid, 99'999)}})).code == Error::kReceiptExceedsEscrow);
  CHECK(c.include(c.tx(1, EscrowClaim{eid, {sign_receipt(c.key(2), chain, eid, 5000)}})).code == Error::kBadReceipt);
  CHECK(c.include(c.tx(1, EscrowClaim{eid, {r2, r1}})).code == Error::kBadReceipt);
  CHECK(c.include(c.tx(1, EscrowClaim{eid, {sign_receipt(c.key(0), "other-net", eid, 5000)}})).code == Error::kBadReceipt);
  Hash256 other = escrow_id_of(c.addr(0), 999);
  CHECK(c.include(c.tx(1, EscrowClaim{eid, {sign_receipt(c.key(0), chain, other, 5000)}})).code == Error::kBadReceipt);
  CHECK(c.include(c.tx(1, EscrowClaim{other, {sign_receipt(c.key(0), chain, other, 5000)}})).code == Error::kUnknownEscrow);

  // Client cannot close before expiry; third parties never.
  CHECK(c.include(c.tx(0, EscrowClose{eid})).code == Error::kEscrowNotExpired);
  CHECK(c.include(c.tx(2, EscrowClose{eid})).code == Error::kNotEscrowClient);
  while (c.ledger->head().height + 1 < h + 40) REQUIRE(c.include(std::vector<Tx>{}).ok());
  CHECK(c.include(c.tx(0, EscrowTopUp{eid, 5, 0})).code == Error::kEscrowExpired);
  Amount client = c.acct(0).balance;
  REQUIRE(c.include(c.tx(0, EscrowClose{eid})).ok());
  CHECK(c.acct(0).balance == client + 10'500 - 4000 - 1);
  CHECK(c.ledger->state().escrow(eid) == nullptr);
  CHECK(c.include(c.tx(0, EscrowClose{eid})).code == Error::kUnknownEscrow);
  CHECK(check_supply(c.ledger->state()).empty());
}

TEST_CASE("escrow: bad opens; provider may close early and the client gets the rest") {
  Chain c;
  std::uint64_t h = c.ledger->head().height;
  CHECK(c.include(c.tx(0, EscrowOpen{c.addr(0), 10, h + 5})).code == Error::kBadEscrow);
  CHECK(c.include(c.tx(0, EscrowOpen{c.addr(1), 10, h + 1})).code == Error::kBadExpiry);
  CHECK(c.include(c.tx(0, EscrowOpen{c.addr(1), 5'000'000, h + 9})).code == Error::kInsufficientFunds);
  std::uint64_t n = c.nonce(0);
  REQUIRE(c.include(c.tx(0, EscrowOpen{c.addr(1), 700, h + 100})).ok());
  Hash256 eid = escrow_id_of(c.addr(0), n);
  Amount client = c.acct(0).balance;
  REQUIRE(c.include(c.tx(1, EscrowClose{eid})).ok());
  CHECK(c.acct(0).balance == client + 700);
  CHECK(check_supply(c.ledger->state()).empty());
}

TEST_CASE("effects: refused by default; with a rule, rewards mint and slashes burn") {
  Chain c;
  Block b = c.raw_block({});
  b.effects.push_back(Effect{Effect::Kind::kReward, c.addr(0), 50, Hash256{}});
  b.header.effects_root = effects_root(b.effects);
  sign_block(b, c.producer);
  expect_rejected(c, b, Error::kBadEffect);

  // A ledger whose consensus rule accepts any effect (stands in for PoS rules).
  TempDir dir;
  LedgerOptions o = c.options();
  o.dir = dir.path;
  o.effects_rule = [](const BlockHeader&, const std::vector<Effect>&, const WorkingState&) { return Status{}; };
  auto l = Ledger::open(o);
  REQUIRE(l.ok());
  Ledger& L = **l;
  // Bond first so there is something to slash.
  Tx bond = c.tx(0, Bond{1000});
  auto built = L.build_block({&bond}, c.now + 1000, c.producer);
  REQUIRE(L.apply_block(built.bytes).ok());
  std::vector<Effect> effects = {Effect{Effect::Kind::kReward, c.addr(1), 50, Hash256{}},
                                 Effect{Effect::Kind::kSlash, c.addr(0), 300, Hash256{}}};
  built = L.build_block({}, c.now + 2000, c.producer, effects);
  CHECK(built.block.effects.size() == 2);
  REQUIRE(L.apply_block(built.bytes).ok());
  CHECK(L.account(c.addr(1))->balance == 1'000'050);
  CHECK(L.account(c.addr(0))->bonded == 700);
  CHECK(L.state().supply().burned == 300);
  CHECK(L.state().supply().minted == 8 * 1'000'000 + 50);
  CHECK(check_supply(L.state()).empty());
  // Slashing more than is bonded is refused.
  Block over = [&] {
    Block x;
    x.header.chain_id = L.params().chain_id;
    x.header.height = L.head().height + 1;
    x.header.prev_hash = L.head().hash;
    x.header.time = c.now + 3000;
    x.effects = {Effect{Effect::Kind::kSlash, c.addr(0), 701, Hash256{}}};
    x.header.effects_root = effects_root(x.effects);
    sign_block(x, c.producer);
    return x;
  }();
  Status s = L.apply_block(over);
  CHECK(s.code == Error::kBadEffect);
}
