// An auditor's record of agreement with the settled medians, and the rule
// that withholds its report fees when it disagrees too often
// (docs/proof-of-service.md, "Auditor fees"). Pure; the ledger keeps one
// record per validator account and updates it as each offer settles.
#pragma once
#include <cstdint>

namespace bc::pos {

// The newest kAgreementWindow settled reports of one auditor.
struct AgreementRecord {
  std::uint16_t disagreed = 0;  // bit i: the i-th newest report disagreed with the median
  std::uint8_t reports = 0;     // reports recorded, at most kAgreementWindow
  friend bool operator==(const AgreementRecord&, const AgreementRecord&) = default;
};

inline constexpr std::uint8_t kAgreementWindow = 16;  // about five epochs of three offers each
inline constexpr std::uint8_t kAgreementGrace = 4;    // fewer reports never withhold: one early outlier costs nothing

// The record after one more settled report.
AgreementRecord record_report(AgreementRecord r, bool disagreed);

// True when more than half of the window's reports (and at least the
// grace) disagreed: the auditor earns no fee, even for an agreeing report.
bool withholds_fees(const AgreementRecord& r);

int disagreements(const AgreementRecord& r);

// False for a record no sequence of record_report can produce (a decoder's check).
bool well_formed(const AgreementRecord& r);

}  // namespace bc::pos
