#include "ledger/pos/settle.hpp"

#include <algorithm>
#include <set>

#include "ledger/pos/codec.hpp"
#include "ledger/pos/schedule.hpp"
#include "ledger/pos/storage_proof.hpp"
#include "layers/assert.hpp"

namespace bc::pos {
namespace {

Status error(Error e, std::string detail) { return fail(make_error_code(e), std::move(detail)); }

struct OfferReports {
  const Offer* offer = nullptr;
  const Assignment* assignment = nullptr;
  std::map<XOnlyPubKey, const Report*> by_auditor;
  std::set<XOnlyPubKey> contradicted;
};

// Checks one report against the epoch; nullopt when it is acceptable.
std::optional<Error> check_report(const Report& r, const SettleInput& in, const PosParams& params,
                                  const OfferReports* slot) {
  if (r.epoch != in.epoch) return Error::kWrongEpoch;
  if (!slot) return Error::kUnknownOffer;
  const auto& auditors = slot->assignment->auditors;
  if (std::find(auditors.begin(), auditors.end(), r.auditor) == auditors.end()) return Error::kNotAssigned;
  if (!verify_report(r).ok()) return Error::kBadSignature;
  auto commitment = in.probe_commitments.find(r.auditor);
  if (commitment == in.probe_commitments.end()) return Error::kBadCommitment;
  Status s = check_schedule(r, commitment->second, params);
  if (!s.ok()) return static_cast<Error>(s.code.value());
  return std::nullopt;
}

void collect(const SettleInput& in, const PosParams& params, std::map<Hash256, OfferReports>& slots,
             EpochResult& out) {
  for (const Report& r : in.reports) {
    auto it = slots.find(r.offer_id);
    OfferReports* slot = it == slots.end() ? nullptr : &it->second;
    if (auto bad = check_report(r, in, params, slot)) {
      out.rejected.push_back({r.offer_id, r.auditor, *bad});
      continue;
    }
    auto [prev, inserted] = slot->by_auditor.emplace(r.auditor, &r);
    if (inserted) continue;
    if (*prev->second == r || report_digest(*prev->second) == report_digest(r)) {
      out.rejected.push_back({r.offer_id, r.auditor, Error::kDuplicate});
    } else if (slot->contradicted.insert(r.auditor).second) {
      out.evidence.push_back({*prev->second, r});
    }
  }
}

std::optional<std::string> proven_malice(const OfferReports& slot) {
  if (slot.offer->kind != ServiceKind::kStorage) return std::nullopt;
  for (const auto& [auditor, report] : slot.by_auditor) {
    for (const StorageEvidence& e : report->evidence) {
      if (proves_storage_malice(*slot.offer, e)) return std::string("provider-signed storage answer is wrong: ") + storage_answer_mismatch(e.answer);
    }
  }
  return std::nullopt;
}

std::uint32_t median(std::vector<std::uint32_t> v) {
  BC_ASSERT(!v.empty());
  std::sort(v.begin(), v.end());
  return v[(v.size() - 1) / 2];  // the lower median for an even count
}

void grade(Settlement& s, const Offer& o, std::uint32_t score, std::uint32_t prev_rep, const PosParams& p) {
  s.score_bps = score;
  s.reputation_bps =
      static_cast<std::uint32_t>((std::uint64_t{p.reputation_lambda_bps} * prev_rep +
                                  std::uint64_t{kBps - p.reputation_lambda_bps} * score) / kBps);
  if (s.reputation_bps < o.delta_bps) {
    const unsigned __int128 shortfall = o.delta_bps - s.reputation_bps;
    s.grade = Grade::kUnstable;
    s.slash = static_cast<std::uint64_t>(o.bond * shortfall * p.unstable_rate_bps / (kBps * kBps));
    s.pay_scale_bps = 0;
    s.reason = "reputation " + std::to_string(s.reputation_bps) + " below delta " + std::to_string(o.delta_bps);
  } else if (score < kBps) {
    s.grade = Grade::kOccasional;
    s.pay_scale_bps = score;
    s.reason = "warning: score " + std::to_string(score) + " within delta";
  } else {
    s.grade = Grade::kOk;
    s.pay_scale_bps = kBps;
    s.reason = "all probes passed";
  }
}

Settlement settle_offer(const OfferReports& slot, const SettleInput& in, const PosParams& p) {
  Settlement s;
  s.offer_id = slot.assignment->offer_id;
  auto rep = in.reputation_bps.find(s.offer_id);
  const std::uint32_t prev_rep = rep == in.reputation_bps.end() ? kBps : rep->second;
  s.reputation_bps = prev_rep;
  if (auto why = proven_malice(slot)) {
    s.grade = Grade::kMalicious;
    s.slash = slot.offer->bond;
    s.reputation_bps = 0;
    s.reason = *why;
    return s;
  }
  std::vector<std::pair<XOnlyPubKey, std::uint32_t>> scores;
  for (const auto& [auditor, report] : slot.by_auditor)
    if (!slot.contradicted.count(auditor)) scores.emplace_back(auditor, auditor_score(*report));
  if (scores.size() < p.min_reports || scores.empty()) {
    s.grade = Grade::kUnaudited;
    s.reason = std::to_string(scores.size()) + " valid reports, fewer than " + std::to_string(p.min_reports);
    return s;
  }
  std::vector<std::uint32_t> values;
  for (const auto& sc : scores) values.push_back(sc.second);
  const std::uint32_t m = median(values);
  grade(s, *slot.offer, m, prev_rep, p);
  for (const auto& [auditor, score] : scores) {
    const std::uint32_t gap = score > m ? score - m : m - score;
    (gap <= p.agree_tolerance_bps ? s.agreeing : s.disagreeing).push_back(auditor);
  }
  return s;
}

}  // namespace

const char* to_string(Grade g) {
  switch (g) {
    case Grade::kOk: return "ok";
    case Grade::kOccasional: return "occasional";
    case Grade::kUnstable: return "unstable";
    case Grade::kMalicious: return "malicious";
    case Grade::kUnaudited: return "unaudited";
  }
  return "unknown";
}

std::uint32_t auditor_score(const Report& r) {
  BC_ASSERT(!r.probes.empty());
  std::uint64_t passes = 0;
  for (const ProbeRecord& p : r.probes) passes += p.outcome == ProbeOutcome::kPass;
  return static_cast<std::uint32_t>(passes * kBps / r.probes.size());
}

Result<ReportEvidence> find_contradiction(const Report& a, const Report& b) {
  if (a.auditor != b.auditor || a.epoch != b.epoch || a.offer_id != b.offer_id)
    return error(Error::kBadEvidence, "reports of different auditors, epochs or offers");
  if (report_digest(a) == report_digest(b)) return error(Error::kBadEvidence, "the same report");
  if (!verify_report(a).ok() || !verify_report(b).ok()) return error(Error::kBadSignature, "evidence signature");
  return ReportEvidence{a, b};
}

EpochResult settle_epoch(const SettleInput& in, const PosParams& params) {
  BC_ASSERT(params.probes_per_auditor > 0 && params.reputation_lambda_bps <= kBps);
  std::map<Hash256, const Offer*> offers;
  for (const Offer& o : in.offers) offers.emplace(offer_id(o), &o);
  std::map<Hash256, OfferReports> slots;
  for (const Assignment& a : in.assignments) {
    auto o = offers.find(a.offer_id);
    BC_ASSERT(o != offers.end());
    slots[a.offer_id] = OfferReports{o->second, &a, {}, {}};
  }
  EpochResult out;
  collect(in, params, slots, out);
  for (const auto& [id, slot] : slots) out.settlements.push_back(settle_offer(slot, in, params));
  return out;
}

}  // namespace bc::pos
