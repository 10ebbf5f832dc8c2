// The auditor's probe core: probes leave at their secret times, a timeout or
// a correct but slow answer is re-sent unchanged up to max_attempts, answers are graded against the
// offer, and the signed reports pass the settlement's schedule check.
#include <doctest/doctest.h>

#include <algorithm>
#include <map>

#include "ledger/pos/codec.hpp"
#include "consensus/pos/probe_core.hpp"
#include "ledger/pos/schedule.hpp"
#include "ledger/pos/settle.hpp"

using namespace bc;
using namespace bc::pos;

namespace {

KeyPair key(int i) {
  std::array<std::uint8_t, 32> secret{};
  secret[0] = 9;
  secret[31] = static_cast<std::uint8_t>(i + 1);
  return *KeyPair::from_secret(secret);
}

Offer offer() {
  Offer o;
  o.service_id = sha256(as_bytes("svc"));
  o.provider = key(2).public_key();
  o.probe_request = Bytes{'G', 'E', 'T'};
  o.expected_response_hash = sha256(as_bytes("200 OK"));
  o.max_latency_ms = 100;
  o.min_throughput_bps = 1000;
  o.bond = 1000;
  sign_offer(o, key(1));
  return o;
}

// Runs the epoch, answering each send with answer(send) (nullopt: no answer).
template <typename Answer>
std::vector<Report> run(ProbeCore& core, const PosParams& p, TimeMs start, Answer answer) {
  Outbox out;
  for (TimeMs now = start; now < start + static_cast<TimeMs>(p.epoch_ms);) {
    core.on_tick(now, out);
    while (auto s = core.poll_send()) {
      if (auto a = answer(*s, now)) core.handle_answer(s->probe_id, *a, now, out);
    }
    const TimeMs next = core.next_wakeup();
    if (next >= kNever) break;
    now = std::max(now + 1, next);
  }
  return core.finish_epoch();
}

ProbeAnswer good(const Offer& o) { return ProbeAnswer{5, 20, 5000, o.expected_response_hash}; }

}  // namespace

TEST_CASE("probe core: sends at the secret times, grades answers, reports pass the schedule check") {
  PosParams p;
  p.epoch_ms = 600'000;
  p.max_attempts = 1;  // grade the slow answer at once (re-asking it has its own case)
  const Offer o = offer();
  const Hash256 secret = sha256(as_bytes("probe secret"));
  ProbeCore core(key(3), p, 5000);
  core.start_epoch(7, 1'000'000, secret, {o});
  std::vector<TimeMs> sent_at;
  int n = 0;
  auto reports = run(core, p, 1'000'000, [&](const ProbeSend& s, TimeMs now) -> std::optional<ProbeAnswer> {
    CHECK(s.request == o.probe_request);  // the offer's request, nothing marking an audit
    CHECK(s.service_id == o.service_id);
    sent_at.push_back(now);
    ProbeAnswer a = good(o);
    if (n == 2) a.ttfb_ms = 500;                      // slow
    if (n == 3) a.response_hash = sha256(as_bytes("x"));  // wrong
    ++n;
    return a;
  });
  REQUIRE(reports.size() == 1);
  const Report& r = reports[0];
  CHECK(verify_report(r).ok());
  CHECK(check_schedule(r, probe_commitment(secret, key(3).public_key(), 7), p).ok());
  auto schedule = probe_schedule(secret, 7, offer_id(o), p.probes_per_auditor, p.epoch_ms);
  REQUIRE(sent_at.size() == schedule.size());
  for (std::size_t i = 0; i < schedule.size(); ++i) CHECK(sent_at[i] == 1'000'000 + TimeMs(schedule[i].at_ms));
  CHECK(r.probes[schedule[2].index].outcome == ProbeOutcome::kSlow);
  CHECK(r.probes[schedule[3].index].outcome == ProbeOutcome::kWrong);
  CHECK(auditor_score(r) == (p.probes_per_auditor - 2) * kBps / p.probes_per_auditor);
  CHECK(core.counters().sent == p.probes_per_auditor);
}

