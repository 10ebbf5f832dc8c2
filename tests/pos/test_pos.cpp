// Proof-of-Service rules (docs/proof-of-service.md): codec bounds and
// signatures, seed and assignment, probe schedule, settlement grades,
// contradicting reports, auditors' agreement records, and detection
// against 1-(1-x)^c.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <map>
#include <random>
#include <set>

#include "ledger/pos/agreement.hpp"
#include "ledger/pos/assign.hpp"
#include "ledger/pos/codec.hpp"
#include "ledger/pos/schedule.hpp"
#include "ledger/pos/settle.hpp"
#include "ledger/pos/storage_proof.hpp"

using namespace bc;
using namespace bc::pos;

namespace {

KeyPair key(int i) {
  std::array<std::uint8_t, 32> secret{};
  secret[0] = 7;
  secret[30] = static_cast<std::uint8_t>(i >> 8);
  secret[31] = static_cast<std::uint8_t>(i + 1);
  return *KeyPair::from_secret(secret);
}

Hash256 h(std::string_view s) { return sha256(as_bytes(s)); }

Offer make_offer(int owner, int provider, ServiceKind kind = ServiceKind::kGeneric) {
  Offer o;
  o.service_id = h("svc" + std::to_string(provider));
  o.provider = key(provider).public_key();
  o.kind = kind;
  o.probe_request = Bytes{'G', 'E', 'T'};
  o.expected_response_hash = h("200 OK");
  o.storage_root = h("root");
  o.storage_chunks = kind == ServiceKind::kStorage ? 4 : 0;
  o.delta_bps = 9500;
  o.max_latency_ms = 200;
  o.bond = 1'000'000;
  o.nonce = 1;
  sign_offer(o, key(owner));
  return o;
}

Hash256 secret_of(int auditor, std::uint64_t epoch) { return h("secret" + std::to_string(auditor) + "/" + std::to_string(epoch)); }

// A signed report whose probe i has outcomes[i].
Report make_report(int auditor, std::uint64_t epoch, const Offer& o, const std::vector<ProbeOutcome>& outcomes,
                   const PosParams& p) {
  Report r;
  r.epoch = epoch;
  r.offer_id = offer_id(o);
  r.secret = secret_of(auditor, epoch);
  auto times = probe_schedule(r.secret, epoch, r.offer_id, p.probes_per_auditor, p.epoch_ms);
  std::map<std::uint32_t, std::uint64_t> at;
  for (const ProbeTime& t : times) at[t.index] = t.at_ms;
  for (std::uint32_t i = 0; i < p.probes_per_auditor; ++i) {
    ProbeRecord rec;
    rec.index = i;
    rec.scheduled_ms = at[i];
    rec.outcome = outcomes[i];
    rec.attempts = outcomes[i] == ProbeOutcome::kTimeout ? 3 : 1;
    rec.response_hash = o.expected_response_hash;
    r.probes.push_back(rec);
  }
  sign_report(r, key(auditor));
  return r;
}

std::vector<ProbeOutcome> passes(std::uint32_t c, std::uint32_t failures = 0) {
  std::vector<ProbeOutcome> v(c, ProbeOutcome::kPass);
  for (std::uint32_t i = 0; i < failures; ++i) v[i] = ProbeOutcome::kTimeout;
  return v;
}

// Auditors 10..10+n, owner = the auditor key's account, stake 100 each.
std::vector<StakeEntry> stakes(int n) {
  std::vector<StakeEntry> out;
  for (int i = 0; i < n; ++i) out.push_back({key(10 + i).public_key(), account_address(key(10 + i).public_key()), 100});
  return out;
}

int index_of(const XOnlyPubKey& k) {
  for (int i = 10; i < 60; ++i)
    if (key(i).public_key() == k) return i;
  FAIL("unknown auditor");
  return -1;
}

// An epoch where `offer` is audited by its assigned auditors, each reporting
// with `failures_of(auditor)` timeouts.
SettleInput epoch_input(std::uint64_t epoch, const Offer& offer, const PosParams& p,
                        const std::function<std::uint32_t(int)>& failures_of) {
  SettleInput in;
  in.epoch = epoch;
  in.offers = {offer};
  in.assignments = assign_auditors(h("seed" + std::to_string(epoch)), in.offers, stakes(6), p.auditors_per_offer);
  for (const XOnlyPubKey& a : in.assignments[0].auditors) {
    const int i = index_of(a);
    in.probe_commitments[a] = probe_commitment(secret_of(i, epoch), a, epoch);
    in.reports.push_back(make_report(i, epoch, offer, passes(p.probes_per_auditor, failures_of(i)), p));
  }
  return in;
}

}  // namespace

