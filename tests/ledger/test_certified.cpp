// Certified chains (docs/staking.md): commit certificates, the header's
// commitment to the parent's, and the penalties and rewards the ledger derives.
#include <doctest/doctest.h>

#include "cert_fixture.hpp"
#include "ledger/consensus_effects.hpp"
#include "ledger/invariants.hpp"

using namespace bc;
using namespace bc::ledger;
using namespace bc::ledger::test;

namespace {

void expect_invariants(const Chain& c) {
  CHECK(check_supply(c.ledger->state()).empty());
  CHECK(check_staking(c.ledger->state()).empty());
}

// Validators 0..3 with stakes 100, 200, 300, 400: account 3 leads the set.
CertChain four(std::function<void(Genesis&)> edit = {}) {
  return CertChain(8, 4, 0, [&](Genesis& g) {
    for (std::size_t i = 0; i < 4; ++i) g.accounts[i].bonded = 100 * (i + 1);
    g.params.unbonding_delay = 10;
    if (edit) edit(g);
  });
}

XOnlyPubKey vk(std::size_t i) { return vote_key(i).public_key(); }

Ledger::Built build(CertChain& c, const std::vector<Tx>& txs = {}) {
  std::vector<const Tx*> p;
  for (const auto& t : txs) p.push_back(&t);
  c.now += 1000;
  return c.ledger->build_block(p, c.now, vote_key(3));
}

}  // namespace

TEST_CASE("a certified chain accepts a block only with a valid certificate of its set") {
  CertChain c = four();
  auto b = build(c);
  const Hash256 chain = c.ledger->genesis_hash();
  CHECK(c.ledger->apply_block(b.bytes).code == Error::kUncertified);
  // 3 + 2 = 5 of 10 power is not more than 2/3; 4 + 3 + 2 = 9 is.
  CommitCertificate weak = c.certify(b.block, {vk(3), vk(1)});
  CHECK(c.ledger->apply_block(b.bytes, &weak).code == Error::kUncertified);
  CommitCertificate twice = c.certify(b.block, {vk(3), vk(3), vk(2)});
  CHECK(c.ledger->apply_block(b.bytes, &twice).code == Error::kUncertified);
  CommitCertificate stranger = c.certify(b.block, {vk(3), vk(2), vk(6)});
  CHECK(c.ledger->apply_block(b.bytes, &stranger).code == Error::kUncertified);
  CommitCertificate forged = c.certify(b.block, {vk(3), vk(2), vk(1)});
  forged.precommits[1].signature.bytes[5] ^= 1;
  CHECK(c.ledger->apply_block(b.bytes, &forged).code == Error::kUncertified);
  CommitCertificate other_round = c.certify(b.block, {vk(3), vk(2), vk(1)});
  other_round.round = 1;  // signatures were for round 0
  CHECK(c.ledger->apply_block(b.bytes, &other_round).code == Error::kUncertified);
  CHECK(c.ledger->head().height == 0);

  CommitCertificate good = c.certify(b.block, {vk(3), vk(2), vk(1)});
  REQUIRE(c.ledger->apply_block(b.bytes, &good).ok());
  CHECK(c.ledger->certificate_at(1) == good);
  CHECK(verify_certificate(good, chain, *c.ledger->committee_for(1), 1, c.ledger->head().hash).ok());
  CHECK(*decode_certificate(encode_certificate(good)) == good);
  // A proposer outside the set is refused.
  c.now += 1000;
  auto outsider = c.ledger->build_block({}, c.now, vote_key(6));
  CommitCertificate oc = c.certify(outsider.block);
  CHECK(c.ledger->apply_block(outsider.bytes, &oc).code == Error::kBadProposer);
  expect_invariants(c);
}

TEST_CASE("the next header commits to the parent's certificate") {
  CertChain c = four();
  c.step({}, {vk(3), vk(2), vk(1)});
  auto b2 = build(c);
  REQUIRE(b2.block.last_commit.has_value());
  CHECK(*b2.block.last_commit == *c.ledger->certificate_at(1));
  CHECK(b2.block.header.last_commit_hash == certificate_hash(*b2.block.last_commit));
  // Another valid certificate of block 1 in the body, the header unchanged: refused.
  Block swapped = b2.block;
  swapped.last_commit = c.certify(*decode_block(*c.ledger->block_at(1), c.ledger->params()), {});
  CommitCertificate cert2 = c.certify(swapped);
  CHECK(c.ledger->apply_block(encode_block(swapped), &cert2).code == Error::kUncertified);
  // No last commit at all: refused.
  Block bare = b2.block;
  bare.last_commit.reset();
  bare.header.last_commit_hash.reset();
  sign_block(bare, vote_key(3));
  CommitCertificate cert3 = c.certify(bare);
  CHECK(c.ledger->apply_block(encode_block(bare), &cert3).code == Error::kUncertified);
  CommitCertificate cert = c.certify(b2.block);
  REQUIRE(c.ledger->apply_block(b2.bytes, &cert).ok());
  // An uncertified chain's block carries no last commit.
  Chain plain;
  Block odd = plain.raw_block({});
  odd.last_commit = cert;
  sign_block(odd, plain.producer);
  expect_rejected(plain, odd, Error::kUncertified);
}

