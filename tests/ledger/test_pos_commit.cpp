// Proof-of-Service commitments on the ledger (docs/proof-of-service.md,
// "The seed", "Ledger rules"): posCommit by epoch - 2, posReveal in epoch - 1,
// and the epoch seed every node derives at the first block of an epoch.
#include <doctest/doctest.h>

#include "pos_fixture.hpp"

using namespace bc;
using namespace bc::ledger;
using namespace bc::ledger::test;

TEST_CASE("pos commit: a validator's, for epoch + 2 or later, once") {
  PosChain c;  // the next block is in epoch 0
  REQUIRE(c.epoch_now() == 0);
  CHECK(c.submit(c.tx(PosChain::kOwner, c.commit(0, 2))).code == Error::kNotValidator);
  CHECK(c.submit(c.tx(0, c.commit(0, 1))).code == Error::kLate);
  CHECK(c.submit(c.tx(0, c.commit(0, 2 + kPosCommitLead + 1))).code == Error::kTooEarly);
  REQUIRE(c.submit(c.tx(0, c.commit(0, 2))).ok());
  const PosCommitment* e = c.ledger->state().pos_commit(pos_commit_id(PosChain::vote(0).public_key(), 2));
  REQUIRE(e != nullptr);
  CHECK(e->auditor == PosChain::vote(0).public_key());  // the consensus key, not the account key
  CHECK(e->epoch == 2);
  CHECK(e->probe_commitment == c.commit(0, 2).probe_commitment);
  CHECK(!e->reveal.has_value());
  CHECK(c.submit(c.tx(0, c.commit(0, 2))).code == Error::kDuplicate);
  REQUIRE(c.submit(c.tx(0, c.commit(0, 2 + kPosCommitLead))).ok());
  CHECK(check_supply(c.ledger->state()).empty());
}

TEST_CASE("pos reveal: in epoch - 1 only, against the seed commitment, once") {
  PosChain c;
  REQUIRE(c.submit(c.tx(0, c.commit(0, 2))).ok());
  CHECK(c.submit(c.tx(0, c.reveal(0, 2))).code == Error::kTooEarly);  // epoch 0: others could still choose theirs
  c.run_to_epoch(1);
  PosReveal wrong = c.reveal(0, 2);
  wrong.r = sha256(as_bytes("not the committed reveal"));
  CHECK(c.submit(c.tx(0, wrong)).code == Error::kBadCommitment);
  CHECK(c.submit(c.tx(1, c.reveal(1, 2))).code == Error::kBadCommitment);  // validator 1 never committed
  CHECK(c.submit(c.tx(PosChain::kOwner, c.reveal(0, 2))).code == Error::kNotValidator);
  REQUIRE(c.submit(c.tx(0, c.reveal(0, 2))).ok());
  CHECK(c.ledger->state().pos_commit(pos_commit_id(PosChain::vote(0).public_key(), 2))->reveal == c.reveal(0, 2).r);
  CHECK(c.submit(c.tx(0, c.reveal(0, 2))).code == Error::kDuplicate);
  c.run_to_epoch(2);
  REQUIRE(c.submit(c.tx(0, c.commit(0, 4))).ok());
  c.run_to_epoch(4);
  CHECK(c.submit(c.tx(0, c.reveal(0, 4))).code == Error::kLate);
}

