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
