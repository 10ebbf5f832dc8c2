#include "consensus/pos/probe_core.hpp"

#include <algorithm>

#include "ledger/pos/codec.hpp"
#include "layers/assert.hpp"

namespace bc::pos {

ProbeCore::ProbeCore(KeyPair key, PosParams params, std::uint64_t probe_timeout_ms)
    : key_(std::move(key)), params_(params), probe_timeout_ms_(probe_timeout_ms) {
  BC_ASSERT(params_.max_attempts >= 1 && probe_timeout_ms_ > 0);
}

void ProbeCore::start_epoch(std::uint64_t epoch, TimeMs epoch_start, const Hash256& secret, std::vector<Offer> offers) {
  BC_ASSERT(!active_);
  active_ = true;
  offers_ = std::move(offers);
  reports_.assign(offers_.size(), Report{});
  pending_.clear();
  for (std::size_t s = 0; s < offers_.size(); ++s) {
    Report& r = reports_[s];
    r.epoch = epoch;
    r.offer_id = offer_id(offers_[s]);
    r.secret = secret;
    r.probes.resize(params_.probes_per_auditor);
    for (const ProbeTime& t : probe_schedule(secret, epoch, r.offer_id, params_.probes_per_auditor, params_.epoch_ms)) {
      r.probes[t.index].index = t.index;
      r.probes[t.index].scheduled_ms = t.at_ms;
      r.probes[t.index].attempts = 0;  // set when graded
      pending_[next_id_++] = Pending{&offers_[s], s, t.index, 0, epoch_start + static_cast<TimeMs>(t.at_ms), false};
    }
  }
}

void ProbeCore::send(std::uint64_t id, Pending& p, TimeMs now) {
  ++p.attempt;
  p.in_flight = true;
  p.due = now + static_cast<TimeMs>(probe_timeout_ms_);
  ProbeSend s{id, reports_[p.slot].offer_id, p.offer->service_id, p.offer->probe_request, std::nullopt, p.attempt};
  if (p.offer->kind == ServiceKind::kStorage)
    s.storage = StorageProbe{challenge_of(p), p.offer->storage_root, p.offer->storage_chunks};
  sends_.push_back(std::move(s));
  ++counters_.sent;
}

StorageChallenge ProbeCore::challenge_of(const Pending& p) const {
  const Report& r = reports_[p.slot];
  return storage_challenge(r.secret, r.epoch, r.offer_id, p.index, p.offer->storage_chunks);
}

ProbeOutcome ProbeCore::grade(const Pending& p, const ProbeAnswer& a) const {
  const Offer& o = *p.offer;
  if (o.kind == ServiceKind::kStorage) return grade_storage(p, a);
  if (a.response_hash != o.expected_response_hash) return ProbeOutcome::kWrong;
  if (a.ttfb_ms > o.max_latency_ms || a.throughput_bps < o.min_throughput_bps) return ProbeOutcome::kSlow;
  return ProbeOutcome::kPass;
}

// Right only when the answer is about the challenged chunk of this offer
// (its path leads to storage_root), to the challenge's seed, and correct.
ProbeOutcome ProbeCore::grade_storage(const Pending& p, const ProbeAnswer& a) const {
  const Offer& o = *p.offer;
  if (!a.storage || !a.storage->answer) return ProbeOutcome::kWrong;
  const StorageChallenge c = challenge_of(p);
  const StorageAnswer& answer = *a.storage->answer;
  if (answer.seed != c.seed ||
      !merkle::list_path_leads_to(o.storage_root, o.storage_chunks, c.chunk, answer.shard, a.storage->chunk_path))
    return ProbeOutcome::kWrong;
  if (storage_answer_mismatch(answer) != nullptr) return ProbeOutcome::kWrong;
  if (a.ttfb_ms > o.max_latency_ms || a.throughput_bps < o.min_throughput_bps) return ProbeOutcome::kSlow;
  return ProbeOutcome::kPass;
}

void ProbeCore::keep_evidence(const Pending& p, const ProbeAnswer& a) {
  if (!a.storage || !a.storage->answer) return;
  Report& r = reports_[p.slot];
  if (r.evidence.size() >= kMaxReportEvidence) return;
  StorageEvidence e{r.offer_id, p.index, challenge_of(p).chunk, a.storage->chunk_path, *a.storage->answer};
  if (proves_storage_malice(*p.offer, e)) r.evidence.push_back(std::move(e));
}

void ProbeCore::record(const Pending& p, ProbeOutcome outcome, const ProbeAnswer& answer) {
  ProbeRecord& rec = reports_[p.slot].probes[p.index];
  rec.attempts = std::max<std::uint8_t>(p.attempt, 1);
  rec.outcome = outcome;
  rec.connect_ms = answer.connect_ms;
  rec.ttfb_ms = answer.ttfb_ms;
  rec.throughput_bps = answer.throughput_bps;
  rec.response_hash = answer.response_hash;
  (outcome == ProbeOutcome::kPass ? counters_.passed : counters_.failed)++;
}

void ProbeCore::retry(std::map<std::uint64_t, Pending>::iterator it, TimeMs now) {
  // Re-send unchanged under a new id: a late answer to the old attempt is ignored.
  Pending again = it->second;
  again.in_flight = false;
  again.due = now + static_cast<TimeMs>(params_.retry_gap_ms);
  pending_.erase(it);
  pending_.emplace(next_id_++, again);
  ++counters_.contained;
}

void ProbeCore::handle_answer(std::uint64_t probe_id, const ProbeAnswer& answer, TimeMs now, Outbox&) {
  auto it = pending_.find(probe_id);
  if (it == pending_.end() || !it->second.in_flight) return;  // late: already retried or graded
  const ProbeOutcome outcome = grade(it->second, answer);
  // A correct answer past the bound is treated like a timeout: network
  // jitter, not the provider, is the likely cause of one slow answer, and a
  // provider that is slow every time is still graded slow on the last attempt.
  if (outcome == ProbeOutcome::kSlow && it->second.attempt < params_.max_attempts) {
    retry(it, now);
    return;
  }
  record(it->second, outcome, answer);
  if (outcome == ProbeOutcome::kWrong) keep_evidence(it->second, answer);
  pending_.erase(it);
}

void ProbeCore::handle_no_answer(std::uint64_t probe_id, TimeMs now, Outbox&) {
  auto it = pending_.find(probe_id);
  if (it == pending_.end() || !it->second.in_flight) return;  // late: already retried or graded
  if (it->second.attempt < params_.max_attempts) {
    retry(it, now);
    return;
  }
  record(it->second, ProbeOutcome::kTimeout, ProbeAnswer{});
  pending_.erase(it);
}

void ProbeCore::on_tick(TimeMs now, Outbox&) {
  std::vector<std::uint64_t> retries;  // re-sent after the loop: retry() inserts new ids
  for (auto it = pending_.begin(); it != pending_.end();) {
    Pending& p = it->second;
    if (p.due > now) {
      ++it;
    } else if (!p.in_flight) {
      send(it->first, p, now);
      ++it;
    } else if (p.attempt < params_.max_attempts) {
      retries.push_back(it->first);
      ++it;
    } else {
      record(p, ProbeOutcome::kTimeout, ProbeAnswer{});
      it = pending_.erase(it);
    }
  }
  for (std::uint64_t id : retries) retry(pending_.find(id), now);
}

TimeMs ProbeCore::next_wakeup() const {
  TimeMs next = kNever;
  for (const auto& [id, p] : pending_) next = std::min(next, p.due);
  return next;
}

std::optional<ProbeSend> ProbeCore::poll_send() {
  if (sends_.empty()) return std::nullopt;
  ProbeSend s = std::move(sends_.front());
  sends_.pop_front();
  return s;
}

std::vector<Report> ProbeCore::finish_epoch() {
  BC_ASSERT(active_);
  for (auto& [id, p] : pending_) record(p, ProbeOutcome::kTimeout, ProbeAnswer{});
  pending_.clear();
  sends_.clear();
  active_ = false;
  std::vector<Report> out = std::move(reports_);
  reports_.clear();
  for (Report& r : out) sign_report(r, key_);
  return out;
}

}  // namespace bc::pos
