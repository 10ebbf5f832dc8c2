// posReport on the ledger (docs/proof-of-service.md, "Ledger rules"): one
// test per reason a report is refused, the accepted paths, and the
// contradiction that burns the auditor's stake like a double vote.
#include <capnp/message.h>
#include <capnp/serialize.h>

#include <doctest/doctest.h>

#include "ledger/pos/settle.hpp"
#include "ledger/wire/ledger.capnp.h"
#include "pos_fixture.hpp"

using namespace bc;
using namespace bc::ledger;
using namespace bc::ledger::test;

namespace {

constexpr std::size_t kSender = 6;  // any account may carry a report and pay its fee

// Epoch 2 prepared (every validator committed and revealed); the next block is in epoch 2.
struct Epoch2 : PosChain {
  std::vector<std::size_t> assigned;
  std::size_t outsider = 0;  // the validator not drawn for the offer
  Epoch2() {
    prepare_epoch(2);
    assigned = drawn(2, offer);
    REQUIRE(assigned.size() == 3);  // k = 3 of the four validators: none is the owner or the provider
    for (std::size_t i = 0; i < kValidators; ++i)
      if (std::find(assigned.begin(), assigned.end(), i) == assigned.end()) outsider = i;
  }
  Status send(const pos::Report& r, std::size_t from = kSender) { return submit(tx(from, PosReport{r})); }
};

// A signed tx whose posReport carries `frame` as its pos frame.
Result<Tx> with_frame(const Chain& c, const Bytes& frame) {
  capnp::MallocMessageBuilder m;
  auto b = m.initRoot<wire::TxBody>();
  b.setChainId(c.ledger->params().chain_id);
  b.setSender(kj::arrayPtr(c.key(kSender).public_key().bytes.data(), 32));
  b.setFee(1);
  b.initPosReport().setReport(kj::arrayPtr(frame.data(), frame.size()));
  auto words = m.getRoot<capnp::AnyStruct>().asReader().canonicalize();
  const Bytes body(words.asBytes().begin(), words.asBytes().end());
  return decode_tx_parts(body, Signature{}, body.size() + 80, c.ledger->params());
}

}  // namespace

TEST_CASE("pos report: a malformed frame or an offer in its place is refused when decoded") {
  Epoch2 c;
  auto garbage = with_frame(c, Bytes(48, 0xab));
  CHECK(garbage.status().code == Error::kMalformed);
  CHECK(garbage.status().message.find("report frame") != std::string::npos);
  auto offer = with_frame(c, pos::encode(pos::Message{c.offer}));
  CHECK(offer.status().code == Error::kMalformed);
  auto good = with_frame(c, pos::encode(pos::Message{c.report(c.assigned[0], 2, c.offer)}));
  CHECK_MESSAGE(good.ok(), good.status().text());
}

TEST_CASE("pos report: 48 probes and the largest storage evidence fit one transaction") {
  Epoch2 c;
  pos::Report r = c.report(c.assigned[0], 2, c.offer);
  r.probes.resize(48);
  for (std::uint32_t i = 0; i < 48; ++i) r.probes[i] = pos::ProbeRecord{i, 1, 3, pos::ProbeOutcome::kWrong, 1, 2, 3, Hash256{}};
  pos::StorageEvidence e;
  e.offer_id = r.offer_id;
  e.chunk_path.resize(16);          // 65536 chunks
  e.answer.proof.leaf.resize(1024);  // a full leaf
  e.answer.proof.path.resize(12);    // of a 4 MiB shard
  r.evidence = {e};
  const Tx t = c.tx(kSender, PosReport{r});
  CHECK_MESSAGE(t.wire_size <= c.ledger->params().max_tx_bytes, t.wire_size);
}

