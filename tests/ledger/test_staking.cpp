// Staking payloads, validator entries and the validator set per epoch
// (docs/staking.md), on a single-producer chain (no certificates needed).
#include <doctest/doctest.h>

#include "ledger/invariants.hpp"
#include "ledger/validators.hpp"
#include "cert_fixture.hpp"

using namespace bc;
using namespace bc::ledger;
using namespace bc::ledger::test;

namespace {

// Restarts the chain from a genesis changed by `edit` (a fresh directory).
template <typename F>
void regenesis(Chain& c, F edit) {
  c.ledger.reset();
  std::filesystem::remove_all(c.dir.path);
  edit(c.tg.genesis);
  c.reopen();
}

Tx bond_key(Chain& c, std::size_t who, Amount amount, const KeyPair& key) {
  return c.tx(who, bond_with_key(amount, key, c.ledger->params().chain_id, c.addr(who)));
}

void expect_invariants(const Chain& c) {
  CHECK(check_supply(c.ledger->state()).empty());
  CHECK(check_staking(c.ledger->state()).empty());
}

}  // namespace

TEST_CASE("bond with a consensus key registers a validator; the proof and the key are checked") {
  Chain c;
  REQUIRE(c.include(bond_key(c, 0, 500, vote_key(0))).ok());
  const Validator* v = c.ledger->state().validator(c.addr(0));
  REQUIRE(v != nullptr);
  CHECK(v->consensus_key == vote_key(0).public_key());
  CHECK(v->status == Validator::Status::kActive);
  CHECK(c.ledger->state().key_owner(vote_key(0).public_key())->address == c.addr(0));
  CHECK(c.acct(0).bonded == 500);

  // A second bond with the same key adds stake; another key is refused.
  REQUIRE(c.include(bond_key(c, 0, 100, vote_key(0))).ok());
  CHECK(c.acct(0).bonded == 600);
  CHECK(c.include(bond_key(c, 0, 100, vote_key(1))).code == Error::kKeyTaken);
  // Another account cannot take a registered key, even with a good proof.
  CHECK(c.include(bond_key(c, 1, 100, vote_key(0))).code == Error::kKeyTaken);
  // A proof for another account (or a forged one) is refused, nothing written.
  Bond stolen = bond_with_key(100, vote_key(2), c.ledger->params().chain_id, c.addr(3));
  CHECK(c.include(c.tx(1, stolen)).code == Error::kBadKeyProof);
  CHECK(c.ledger->state().validator(c.addr(1)) == nullptr);
  CHECK(c.acct(1).bonded == 0);
  expect_invariants(c);
}

TEST_CASE("bond payload with a key round-trips through the wire; malformed keys are refused") {
  Chain c;
  Tx t = bond_key(c, 0, 7, vote_key(0));
  auto back = decode_tx(encode_tx(t), c.ledger->params());
  REQUIRE(back.ok());
  const Bond& b = std::get<Bond>(back->body.payload);
  CHECK(b.amount == 7);
  REQUIRE(b.consensus_key.has_value());
  CHECK(*b.consensus_key == vote_key(0).public_key());
  CHECK(b.key_proof == std::get<Bond>(t.body.payload).key_proof);
  CHECK(back->id == t.id);
  // A plain bond keeps its old encoding: no key, no proof.
  Tx plain = c.tx(0, Bond{7});
  auto pb = decode_tx(encode_tx(plain), c.ledger->params());
  REQUIRE(pb.ok());
  CHECK(!std::get<Bond>(pb->body.payload).consensus_key.has_value());
  Tx unjail = c.tx(0, Unjail{});
  auto ub = decode_tx(encode_tx(unjail), c.ledger->params());
  REQUIRE(ub.ok());
  CHECK(std::holds_alternative<Unjail>(ub->body.payload));
  CHECK(std::string(payload_name(ub->body.payload)) == "unjail");
}