TEST_CASE("fees and the block reward go to the proposer and the signers by power") {
  CertChain c = four([](Genesis& g) {
    g.params.block_reward = 1000;
    g.params.proposer_bonus_bps = 1000;
  });
  auto balance = [&](std::size_t i) { return c.acct(i).balance; };
  Amount before3 = balance(3);
  c.step();  // block 1: no last commit, the proposer takes everything
  CHECK(balance(3) == before3 + 1000);
  std::vector<Amount> before;
  for (std::size_t i = 0; i < 4; ++i) before.push_back(balance(i));
  auto built = c.step({c.tx(5, Transfer{c.addr(6), 1}, 10)});  // signers of block 1: all
  // Reward 1000: bonus 100, then 900 * power / 1000; fees 10: bonus 1, then 9 * power / 1000.
  CHECK(balance(0) == before[0] + 90 + 0);
  CHECK(balance(1) == before[1] + 180 + 1);
  CHECK(balance(2) == before[2] + 270 + 2);
  CHECK(balance(3) == before[3] + 100 + 360 + 3 + (10 - 6));  // bonus, share, fee share, fee remainder
  bool has_reward = false, has_fee = false;
  for (const Effect& e : built.block.effects) {
    has_reward = has_reward || e.kind == Effect::Kind::kReward;
    has_fee = has_fee || e.kind == Effect::Kind::kFeeShare;
  }
  CHECK((has_reward && has_fee));
  // Only signers share: block 4 rewards the three who signed block 3.
  c.step({}, {vk(3), vk(2), vk(1)});
  const Amount before0 = balance(0);
  c.step();
  CHECK(balance(0) == before0);  // did not sign block 3
  expect_invariants(c);
}

TEST_CASE("a block whose effects differ from the derived ones is refused") {
  CertChain c = four([](Genesis& g) { g.params.block_reward = 50; });
  c.step();
  auto b = build(c);
  REQUIRE(!b.block.effects.empty());
  Block tampered = b.block;
  tampered.effects[0].amount += 1;
  tampered.header.effects_root = effects_root(tampered.effects);
  sign_block(tampered, vote_key(3));
  CommitCertificate cert = c.certify(tampered);
  CHECK(c.ledger->apply_block(encode_block(tampered), &cert).code == Error::kBadEffect);
  Block extra = b.block;
  extra.effects.push_back(Effect{Effect::Kind::kReward, c.addr(7), 1, Hash256{}});
  extra.header.effects_root = effects_root(extra.effects);
  sign_block(extra, vote_key(3));
  cert = c.certify(extra);
  CHECK(c.ledger->apply_block(encode_block(extra), &cert).code == Error::kBadEffect);
}

TEST_CASE("downtime: a validator that signed under half the window is jailed, leaves the set, and may unjail later") {
  CertChain c = four([](Genesis& g) {
    g.params.downtime_window = 4;
    g.params.downtime_jail_blocks = 3;
    g.params.epoch_length = 8;
  });
  const std::vector<XOnlyPubKey> without0 = {vk(3), vk(2), vk(1)};
  c.step({}, without0);  // block 1; its certificate lacks validator 0
  // Blocks 2..4 record the certificates of 1..3: tracked 3 < window.
  for (int i = 0; i < 3; ++i) c.step({}, without0);
  CHECK(c.ledger->state().validator(c.addr(0))->status == Validator::Status::kActive);
  auto b5 = c.step({}, without0);  // records block 4: 4 of 4 missed
  const Validator* v = c.ledger->state().validator(c.addr(0));
  CHECK(v->status == Validator::Status::kJailed);
  CHECK(v->jailed_until == 5 + 3);
  bool jailed = false;
  for (const Effect& e : b5.block.effects) jailed = jailed || (e.kind == Effect::Kind::kJail && e.account == c.addr(0));
  CHECK(jailed);
  CHECK(c.acct(0).bonded == 100);  // downtime_slash_bps defaults to 0
  auto early = c.step({c.tx(0, Unjail{})}, without0);  // height 6
  REQUIRE(early.dropped.size() == 1);
  CHECK(early.dropped[0].second.code == Error::kStillJailed);
  while (c.ledger->head().height < 7) c.step({}, without0);
  c.step({c.tx(0, Unjail{})}, without0);  // height 8 >= jailed_until, and 8 closes epoch 0
  CHECK(c.ledger->state().validator(c.addr(0))->status == Validator::Status::kActive);
  CHECK(c.ledger->state().committee(1)->members.size() == 4);
  expect_invariants(c);
}