TEST_CASE("offer and report round-trip, verify, and refuse tampering") {
  PosParams p;
  Offer o = make_offer(1, 2);
  CHECK(verify_offer(o).ok());
  auto back = decode(encode(o), PosLimits{});
  REQUIRE(back.ok());
  CHECK(std::get<Offer>(*back) == o);

  Report r = make_report(10, 5, o, passes(p.probes_per_auditor, 2), p);
  CHECK(verify_report(r).ok());
  auto rb = decode(encode(r), PosLimits{});
  REQUIRE(rb.ok());
  CHECK(std::get<Report>(*rb) == r);

  r.probes[3].outcome = ProbeOutcome::kWrong;
  CHECK(verify_report(r).code == Error::kBadSignature);
  o.bond += 1;
  CHECK(verify_offer(o).code == Error::kBadSignature);
}

TEST_CASE("decoder bounds: oversized lists, bad fields and garbage are refused with a reason") {
  PosParams p;
  Offer o = make_offer(1, 2);
  Report r = make_report(10, 5, o, passes(p.probes_per_auditor), p);
  PosLimits small;
  small.max_probes = 8;
  CHECK(decode(encode(r), small).status().code == Error::kOversized);
  small = PosLimits{};
  small.max_frame_bytes = 64;
  CHECK(decode(encode(r), small).status().code == Error::kOversized);

  Offer bad = o;
  bad.delta_bps = 20000;
  CHECK(decode(encode(bad), PosLimits{}).status().code == Error::kBadField);
  Offer storage = make_offer(1, 3, ServiceKind::kStorage);
  storage.storage_chunks = 0;
  CHECK(decode(encode(storage), PosLimits{}).status().code == Error::kBadField);

  CHECK(decode(Bytes(13, 0), PosLimits{}).status().code == Error::kMalformed);  // not whole words
  CHECK(decode(Bytes(40, 0xab), PosLimits{}).status().code == Error::kOversized);  // huge segment table
  CHECK(decode(Bytes{}, PosLimits{}).status().code == Error::kMalformed);
}

TEST_CASE("seed: order of reveals does not matter, each reveal changes it") {
  std::vector<std::pair<XOnlyPubKey, Hash256>> reveals = {{key(1).public_key(), h("a")}, {key(2).public_key(), h("b")}};
  auto reversed = reveals;
  std::swap(reversed[0], reversed[1]);
  CHECK(derive_seed(h("prev"), 4, reveals) == derive_seed(h("prev"), 4, reversed));
  auto withheld = reveals;
  withheld.pop_back();
  CHECK(derive_seed(h("prev"), 4, reveals) != derive_seed(h("prev"), 4, withheld));
  CHECK(derive_seed(h("prev"), 4, reveals) != derive_seed(h("prev"), 5, reveals));
  CHECK(seed_commitment(h("a"), key(1).public_key(), 3) != seed_commitment(h("a"), key(2).public_key(), 3));
}

TEST_CASE("assignment: k distinct auditors, owner and provider excluded, deterministic, stake-weighted") {
  auto table = stakes(6);
  Offer o = make_offer(/*owner=*/10, /*provider=*/11);  // auditors 10 and 11 must never be drawn
  for (int s = 0; s < 200; ++s) {
    auto a = assign_auditors(h("seed" + std::to_string(s)), {o}, table, 3);
    REQUIRE(a.size() == 1);
    REQUIRE(a[0].auditors.size() == 3);
    std::set<XOnlyPubKey> distinct(a[0].auditors.begin(), a[0].auditors.end());
    CHECK(distinct.size() == 3);
    CHECK(!distinct.count(key(10).public_key()));
    CHECK(!distinct.count(key(11).public_key()));
  }
  auto shuffled = table;
  std::reverse(shuffled.begin(), shuffled.end());
  CHECK(assign_auditors(h("x"), {o}, table, 3)[0].auditors == assign_auditors(h("x"), {o}, shuffled, 3)[0].auditors);

  // Too few eligible: everyone eligible, no more.
  CHECK(assign_auditors(h("x"), {o}, stakes(4), 3)[0].auditors.size() == 2);

  // Eligible: auditors 12, 13, 14 (100 each) and 15 (1600): 15's first-seat share is 1600/1900.
  table[5].stake = 1600;
  int first = 0;
  const int n = 4000;
  for (int s = 0; s < n; ++s)
    first += assign_auditors(h("w" + std::to_string(s)), {o}, table, 1)[0].auditors[0] == table[5].auditor;
  CHECK(std::abs(first / double(n) - 1600.0 / 1900) < 0.03);
}