TEST_CASE("unjail: only a jailed validator, after jailed_until, with min_stake") {
  Chain c;
  CHECK(c.include(c.tx(0, Unjail{})).code == Error::kNotValidator);
  REQUIRE(c.include(bond_key(c, 0, 500, vote_key(0))).ok());
  CHECK(c.include(c.tx(0, Unjail{})).code == Error::kNotJailed);
  // Jail it through a consensus effect (apply_effect), as downtime would.
  WorkingState ws(c.ledger->state());
  const std::uint64_t h = c.ledger->head().height + 1;
  REQUIRE(apply_effect(ws, Effect{Effect::Kind::kJail, c.addr(0), 0, Hash256{}}, h).ok());
  auto v = ws.validator(c.addr(0));
  REQUIRE(v.has_value());
  CHECK(v->status == Validator::Status::kJailed);
  CHECK(v->jailed_until == h + c.ledger->params().downtime_jail_blocks);
  REQUIRE(apply_effect(ws, Effect{Effect::Kind::kBan, c.addr(0), 0, Hash256{}}, h).ok());
  CHECK(ws.validator(c.addr(0))->status == Validator::Status::kBanned);
}

TEST_CASE("the validator set: active, min stake, top V by stake, ties by address") {
  Chain c(10);
  regenesis(c, [&](Genesis& g) {
    g.params.max_validators = 3;
    g.params.min_stake = 100;
    g.params.epoch_length = 4;
    for (std::size_t i = 0; i < 6; ++i) {
      g.accounts[i].bonded = i < 2 ? 1000 : 100 * i;  // 1000, 1000, 200, 300, 400, 500
      g.accounts[i].consensus_key = vote_key(i).public_key();
    }
    g.accounts[5].bonded = 99;  // below min_stake
  });
  const Committee* c0 = c.ledger->state().committee(0);
  REQUIRE(c0 != nullptr);
  REQUIRE(c0->members.size() == 3);
  // The two with 1000 tie: the smaller address first.
  const bool zero_first = c.addr(0) < c.addr(1);
  CHECK(c0->members[0].address == (zero_first ? c.addr(0) : c.addr(1)));
  CHECK(c0->members[1].address == (zero_first ? c.addr(1) : c.addr(0)));
  CHECK(c0->members[2].address == c.addr(4));
  CHECK(c0->members[2].power == 400);
  CHECK(c0->members[2].consensus_key == vote_key(4).public_key());
  CHECK(total_power(*c0) == 2400);
  CHECK(epoch_of(0, c.ledger->params()) == 0);
  CHECK(epoch_of(4, c.ledger->params()) == 0);
  CHECK(epoch_of(5, c.ledger->params()) == 1);
  CHECK(c.ledger->committee_for(3) == c0);
  expect_invariants(c);
}

TEST_CASE("stake changes take effect at the epoch boundary, and the state root commits to the set") {
  CertChain c(10, 3, 100, [](Genesis& g) {
    g.params.epoch_length = 4;
    g.params.max_validators = 2;
    for (std::size_t i = 0; i < 3; ++i) g.accounts[i].bonded = 100 * (i + 1);
  });
  REQUIRE(c.ledger->state().committee(0)->members.size() == 2);
  c.step({c.tx(0, Bond{1000})});  // height 1: account 0 becomes the largest
  CHECK(c.acct(0).bonded == 1100);
  c.step();
  c.step();
  CHECK(c.ledger->head().height == 3);
  CHECK(c.ledger->state().committee(1) == nullptr);  // not yet: height 4 closes epoch 0
  CHECK(c.ledger->committee_for(4) == c.ledger->state().committee(0));
  c.step();
  const Committee* c1 = c.ledger->state().committee(1);
  REQUIRE(c1 != nullptr);
  CHECK(c1->members[0].address == c.addr(0));
  CHECK(c1->members[0].power == 1100);
  CHECK(c1->members[1].address == c.addr(2));
  CHECK(c.ledger->committee_for(5) == c1);
  // The state root commits to the committee: a proof of its entry verifies.
  SmtProof proof = c.ledger->prove_entry(Kind::kCommittee, committee_id(1));
  CHECK(verify_smt_proof(c.ledger->head().state_root, state_key(Kind::kCommittee, committee_id(1)),
                         state_value_hash(encode_committee(*c1)), proof));
  c.step();  // block 5 is certified by the new set
  // Reopening rebuilds the same committees from the store.
  const Committee copy = *c.ledger->state().committee(1);
  c.reopen();
  REQUIRE(c.ledger->state().committee(1) != nullptr);
  CHECK(*c.ledger->state().committee(1) == copy);
  expect_invariants(c);
}