TEST_CASE("pos seed: genesis hash for epoch 0, then chained with the reveals of the epoch's committee") {
  PosChain c;
  const State& s = c.ledger->state();
  REQUIRE(s.pos_seed(0) != nullptr);
  CHECK(s.pos_seed(0)->seed == c.ledger->genesis_hash());
  // Validators 0 and 2 commit for epoch 2; only 0 reveals (2 withholds).
  REQUIRE(c.include(std::vector<Tx>{c.tx(0, c.commit(0, 2)), c.tx(2, c.commit(2, 2))}).ok());
  c.run_to_epoch(1);
  CHECK(s.pos_seed(1) == nullptr);
  REQUIRE(c.submit(c.tx(0, c.reveal(0, 2))).ok());  // the first block of epoch 1
  REQUIRE(s.pos_seed(1) != nullptr);
  CHECK(s.pos_seed(1)->seed == pos::derive_seed(s.pos_seed(0)->seed, 1, {}));
  c.run_to_epoch(2);
  CHECK(s.pos_seed(2) == nullptr);  // written by the first block of epoch 2, not before
  REQUIRE(c.include(std::vector<Tx>{}).ok());
  REQUIRE(s.pos_seed(2) != nullptr);
  const std::vector<std::pair<XOnlyPubKey, Hash256>> reveals{{PosChain::vote(0).public_key(), c.reveal(0, 2).r}};
  CHECK(s.pos_seed(2)->seed == pos::derive_seed(s.pos_seed(1)->seed, 2, reveals));
  CHECK(s.pos_seed(2)->seed != pos::derive_seed(s.pos_seed(1)->seed, 2, {}));

  // The entries are stored: a restart rebuilds the same state.
  const Hash256 root = c.ledger->head().state_root;
  c.reopen();
  CHECK(c.ledger->computed_root() == root);
  CHECK(c.ledger->state().pos_seed(2)->seed == pos::derive_seed(c.ledger->state().pos_seed(1)->seed, 2, reveals));
  CHECK(c.ledger->state().pos_commit(pos_commit_id(PosChain::vote(2).public_key(), 2)) != nullptr);
}

TEST_CASE("pos commit and reveal round-trip through the wire") {
  PosChain c;
  for (TxPayload p : {TxPayload{c.commit(1, 7)}, TxPayload{c.reveal(1, 7)}}) {
    const Tx t = c.tx(1, p);
    auto back = decode_tx(encode_tx(t), c.ledger->params());
    REQUIRE_MESSAGE(back.ok(), back.status().text());
    CHECK(back->id == t.id);
    CHECK(back->body.payload.index() == t.body.payload.index());
  }
  const Tx t = c.tx(1, c.commit(1, 7));
  auto back = decode_tx(encode_tx(t), c.ledger->params());
  const auto& pc = std::get<PosCommit>(back->body.payload);
  CHECK(pc.epoch == 7);
  CHECK(pc.seed_commit == c.commit(1, 7).seed_commit);
  CHECK(std::string(payload_name(back->body.payload)) == "pos_commit");
  CHECK(std::string(payload_name(TxPayload{c.reveal(1, 7)})) == "pos_reveal");
}

TEST_CASE("pos commitment, seed and report entries round-trip and refuse bad bytes") {
  PosCommitment pc{PosChain::vote(0).public_key(), 9, sha256(as_bytes("p")), sha256(as_bytes("s")), std::nullopt};
  CHECK(decode_pos_commit(encode_pos_commit(pc)) == pc);
  pc.reveal = sha256(as_bytes("r"));
  Bytes enc = encode_pos_commit(pc);
  CHECK(decode_pos_commit(enc) == pc);
  enc[1 + 32 + 8 + 64] = 2;  // revealed flag
  CHECK(!decode_pos_commit(enc).has_value());
  enc.pop_back();
  CHECK(!decode_pos_commit(enc).has_value());

  const PosSeed seed{sha256(as_bytes("seed"))};
  CHECK(decode_pos_seed(encode_pos_seed(seed)) == seed);
  CHECK(!decode_pos_seed(encode_pos_commit(pc)).has_value());  // wrong kind

  PosReportRecord rec{sha256(as_bytes("d")), true, Bytes{1, 2, 3}};
  CHECK(decode_pos_report(encode_pos_report(rec)) == rec);
  Bytes bad = encode_pos_report(rec);
  bad.push_back(0);
  CHECK(!decode_pos_report(bad).has_value());

  // The draw excludes auditors by the owner's address, computed as the ledger's address_of.
  CHECK(pos::account_address(PosChain::vote(3).public_key()) == address_of(PosChain::vote(3).public_key()));
}