TEST_CASE("probe schedule: secret-bound times, commitment and schedule checked") {
  PosParams p;
  Offer o = make_offer(1, 2);
  auto s1 = probe_schedule(h("s"), 3, offer_id(o), 16, p.epoch_ms);
  CHECK(s1 == probe_schedule(h("s"), 3, offer_id(o), 16, p.epoch_ms));
  CHECK(s1 != probe_schedule(h("t"), 3, offer_id(o), 16, p.epoch_ms));
  for (std::size_t i = 0; i < s1.size(); ++i) {
    CHECK(s1[i].at_ms < p.epoch_ms);
    if (i) CHECK(s1[i - 1].at_ms <= s1[i].at_ms);
  }
  Report r = make_report(10, 3, o, passes(16), p);
  const Hash256 c = probe_commitment(r.secret, r.auditor, 3);
  CHECK(check_schedule(r, c, p).ok());
  CHECK(check_schedule(r, probe_commitment(h("other"), r.auditor, 3), p).code == Error::kBadCommitment);
  Report moved = r;
  moved.probes[4].scheduled_ms += 1;  // a probe at a time of the auditor's choosing
  CHECK(check_schedule(moved, c, p).code == Error::kBadSchedule);
  Report retried = r;
  retried.probes[0].attempts = 4;
  CHECK(check_schedule(retried, c, p).code == Error::kBadSchedule);
  Report short_report = r;
  short_report.probes.pop_back();
  CHECK(check_schedule(short_report, c, p).code == Error::kBadSchedule);
}

TEST_CASE("settlement grades: ok, occasional, unstable with proportional slash, unaudited") {
  PosParams p;
  Offer o = make_offer(1, 2);
  auto ok = settle_epoch(epoch_input(1, o, p, [](int) { return 0u; }), p);
  REQUIRE(ok.settlements.size() == 1);
  CHECK(ok.settlements[0].grade == Grade::kOk);
  CHECK(ok.settlements[0].pay_scale_bps == kBps);
  CHECK(ok.settlements[0].agreeing.size() == 3);

  // One miss in 16 from every auditor: score 9375, R = 9921 >= delta 9500: a warning.
  auto occ = settle_epoch(epoch_input(1, o, p, [](int) { return 1u; }), p);
  CHECK(occ.settlements[0].grade == Grade::kOccasional);
  CHECK(*occ.settlements[0].score_bps == 9375);
  CHECK(occ.settlements[0].reputation_bps == 9921);
  CHECK(occ.settlements[0].pay_scale_bps == 9375);
  CHECK(occ.settlements[0].slash == 0);

  // Median of {0, 5, 10} failures is 5: score 6875. From R_prev 9000:
  // R = (8750*9000 + 1250*6875)/10000 = 8734; slash = 1e6 * (9500-8734) * 1000 / 1e8 = 7660.
  auto in = epoch_input(2, o, p, [](int i) { return std::uint32_t(i % 3 == 0 ? 0 : i % 3 == 1 ? 5 : 10); });
  std::map<int, std::uint32_t> failures;
  for (const Report& r : in.reports) failures[index_of(r.auditor)] = 16 - auditor_score(r) * 16 / kBps;
  std::vector<std::uint32_t> f;
  for (auto& [i, n] : failures) f.push_back(n);
  std::sort(f.begin(), f.end());
  const std::uint32_t median_score = (16 - f[1]) * kBps / 16;
  in.reputation_bps[offer_id(o)] = 9000;
  auto un = settle_epoch(in, p);
  CHECK(un.settlements[0].grade == Grade::kUnstable);
  CHECK(*un.settlements[0].score_bps == median_score);
  const std::uint32_t rep = (8750u * 9000 + 1250u * median_score) / kBps;
  CHECK(un.settlements[0].reputation_bps == rep);
  CHECK(un.settlements[0].slash == std::uint64_t(1'000'000) * (9500 - rep) * 1000 / 100'000'000);
  CHECK(un.settlements[0].pay_scale_bps == 0);

  // Only one report: unaudited, nothing paid or slashed, reputation kept.
  auto few = epoch_input(1, o, p, [](int) { return 0u; });
  few.reports.resize(1);
  auto ua = settle_epoch(few, p);
  CHECK(ua.settlements[0].grade == Grade::kUnaudited);
  CHECK(ua.settlements[0].slash == 0);
  CHECK(ua.settlements[0].pay_scale_bps == 0);
}