TEST_CASE("double sign: 5% of bonded and of later unbonding stake burned, banned for good, out of the next set") {
  CertChain c = four([](Genesis& g) { g.params.epoch_length = 4; });
  const Hash256 chain = c.ledger->genesis_hash();
  c.step();                          // 1
  c.step({c.tx(2, Unbond{100})});    // 2: account 2 (300 bonded) starts unbonding 100 after the offence at 1
  const Amount burned_before = c.ledger->state().supply().burned;
  VoteRecord va{VoteKind::kPrecommit, 1, 0, Hash256{}, {}, {}};
  va.value->bytes[0] = 1;
  VoteRecord vb = va;
  vb.value.reset();  // nil
  DuplicateVoteEvidence e{sign_vote(vote_key(2), chain, va), sign_vote(vote_key(2), chain, vb)};
  DuplicateVoteEvidence forged = e;
  forged.b.signature.bytes[0] ^= 1;
  auto built = c.step({}, {}, {forged, e});
  REQUIRE(built.block.evidence.size() == 1);  // the forged one was left out
  CHECK(built.block.evidence[0] == e);
  CHECK(c.acct(2).bonded == 200 - 10);
  auto ub = c.ledger->state().unbondings();
  REQUIRE(ub.size() == 1);
  CHECK(ub.begin()->second.amount == 100 - 5);
  CHECK(c.ledger->state().supply().burned == burned_before + 15);
  CHECK(c.ledger->state().validator(c.addr(2))->status == Validator::Status::kBanned);
  std::size_t slashes = 0;
  for (const Effect& x : built.block.effects)
    if (x.kind == Effect::Kind::kSlash || x.kind == Effect::Kind::kSlashUnbonding || x.kind == Effect::Kind::kBan) {
      CHECK(x.reason == evidence_hash(e));
      ++slashes;
    }
  CHECK(slashes == 3);
  // The same offence again is left out (already banned); the ban holds at the boundary.
  auto again = c.step({}, {}, {e});  // 4 closes epoch 0
  CHECK(again.block.evidence.empty());
  REQUIRE(c.ledger->state().committee(1) != nullptr);
  CHECK(c.ledger->state().committee(1)->members.size() == 3);
  CHECK(find_member(*c.ledger->state().committee(1), vk(2)) == nullptr);
  CHECK(c.step({c.tx(2, Unjail{})}).dropped.at(0).second.code == Error::kBanned);
  expect_invariants(c);
}

TEST_CASE("evidence too old, of one vote, or of an outsider is refused") {
  CertChain c = four([](Genesis& g) { g.params.unbonding_delay = 3; });
  const Hash256 chain = c.ledger->genesis_hash();
  for (int i = 0; i < 4; ++i) c.step();
  auto evidence = [&](std::uint64_t height, std::size_t who) {
    VoteRecord a{VoteKind::kPrevote, height, 0, Hash256{}, {}, {}};
    VoteRecord b = a;
    b.value.reset();
    return DuplicateVoteEvidence{sign_vote(vote_key(who), chain, a), sign_vote(vote_key(who), chain, b)};
  };
  WorkingState ws(c.ledger->state());
  std::vector<DuplicateVoteEvidence> list;
  ConsensusInput in{chain, 5, c.addr(3), nullptr, &list, 0};
  list = {evidence(2, 1)};  // 2 + 3 <= 5: its stake may have left
  CHECK(derive_and_apply(ws, in).status().code == Error::kBadEvidence);
  list = {evidence(3, 6)};  // not a validator
  CHECK(derive_and_apply(ws, in).status().code == Error::kBadEvidence);
  DuplicateVoteEvidence same = evidence(3, 1);
  same.b = same.a;
  list = {same};
  CHECK(derive_and_apply(ws, in).status().code == Error::kBadEvidence);
  list = {evidence(3, 1)};
  CHECK(derive_and_apply(ws, in).ok());
}