TEST_CASE("pos report: accepted once from any sender, fits a tx, round-trips, committed by the audit root; a replay is a duplicate") {
  Epoch2 c;
  const pos::Report r = c.report(c.assigned[0], 2, c.offer, 2);
  const Tx t = c.tx(kSender, PosReport{r});
  CHECK(t.wire_size <= c.ledger->params().max_tx_bytes);
  auto back = decode_tx(encode_tx(t), c.ledger->params());
  REQUIRE_MESSAGE(back.ok(), back.status().text());
  CHECK(std::get<PosReport>(back->body.payload).report == r);
  CHECK(std::string(payload_name(back->body.payload)) == "pos_report");
  const Amount before = c.acct(kSender).balance;
  REQUIRE(c.include(t).ok());
  CHECK(c.acct(kSender).balance == before - 1);
  // The header commits to the report: its audit root is over the report's digest.
  auto block = decode_block(*c.ledger->block_at(c.ledger->head().height), c.ledger->params());
  REQUIRE(block.ok());
  CHECK(block->header.audit_root == merkle_root({pos::report_digest(r)}));
  CHECK(!block->header.audit_root.is_zero());
  const PosReportRecord* rec = c.ledger->state().pos_report(pos_report_id(2, pos::offer_id(c.offer), r.auditor));
  REQUIRE(rec != nullptr);
  CHECK(rec->digest == pos::report_digest(r));
  CHECK(!rec->contradicted);
  CHECK(c.send(r, 7).code == Error::kDuplicate);  // the same report again, by another sender
  CHECK(c.send(c.report(c.assigned[1], 2, c.offer), c.assigned[1]).ok());  // or by the auditor's own account
  CHECK(check_supply(c.ledger->state()).empty());
}

TEST_CASE("pos report: a forged signature is refused before any state") {
  Epoch2 c;
  pos::Report r = c.report(c.assigned[0], 2, c.offer);
  r.probes[0].outcome = pos::ProbeOutcome::kWrong;  // changed after signing
  const Tx t = c.tx(kSender, PosReport{r});
  CHECK(check_tx_context_free(t, c.ledger->params()).code == Error::kBadReport);
  CHECK(c.verdict(t).code == Error::kBadReport);
}

TEST_CASE("pos report: for epoch E and E-1 only") {
  Epoch2 c;
  CHECK(c.send(c.report(c.assigned[0], 3, c.offer)).code == Error::kTooEarly);
  c.run_to_epoch(3);
  CHECK(c.send(c.report(c.assigned[0], 2, c.offer)).ok());  // E-1: its window is still open
  c.run_to_epoch(4);
  const Status late = c.send(c.report(c.assigned[1], 2, c.offer));  // E-2
  CHECK(late.code == Error::kLate);
  CHECK(late.message.find("window closed") != std::string::npos);
}

TEST_CASE("pos report: the offer must have been active at the start of the report's epoch") {
  Epoch2 c;
  pos::Report r = c.report(c.assigned[0], 2, c.offer);
  r.offer_id = sha256(as_bytes("no such offer"));
  pos::sign_report(r, PosChain::vote(c.assigned[0]));
  CHECK(c.send(r).code == Error::kUnknownOffer);
  const pos::Offer late_offer = c.make_offer(2);  // registered in epoch 2: first audited in epoch 3
  REQUIRE(c.submit(c.tx(PosChain::kOwner, PosOffer{late_offer})).ok());
  CHECK(c.send(c.report(c.assigned[0], 2, late_offer)).code == Error::kUnknownOffer);
  // A withdrawal during the epoch leaves it audited for that epoch.
  REQUIRE(c.submit(c.tx(PosChain::kOwner, PosWithdraw{pos::offer_id(c.offer)})).ok());
  CHECK(c.send(c.report(c.assigned[0], 2, c.offer)).ok());
}

TEST_CASE("pos report: an auditor not drawn for the offer is refused") {
  Epoch2 c;
  const Status s = c.send(c.report(c.outsider, 2, c.offer));
  CHECK(s.code == Error::kNotAssigned);
  CHECK(s.message.find("not drawn") != std::string::npos);
}