TEST_CASE("settlement refuses bad reports with a counted reason") {
  PosParams p;
  Offer o = make_offer(1, 2);
  auto in = epoch_input(1, o, p, [](int) { return 0u; });
  const Report good = in.reports[0];
  in.reports.push_back(good);  // replay
  Report wrong_epoch = make_report(index_of(good.auditor), 9, o, passes(16), p);
  in.reports.push_back(wrong_epoch);
  int outsider = 10;
  while (std::count(in.assignments[0].auditors.begin(), in.assignments[0].auditors.end(), key(outsider).public_key()))
    ++outsider;
  in.reports.push_back(make_report(outsider, 1, o, passes(16), p));
  Report forged = good;
  forged.probes[0].outcome = ProbeOutcome::kTimeout;  // signature no longer matches
  in.reports.push_back(forged);
  auto res = settle_epoch(in, p);
  std::multiset<Error> reasons;
  for (const Rejected& r : res.rejected) reasons.insert(r.reason);
  CHECK(reasons.count(Error::kDuplicate) == 1);
  CHECK(reasons.count(Error::kWrongEpoch) == 1);
  CHECK(reasons.count(Error::kNotAssigned) == 1);
  CHECK(reasons.count(Error::kBadSignature) == 1);
  CHECK(res.settlements[0].grade == Grade::kOk);
}

TEST_CASE("contradicting signed reports are evidence and do not count") {
  PosParams p;
  Offer o = make_offer(1, 2);
  auto in = epoch_input(1, o, p, [](int) { return 0u; });
  const int liar = index_of(in.reports[0].auditor);
  Report other = make_report(liar, 1, o, passes(16, 16), p);
  in.reports.push_back(other);
  auto res = settle_epoch(in, p);
  REQUIRE(res.evidence.size() == 1);
  CHECK(find_contradiction(res.evidence[0].a, res.evidence[0].b).ok());
  CHECK(res.settlements[0].grade == Grade::kOk);
  CHECK(res.settlements[0].agreeing.size() == 2);  // the liar earns nothing
  CHECK(find_contradiction(in.reports[0], in.reports[0]).status().code == Error::kBadEvidence);
  CHECK(find_contradiction(in.reports[0], in.reports[1]).status().code == Error::kBadEvidence);
}

TEST_CASE("malicious: a provider-signed wrong storage answer slashes the whole bond") {
  PosParams p;
  // An offer over three shards; the provider answers chunk 1's challenge with a changed leaf.
  std::vector<Bytes> shards = {Bytes(3000, 1), Bytes(5000, 2), Bytes(100, 3)};
  std::vector<Hash256> roots;
  for (const Bytes& s : shards) roots.push_back(merkle::data_root(s, kStorageLeafSize));
  Offer o = make_offer(1, 2, ServiceKind::kStorage);
  o.storage_root = merkle::list_root(roots);
  o.storage_chunks = roots.size();
  sign_offer(o, key(1));
  StorageEvidence e;
  e.offer_id = offer_id(o);
  e.chunk = 1;
  e.chunk_path = merkle::list_path(roots, 1);
  e.answer.shard = roots[1];
  e.answer.seed = h("challenge");
  e.answer.proof = merkle::make_proof(shards[1], merkle::challenge_leaf(e.answer.seed, roots[1], 5000, kStorageLeafSize),
                                      kStorageLeafSize);
  e.answer.proof.leaf[0] ^= 1;
  sign_storage_answer(e.answer, key(2));

  auto in = epoch_input(1, o, p, [](int) { return 0u; });
  Report& r = in.reports[0];
  r.probes[0].outcome = ProbeOutcome::kWrong;
  r.evidence.push_back(e);
  sign_report(r, key(index_of(r.auditor)));
  auto res = settle_epoch(in, p);
  CHECK(res.settlements[0].grade == Grade::kMalicious);
  CHECK(res.settlements[0].slash == o.bond);
  CHECK(res.settlements[0].reason.find("root mismatch") != std::string::npos);
  // Not signed by the provider, it proves nothing: an auditor cannot frame it.
  r.evidence[0].answer.provider_signature = key(3).sign(storage_answer_digest(e.answer));
  sign_report(r, key(index_of(r.auditor)));
  CHECK(settle_epoch(in, p).settlements[0].grade != Grade::kMalicious);
}