TEST_CASE("a bond with a key on a single-producer chain records a validator and epochs, enforcing nothing") {
  Chain c;
  REQUIRE(c.include(bond_key(c, 0, 500, vote_key(0))).ok());
  CHECK(!c.ledger->certified());
  for (int i = 0; i < 3; ++i) REQUIRE(c.include(std::vector<Tx>{}).ok());
  regenesis(c, [](Genesis& g) { g.params.epoch_length = 2; });
  REQUIRE(c.include(bond_key(c, 0, 500, vote_key(0))).ok());
  REQUIRE(c.include(std::vector<Tx>{}).ok());  // height 2 closes epoch 0
  REQUIRE(c.ledger->state().committee(1) != nullptr);
  CHECK(c.ledger->state().committee(1)->members.size() == 1);
  CHECK(!c.ledger->certified());
  CHECK(c.ledger->certificate_at(2) == std::nullopt);
  expect_invariants(c);
}

TEST_CASE("staking entries encode and decode; bad committees are refused") {
  Validator v;
  v.consensus_key = vote_key(0).public_key();
  v.status = Validator::Status::kJailed;
  v.jailed_until = 77;
  v.missed_bits[3] = 0x81;
  v.missed = 2;
  v.tracked = 9;
  v.audit_record = {0b101, 5};
  CHECK(decode_validator(encode_validator(v)) == v);
  Bytes bad = encode_validator(v);
  bad[33] = 3;  // status out of range
  CHECK(!decode_validator(bad).has_value());
  bad = encode_validator(v);
  bad.back() = 2;  // the record has a disagreement older than its report count
  CHECK(!decode_validator(bad).has_value());
  bad.back() = 17;  // more reports than the window
  CHECK(!decode_validator(bad).has_value());
  bad = encode_validator(v);
  bad.pop_back();
  CHECK(!decode_validator(bad).has_value());
  Committee c{5, {{Hash256{}, vote_key(1).public_key(), 10}, {Hash256{}, vote_key(2).public_key(), 20}}};
  CHECK(!decode_committee(encode_committee(c)).has_value());  // not by power descending
  std::swap(c.members[0], c.members[1]);
  CHECK(decode_committee(encode_committee(c)) == c);
  c.members[1].power = 0;
  CHECK(!decode_committee(encode_committee(c)).has_value());
  KeyOwner k{address_of(vote_key(1).public_key())};
  CHECK(decode_key_owner(encode_key_owner(k)) == k);
}

TEST_CASE("genesis: staking parameters and consensus keys from JSON; duplicates refused") {
  TestGenesis tg = make_test_genesis(2, 1000, 3);
  tg.genesis.params.epoch_length = 7;
  tg.genesis.params.evidence_slash_bps = 250;
  tg.genesis.accounts[0].bonded = 50;
  tg.genesis.accounts[0].consensus_key = vote_key(0).public_key();
  auto back = genesis_from_json(genesis_to_json(tg.genesis));
  REQUIRE_MESSAGE(back.ok(), back.status().text());
  CHECK(back->params == tg.genesis.params);
  CHECK(back->accounts[0].consensus_key == vote_key(0).public_key());
  CHECK(!back->accounts[1].consensus_key.has_value());
  tg.genesis.accounts[1].consensus_key = vote_key(0).public_key();
  CHECK(!genesis_changes(tg.genesis).ok());
  tg.genesis.accounts[1].consensus_key.reset();
  tg.genesis.params.downtime_window = 129;
  CHECK(!genesis_changes(tg.genesis).ok());
}