TEST_CASE("probe core: a timeout is re-sent unchanged, at most 3 attempts, then fails") {
  PosParams p;
  p.epoch_ms = 600'000;
  p.probes_per_auditor = 4;
  const Offer o = offer();
  ProbeCore core(key(3), p, 5000);
  core.start_epoch(1, 0, sha256(as_bytes("s")), {o});
  int sends = 0;
  auto reports = run(core, p, 0, [&](const ProbeSend& s, TimeMs) -> std::optional<ProbeAnswer> {
    ++sends;
    // The first probe never answers; the second answers on its second attempt.
    if (sends <= 3) return std::nullopt;
    if (sends == 4) return std::nullopt;
    return good(o);
  });
  const Report& r = reports[0];
  auto schedule = probe_schedule(sha256(as_bytes("s")), 1, offer_id(o), 4, p.epoch_ms);
  const ProbeRecord& first = r.probes[schedule[0].index];
  CHECK(first.outcome == ProbeOutcome::kTimeout);
  CHECK(first.attempts == 3);
  const ProbeRecord& second = r.probes[schedule[1].index];
  CHECK(second.outcome == ProbeOutcome::kPass);
  CHECK(second.attempts == 2);
  CHECK(sends == 3 + 2 + 1 + 1);
  CHECK(core.counters().contained == 3);  // two re-sends of the first, one of the second
  CHECK(check_schedule(r, probe_commitment(sha256(as_bytes("s")), key(3).public_key(), 1), p).ok());
}

TEST_CASE("probe core: an attempt that ends unanswered at once is re-sent after the retry gap, not the timeout") {
  PosParams p;
  p.epoch_ms = 600'000;
  p.probes_per_auditor = 1;
  const Offer o = offer();
  ProbeCore core(key(3), p, 5000);
  const Hash256 secret = sha256(as_bytes("s"));
  core.start_epoch(1, 0, secret, {o});
  const TimeMs at = TimeMs(probe_schedule(secret, 1, offer_id(o), 1, p.epoch_ms)[0].at_ms);
  Outbox out;
  core.on_tick(at, out);
  auto first = core.poll_send();
  REQUIRE(first.has_value());
  core.handle_no_answer(first->probe_id, at + 3, out);  // refused: the flow closed with nothing read
  CHECK(core.next_wakeup() == at + 3 + TimeMs(p.retry_gap_ms));
  core.on_tick(at + 3 + TimeMs(p.retry_gap_ms), out);
  auto second = core.poll_send();
  REQUIRE(second.has_value());
  CHECK(second->attempt == 2);
  CHECK(second->request == first->request);
  core.handle_no_answer(first->probe_id, at + 2500, out);  // the old attempt again: ignored
  core.handle_answer(second->probe_id, good(o), at + 2600, out);
  const auto reports = core.finish_epoch();
  REQUIRE(reports.size() == 1);
  CHECK(reports[0].probes[0].outcome == ProbeOutcome::kPass);
  CHECK(reports[0].probes[0].attempts == 2);
  CHECK(core.counters().contained == 1);
}

TEST_CASE("probe core: an attempt unanswered on the last try is graded timed out at once") {
  PosParams p;
  p.epoch_ms = 600'000;
  p.probes_per_auditor = 1;
  p.max_attempts = 1;
  const Offer o = offer();
  ProbeCore core(key(3), p, 5000);
  const Hash256 secret = sha256(as_bytes("s"));
  core.start_epoch(1, 0, secret, {o});
  Outbox out;
  core.on_tick(TimeMs(probe_schedule(secret, 1, offer_id(o), 1, p.epoch_ms)[0].at_ms), out);
  auto s = core.poll_send();
  REQUIRE(s.has_value());
  core.handle_no_answer(s->probe_id, 0, out);
  CHECK(core.next_wakeup() >= kNever);  // nothing left to send or wait for
  CHECK(core.counters().failed == 1);
  CHECK(core.finish_epoch()[0].probes[0].outcome == ProbeOutcome::kTimeout);
}