TEST_CASE("pos draw: a committee member whose account owns the offer is never drawn for it") {
  PosChain c;
  std::vector<pos::StakeEntry> stakes;
  for (std::size_t i = 0; i <= PosChain::kOwner; ++i) stakes.push_back({PosChain::vote(i).public_key(), c.addr(i), 1000});
  stakes.back().stake = 1'000'000;  // the owner's account, with most of the stake
  for (int s = 0; s < 64; ++s) {
    auto a = pos::assign_auditors(sha256(as_bytes("seed " + std::to_string(s))), {c.offer}, stakes, 3);
    REQUIRE(a.at(0).auditors.size() == 3);
    CHECK(std::find(a[0].auditors.begin(), a[0].auditors.end(), PosChain::vote(PosChain::kOwner).public_key()) == a[0].auditors.end());
  }
}

TEST_CASE("pos report: a secret that does not match the commitment") {
  Epoch2 c;
  const std::size_t a = c.assigned[1];
  const Status s = c.send(c.report(a, 2, c.offer, 0, sha256(as_bytes("another secret"))));
  CHECK(s.code == Error::kBadCommitment);
}

TEST_CASE("pos report: a probe time shifted from the committed schedule") {
  Epoch2 c;
  const std::size_t a = c.assigned[1];
  pos::Report r = c.report(a, 2, c.offer);
  r.probes[5].scheduled_ms += 1;
  pos::sign_report(r, PosChain::vote(a));
  const Status s = c.send(r);
  CHECK(s.code == Error::kBadSchedule);
  CHECK(s.message.find("schedule") != std::string::npos);
  r = c.report(a, 2, c.offer);
  r.probes.pop_back();
  pos::sign_report(r, PosChain::vote(a));
  CHECK(c.send(r).code == Error::kBadSchedule);
}

TEST_CASE("pos report: contradicting reports burn the auditor's stake like a double vote, the supply holds") {
  Epoch2 c;
  const std::size_t a = c.assigned[0];
  const Address who = c.addr(a);
  // The auditor starts unbonding part of its stake during the epoch: that part is slashed too.
  REQUIRE(c.submit(c.tx(a, Unbond{400})).ok());
  const Amount bonded = c.acct(a).bonded;
  const Hash256 unbonding = escrow_id_of(who, c.nonce(a) - 1);
  REQUIRE(c.ledger->state().unbonding(unbonding) != nullptr);
  const pos::Report first = c.report(a, 2, c.offer, 0), second = c.report(a, 2, c.offer, 5);
  REQUIRE(c.send(first).ok());
  const Amount burned = c.ledger->state().supply().burned;
  REQUIRE(c.send(second).ok());  // included: it is the evidence
  const Amount bps = c.ledger->params().evidence_slash_bps;
  CHECK(c.acct(a).bonded == bonded - bonded * bps / 10000);
  CHECK(c.ledger->state().unbonding(unbonding)->amount == 400 - 400 * bps / 10000);
  CHECK(c.ledger->state().supply().burned == burned + bonded * bps / 10000 + 400 * bps / 10000);
  CHECK(c.ledger->state().validator(who)->status == Validator::Status::kBanned);
  const PosReportRecord* rec = c.ledger->state().pos_report(pos_report_id(2, pos::offer_id(c.offer), first.auditor));
  REQUIRE(rec != nullptr);
  CHECK(rec->contradicted);
  CHECK(rec->digest == pos::report_digest(first));
  CHECK(report_evidence_hash(pos::ReportEvidence{first, second}) == report_evidence_hash(pos::ReportEvidence{second, first}));
  CHECK_MESSAGE(check_supply(c.ledger->state()).empty(), check_supply(c.ledger->state()));
  // Punished once: a third version is refused.
  CHECK(c.send(c.report(a, 2, c.offer, 7)).code == Error::kDuplicate);
  // The ban keeps it out of the next committees.
  c.run_to_epoch(3);
  CHECK(find_member(*c.ledger->state().committee(3), PosChain::vote(a).public_key()) == nullptr);
  CHECK(check_supply(c.ledger->state()).empty());
}
