#include "ledger/pos/agreement.hpp"

#include <bit>

namespace bc::pos {

AgreementRecord record_report(AgreementRecord r, bool disagreed) {
  r.disagreed = static_cast<std::uint16_t>((r.disagreed << 1) | (disagreed ? 1 : 0));  // the oldest bit leaves a full window
  if (r.reports < kAgreementWindow) ++r.reports;
  return r;
}

int disagreements(const AgreementRecord& r) { return std::popcount(r.disagreed); }

bool withholds_fees(const AgreementRecord& r) { return r.reports >= kAgreementGrace && 2 * disagreements(r) > r.reports; }

bool well_formed(const AgreementRecord& r) {
  return r.reports <= kAgreementWindow && (r.reports == kAgreementWindow || (r.disagreed >> r.reports) == 0);
}

}  // namespace bc::pos
