// The chain's Proof-of-Service parameters (docs/proof-of-service.md,
// "Parameters"): their bounds and their one order for the genesis and the
// stored params.
#include <algorithm>

#include "ledger/pos/codec.hpp"
#include "ledger/pos_ledger.hpp"

namespace bc::ledger {

const std::array<const char*, kPosParamCount> kPosParamKeys = {
    "pos_auditors_per_offer", "pos_probes_per_auditor", "pos_max_attempts",     "pos_retry_gap_ms",
    "pos_min_reports",        "pos_reputation_lambda_bps", "pos_unstable_rate_bps", "pos_agree_tolerance_bps",
    "pos_report_fee",         "pos_holdback_bps",       "pos_holdback_epochs"};

std::array<std::uint64_t, kPosParamCount> pos_param_values(const pos::PosParams& p) {
  return {p.auditors_per_offer,    p.probes_per_auditor, p.max_attempts,        p.retry_gap_ms,
          p.min_reports,           p.reputation_lambda_bps, p.unstable_rate_bps, p.agree_tolerance_bps,
          p.report_fee,            p.holdback_bps,       p.holdback_epochs};
}

bool set_pos_param_values(const std::array<std::uint64_t, kPosParamCount>& v, pos::PosParams& p) {
  for (std::size_t i : {0u, 1u, 2u, 4u, 5u, 6u, 7u, 9u})
    if (v[i] > UINT32_MAX) return false;
  p.auditors_per_offer = static_cast<std::uint32_t>(v[0]);
  p.probes_per_auditor = static_cast<std::uint32_t>(v[1]);
  p.max_attempts = static_cast<std::uint32_t>(v[2]);
  p.retry_gap_ms = v[3];
  p.min_reports = static_cast<std::uint32_t>(v[4]);
  p.reputation_lambda_bps = static_cast<std::uint32_t>(v[5]);
  p.unstable_rate_bps = static_cast<std::uint32_t>(v[6]);
  p.agree_tolerance_bps = static_cast<std::uint32_t>(v[7]);
  p.report_fee = v[8];
  p.holdback_bps = static_cast<std::uint32_t>(v[9]);
  p.holdback_epochs = v[10];
  return true;
}

std::string check_pos_params(const pos::PosParams& p) {
  if (p.auditors_per_offer == 0 || p.auditors_per_offer > kMaxAuditorsPerOffer)
    return "pos_auditors_per_offer must be 1.." + std::to_string(kMaxAuditorsPerOffer);
  if (p.probes_per_auditor == 0 || p.probes_per_auditor > pos::PosLimits{}.max_probes)
    return "pos_probes_per_auditor must be 1.." + std::to_string(pos::PosLimits{}.max_probes);
  if (p.max_attempts == 0 || p.max_attempts > 255) return "pos_max_attempts must be 1..255";
  if (p.min_reports == 0 || p.min_reports > p.auditors_per_offer) return "pos_min_reports must be 1..pos_auditors_per_offer";
  for (std::uint32_t bps : {p.reputation_lambda_bps, p.unstable_rate_bps, p.agree_tolerance_bps, p.holdback_bps})
    if (bps > pos::kBps) return "a pos_ rate in basis points must be at most 10000";
  if (p.holdback_epochs > kMaxHoldbackEpochs) return "pos_holdback_epochs must be at most " + std::to_string(kMaxHoldbackEpochs);
  return {};
}

pos::PosParams pos_params(const ChainParams& p) {
  pos::PosParams out = p.pos;
  const auto span = static_cast<unsigned __int128>(p.epoch_length) * static_cast<std::uint64_t>(std::max<std::int64_t>(p.block_interval_ms, 1));
  out.epoch_ms = span > UINT64_MAX ? UINT64_MAX : static_cast<std::uint64_t>(span);
  return out;
}

}  // namespace bc::ledger