TEST_CASE("probe core: a correct answer past the latency bound is asked again like a timeout") {
  PosParams p;
  p.epoch_ms = 600'000;
  p.probes_per_auditor = 3;
  const Offer o = offer();
  const Hash256 secret = sha256(as_bytes("late"));
  ProbeCore core(key(3), p, 5000);
  core.start_epoch(1, 0, secret, {o});
  int sends = 0;
  std::vector<std::pair<Bytes, std::uint8_t>> seen;
  auto reports = run(core, p, 0, [&](const ProbeSend& s, TimeMs) -> std::optional<ProbeAnswer> {
    ++sends;
    seen.emplace_back(s.request, s.attempt);
    ProbeAnswer a = good(o);
    // Probe 1: slow once, then in time. Probe 2: slow on all three attempts. Probe 3: in time.
    if (sends == 1 || (sends >= 3 && sends <= 5)) a.ttfb_ms = o.max_latency_ms + 1;
    return a;
  });
  const Report& r = reports[0];
  auto schedule = probe_schedule(secret, 1, offer_id(o), 3, p.epoch_ms);
  const ProbeRecord& first = r.probes[schedule[0].index];
  CHECK(first.outcome == ProbeOutcome::kPass);
  CHECK(first.attempts == 2);
  const ProbeRecord& second = r.probes[schedule[1].index];
  CHECK(second.outcome == ProbeOutcome::kSlow);  // slow every time: the provider, not the network
  CHECK(second.attempts == 3);
  CHECK(second.ttfb_ms == o.max_latency_ms + 1);
  const ProbeRecord& third = r.probes[schedule[2].index];
  CHECK(third.outcome == ProbeOutcome::kPass);
  CHECK(third.attempts == 1);
  CHECK(sends == 2 + 3 + 1);
  for (const auto& [request, attempt] : seen) CHECK(request == o.probe_request);  // unchanged
  CHECK(core.counters().contained == 3);
  CHECK(core.counters().passed == 2);
  CHECK(core.counters().failed == 1);
  CHECK(check_schedule(r, probe_commitment(secret, key(3).public_key(), 1), p).ok());
}

TEST_CASE("probe core: a wrong answer is not asked again") {
  PosParams p;
  p.epoch_ms = 600'000;
  p.probes_per_auditor = 2;
  const Offer o = offer();
  ProbeCore core(key(3), p, 5000);
  core.start_epoch(1, 0, sha256(as_bytes("w")), {o});
  int sends = 0;
  auto reports = run(core, p, 0, [&](const ProbeSend&, TimeMs) -> std::optional<ProbeAnswer> {
    ProbeAnswer a = good(o);
    if (++sends == 1) a.response_hash = sha256(as_bytes("wrong"));
    return a;
  });
  CHECK(sends == 2);
  CHECK(core.counters().contained == 0);
  CHECK(auditor_score(reports[0]) == kBps / 2);
}

namespace {

// A storage provider committing four shards to its offer; it has lost shard
// 2 and answers everything else honestly, or, when `lie`, signs a changed
// leaf for shard 1.
struct StorageProvider {
  std::vector<Bytes> shards = {Bytes(4000, 1), Bytes(2500, 2), Bytes(1024, 3), Bytes(9000, 4)};
  std::vector<Hash256> roots;
  KeyPair key = ::key(2);
  Offer offer;
  bool lie = false;

  StorageProvider() {
    for (const Bytes& s : shards) roots.push_back(merkle::data_root(s, kStorageLeafSize));
    offer.kind = ServiceKind::kStorage;
    offer.service_id = sha256(as_bytes("storage"));
    offer.provider = key.public_key();
    offer.storage_root = merkle::list_root(roots);
    offer.storage_chunks = roots.size();
    offer.max_latency_ms = 100;
    offer.bond = 1000;
    sign_offer(offer, ::key(1));
  }