TEST_CASE("detection matches 1-(1-x)^c per auditor and 3p^2-2p^3 for the median of 3") {
  PosParams p;
  const std::uint32_t c = p.probes_per_auditor;
  Offer o = make_offer(1, 2);
  std::mt19937_64 rng(20261205);  // fixed: the run is reproducible
  for (double x : {0.01, 0.05, 0.10, 0.30}) {
    std::bernoulli_distribution fail(x);
    const int trials = 300;
    int auditor_detections = 0, auditor_trials = 0, settled_detections = 0;
    for (int t = 0; t < trials; ++t) {
      SettleInput in;
      in.epoch = static_cast<std::uint64_t>(t);
      in.offers = {o};
      in.assignments = assign_auditors(h("d" + std::to_string(t)), in.offers, stakes(6), 3);
      for (const XOnlyPubKey& a : in.assignments[0].auditors) {
        const int i = index_of(a);
        std::vector<ProbeOutcome> outcomes(c);
        for (auto& out : outcomes) out = fail(rng) ? ProbeOutcome::kTimeout : ProbeOutcome::kPass;
        in.probe_commitments[a] = probe_commitment(secret_of(i, in.epoch), a, in.epoch);
        in.reports.push_back(make_report(i, in.epoch, o, outcomes, p));
        auditor_detections += auditor_score(in.reports.back()) < kBps;
        ++auditor_trials;
      }
      auto res = settle_epoch(in, p);
      settled_detections += *res.settlements[0].score_bps < kBps;
    }
    const double pc = 1 - std::pow(1 - x, c);
    const double median3 = 3 * pc * pc - 2 * pc * pc * pc;
    INFO("x=" << x << " per-auditor " << auditor_detections / double(auditor_trials) << " vs " << pc
              << "; settled " << settled_detections / double(trials) << " vs " << median3);
    CHECK(std::abs(auditor_detections / double(auditor_trials) - pc) < 0.05);
    CHECK(std::abs(settled_detections / double(trials) - median3) < 0.08);
  }
}

TEST_CASE("agreement record: fees withheld once more than half of at least four reports disagreed; the window forgets") {
  AgreementRecord r;
  for (int i = 0; i < 3; ++i) {
    r = record_report(r, true);
    CHECK(!withholds_fees(r));  // within the grace: one early outlier costs only its own fee
  }
  r = record_report(r, false);  // 3 of 4 disagreed
  CHECK(r.reports == 4);
  CHECK(disagreements(r) == 3);
  CHECK(withholds_fees(r));
  r = record_report(r, false);
  CHECK(withholds_fees(r));  // 3 of 5
  r = record_report(r, false);
  CHECK(!withholds_fees(r));  // 3 of 6: exactly half earns again
  for (int i = 0; i < kAgreementWindow; ++i) r = record_report(r, true);
  CHECK(r.reports == kAgreementWindow);
  CHECK(disagreements(r) == 16);
  for (int i = 0; i < 8; ++i) r = record_report(r, false);
  CHECK(withholds_fees(r) == false);  // 8 of 16: the oldest bits left the window
  CHECK(disagreements(r) == 8);
  CHECK(well_formed(r));
  CHECK(!well_formed(AgreementRecord{0b100, 2}));  // a bit older than the reports recorded
  CHECK(!well_formed(AgreementRecord{0, 17}));
  CHECK(well_formed(AgreementRecord{0xffff, 16}));
}
