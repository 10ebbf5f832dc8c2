// The auditor on a node (consensus/pos: auditor_secrets, auditor_plan,
// probe_meter; docs/proof-of-service.md, "The auditor on a node"): the
// secrets, the commit/reveal/finish timing and the answer measurement, and
// a report made by the ProbeCore from the derived secret that the ledger
// accepts.
#include <doctest/doctest.h>

#include "../ledger/pos_fixture.hpp"
#include "consensus/pos/auditor_plan.hpp"
#include "consensus/pos/auditor_secrets.hpp"
#include "consensus/pos/probe_core.hpp"
#include "consensus/pos/probe_meter.hpp"
#include "ledger/pos/settle.hpp"

using namespace bc;
using namespace bc::pos;
using bc::ledger::test::PosChain;

TEST_CASE("auditor secrets: recomputable, distinct per epoch, chain, key and use, and they open their commitments") {
  const KeyPair k = KeyPair::from_secret(Bytes(32, 7)).value();
  const AuditorSecrets a = derive_auditor_secrets(k, "chain-a", 5);
  CHECK(a.probe_secret == derive_auditor_secrets(k, "chain-a", 5).probe_secret);  // a restart recomputes them
  CHECK(a.seed_reveal == derive_auditor_secrets(k, "chain-a", 5).seed_reveal);
  CHECK(a.probe_secret != a.seed_reveal);  // revealing r_e in e-1 says nothing of s_e
  CHECK(a.probe_secret != derive_auditor_secrets(k, "chain-a", 6).probe_secret);
  CHECK(a.probe_secret != derive_auditor_secrets(k, "chain-b", 5).probe_secret);
  CHECK(a.probe_secret != derive_auditor_secrets(KeyPair::from_secret(Bytes(32, 8)).value(), "chain-a", 5).probe_secret);
  const ledger::PosCommit c = commit_for(k, "chain-a", 5);
  CHECK(c.epoch == 5);
  CHECK(c.probe_commitment == probe_commitment(a.probe_secret, k.public_key(), 5));
  CHECK(c.seed_commit == seed_commitment(a.seed_reveal, k.public_key(), 5));
  CHECK(reveal_for(k, "chain-a", 5).r == a.seed_reveal);
}

TEST_CASE("plan_commitments: commit two epochs ahead, reveal in the epoch before, nothing twice or without a validator") {
  CommitFacts f;
  f.epoch_length = 10;
  f.next_height = 1;  // epoch 0
  CHECK(plan_commitments(f) == CommitPlan{});  // not a validator: nothing
  f.may_commit = true;
  CHECK(plan_commitments(f) == CommitPlan{{2, 3}, {}});
  f.committed = {2};
  f.pending_commits = {3};
  CHECK(plan_commitments(f) == CommitPlan{});  // 2 on chain, 3 pending; 2 cannot be revealed before epoch 1
  f.next_height = 11;  // epoch 1: reveal 2, commit 4
  f.pending_commits.clear();
  f.committed = {2, 3};
  CHECK(plan_commitments(f) == CommitPlan{{4}, {2}});
  f.pending_reveals = {2};
  CHECK(plan_commitments(f) == CommitPlan{{4}, {}});
  f.pending_reveals.clear();
  f.revealed = {2};
  CHECK(plan_commitments(f) == CommitPlan{{4}, {}});
  f.next_height = 21;  // epoch 2: 2's reveal window has closed, 3 is revealed now
  CHECK(plan_commitments(f) == CommitPlan{{4, 5}, {3}});
}

TEST_CASE("should_finish_epoch: after the next epoch begins, when idle or half an epoch later; reports until its end") {
  CHECK_FALSE(should_finish_epoch(2, 30, 10, true));  // epoch 2 is heights 21..30
  CHECK(should_finish_epoch(2, 31, 10, true));
  CHECK_FALSE(should_finish_epoch(2, 35, 10, false));
  CHECK(should_finish_epoch(2, 36, 10, false));
  CHECK(report_deadline(2, 10) == 40);  // the last block of epoch 3
}