  ProbeAnswer answer(const ProbeSend& s) const {
    REQUIRE(s.storage.has_value());
    CHECK(s.request.empty());
    CHECK(s.storage->storage_root == offer.storage_root);
    const std::uint64_t j = s.storage->challenge.chunk;
    ProbeAnswer a{5, 20, 5000, {}, StorageReply{merkle::list_path(roots, j), std::nullopt}};
    if (j == 2) return a;  // "not found"
    StorageAnswer sa{roots[j], s.storage->challenge.seed, {}, {}};
    sa.proof = merkle::make_proof(shards[j], merkle::challenge_leaf(sa.seed, sa.shard, shards[j].size(), kStorageLeafSize),
                                  kStorageLeafSize);
    if (lie && j == 1) sa.proof.leaf[0] ^= 1;
    sign_storage_answer(sa, key);
    a.storage->answer = sa;
    return a;
  }
};

}  // namespace

TEST_CASE("probe core: storage probes challenge committed chunks; a lost chunk fails its probes") {
  PosParams p;
  p.epoch_ms = 600'000;
  p.probes_per_auditor = 64;
  StorageProvider sp;
  ProbeCore core(key(3), p, 5000);
  core.start_epoch(7, 0, sha256(as_bytes("secret")), {sp.offer});
  auto reports = run(core, p, 0, [&](const ProbeSend& s, TimeMs) -> std::optional<ProbeAnswer> { return sp.answer(s); });
  REQUIRE(reports.size() == 1);
  const Report& r = reports[0];
  CHECK(r.evidence.empty());  // a missing shard is a failure, not malice
  int lost = 0;
  for (const ProbeRecord& rec : r.probes) {
    const StorageChallenge c = storage_challenge(r.secret, r.epoch, r.offer_id, rec.index, sp.offer.storage_chunks);
    CAPTURE(rec.index);
    CHECK(rec.outcome == (c.chunk == 2 ? ProbeOutcome::kWrong : ProbeOutcome::kPass));
    lost += c.chunk == 2;
  }
  CHECK(lost > 5);  // about a quarter of 64
  CHECK(lost < 30);
}

TEST_CASE("probe core: a signed wrong storage answer becomes evidence that settles as malicious") {
  PosParams p;
  p.epoch_ms = 600'000;
  StorageProvider sp;
  sp.lie = true;
  ProbeCore core(key(3), p, 5000);
  core.start_epoch(7, 0, sha256(as_bytes("secret")), {sp.offer});
  auto reports = run(core, p, 0, [&](const ProbeSend& s, TimeMs) -> std::optional<ProbeAnswer> {
    ProbeAnswer a = sp.answer(s);
    if (s.storage->challenge.chunk == 3) a.storage->chunk_path.clear();  // a path that is not the offer's: wrong, no evidence
    return a;
  });
  REQUIRE(reports.size() == 1);
  const Report& r = reports[0];
  REQUIRE(r.evidence.size() == 1);  // one convicts; more would not fit a transaction
  for (const StorageEvidence& e : r.evidence) {
    CHECK(e.chunk == 1);
    CHECK(r.probes[e.probe_index].outcome == ProbeOutcome::kWrong);
    CHECK(proves_storage_malice(sp.offer, e));
  }
  for (const ProbeRecord& rec : r.probes) {
    const std::uint64_t j = storage_challenge(r.secret, r.epoch, r.offer_id, rec.index, 4).chunk;
    CHECK((rec.outcome == ProbeOutcome::kPass) == (j == 0));
  }
  // Settled alone (min_reports 1), the report convicts the provider.
  p.min_reports = 1;
  SettleInput in;
  in.epoch = 7;
  in.offers = {sp.offer};
  in.assignments = {Assignment{offer_id(sp.offer), {key(3).public_key()}}};
  in.probe_commitments[key(3).public_key()] = probe_commitment(r.secret, key(3).public_key(), 7);
  in.reports = reports;
  const EpochResult res = settle_epoch(in, p);
  REQUIRE(res.settlements.size() == 1);
  CHECK(res.settlements[0].grade == Grade::kMalicious);
  CHECK(res.settlements[0].slash == sp.offer.bond);
}