TEST_CASE("ResponseMeter: the first line's hash, the timing, and bounds on a hostile answer") {
  CHECK(probe_wire_request(Bytes{'G', 'E', 'T'}) == Bytes{'G', 'E', 'T', '\r', '\n', '\r', '\n'});
  CHECK(probe_wire_request(Bytes{'P', '\n'}) == Bytes{'P', '\n'});
  ResponseMeter m(1000);
  CHECK_FALSE(m.answered());
  REQUIRE(m.on_bytes(as_bytes("HTTP/1.0 200 O"), 1040));
  REQUIRE(m.on_bytes(as_bytes("K\r"), 1041));
  REQUIRE(m.on_bytes(as_bytes("\nContent-Length: 2\r\n\r\nhi"), 1100));
  REQUIRE(m.answered());
  const ProbeAnswer a = m.answer(7);
  CHECK(a.response_hash == sha256(as_bytes("HTTP/1.0 200 OK")));  // the offer's --expect
  CHECK(a.connect_ms == 7);
  CHECK(a.ttfb_ms == 40);
  CHECK(a.throughput_bps == 40 * 1000 / 100);  // 40 bytes in the 100 ms from the request to the last byte

  ResponseMeter no_line(0);
  no_line.on_bytes(as_bytes("PONG"), 5);
  CHECK(no_line.answer(0).response_hash == sha256(as_bytes("PONG")));

  ResponseMeter hostile(0);  // one endless line: 8 KiB hashed, 1 MiB read, then it stops
  const Bytes chunk(64 * 1024, 'x');
  std::size_t chunks = 0;
  while (hostile.on_bytes(chunk, 10)) REQUIRE(++chunks < 100);
  CHECK(chunks == kMaxProbeResponseBytes / chunk.size() - 1);
  CHECK(hostile.answer(0).response_hash == sha256(Bytes(kMaxProbeLineBytes, 'x')));
  CHECK(hostile.answer(0).throughput_bps == kMaxProbeResponseBytes * 1000 / 10);
}

TEST_CASE("the node's duties on a real ledger: commitments, the draw read back, and a ProbeCore report the ledger accepts") {
  PosChain c;  // 4 validators, the offer registered in block 1; the next block is in epoch 0
  const std::string chain = c.ledger->params().chain_id;
  const std::uint64_t epoch = 2;
  const KeyPair v0 = PosChain::vote(0);
  // Validator 0's account sends the node key's commitment for epoch 2 in epoch 0.
  CommitFacts f = commit_facts(c.ledger->state(), v0.public_key(), c.addr(0), c.ledger->head().height + 1);
  REQUIRE(f.may_commit);
  CHECK_FALSE(commit_facts(c.ledger->state(), v0.public_key(), c.addr(1), 1).may_commit);  // another validator's account
  REQUIRE(plan_commitments(f).commit == std::vector<std::uint64_t>{2, 3});
  std::vector<ledger::Tx> txs;
  for (std::size_t i = 0; i < PosChain::kValidators; ++i) txs.push_back(c.tx(i, commit_for(PosChain::vote(i), chain, epoch)));
  REQUIRE(c.include(txs).ok());
  c.run_to_epoch(1);
  f = commit_facts(c.ledger->state(), v0.public_key(), c.addr(0), c.ledger->head().height + 1);
  CHECK(f.committed.count(epoch));
  REQUIRE(plan_commitments(f).reveal == std::vector<std::uint64_t>{epoch});
  txs.clear();
  for (std::size_t i = 0; i < PosChain::kValidators; ++i) txs.push_back(c.tx(i, reveal_for(PosChain::vote(i), chain, epoch)));
  REQUIRE(c.include(txs).ok());
  CHECK_FALSE(assigned_offers(c.ledger->state(), v0.public_key(), epoch).has_value());  // no seed yet
  c.run_to_epoch(epoch);
  REQUIRE(c.include(std::vector<ledger::Tx>{}).ok());  // the first block of epoch 2 writes its seed
  const std::size_t auditor = c.drawn(epoch, c.offer).front();
  const KeyPair key = PosChain::vote(auditor);
  const auto offers = assigned_offers(c.ledger->state(), key.public_key(), epoch);
  REQUIRE(offers.has_value());
  REQUIRE(offers->size() == 1);
  CHECK(offers->front() == c.offer);

  // The ProbeCore probes with the derived secret; every probe answered correctly and fast.
  ProbeCore core(key, c.params_pos(), 1000);
  core.start_epoch(epoch, 0, derive_auditor_secrets(key, chain, epoch).probe_secret, *offers);
  Outbox out;
  core.on_tick(static_cast<TimeMs>(c.params_pos().epoch_ms), out);
  ProbeAnswer ok;
  ok.ttfb_ms = 5;
  ok.response_hash = c.offer.expected_response_hash;
  while (auto send = core.poll_send()) core.handle_answer(send->probe_id, ok, static_cast<TimeMs>(c.params_pos().epoch_ms), out);
  auto reports = core.finish_epoch();
  REQUIRE(reports.size() == 1);
  CHECK(auditor_score(reports[0]) == kBps);
  REQUIRE(c.submit(c.tx(auditor, ledger::PosReport{reports[0]})).ok());  // the ledger checks secret, schedule, signature
  CHECK(c.ledger->state().pos_report(ledger::pos_report_id(epoch, offer_id(c.offer), key.public_key())) != nullptr);
}
