#include "ledger/pos/errors.hpp"

#include <string>

namespace bc::pos {
namespace {

class Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "pos"; }
  std::string message(int value) const override { return to_string(static_cast<Error>(value)); }
};

}  // namespace

const char* to_string(Error e) {
  switch (e) {
    case Error::kOk: return "ok";
    case Error::kMalformed: return "malformed";
    case Error::kOversized: return "oversized";
    case Error::kBadField: return "bad_field";
    case Error::kBadSignature: return "bad_signature";
    case Error::kWrongEpoch: return "wrong_epoch";
    case Error::kNotAssigned: return "not_assigned";
    case Error::kUnknownOffer: return "unknown_offer";
    case Error::kBadCommitment: return "bad_commitment";
    case Error::kBadSchedule: return "bad_schedule";
    case Error::kDuplicate: return "duplicate";
    case Error::kContradiction: return "contradiction";
    case Error::kBadEvidence: return "bad_evidence";
  }
  return "unknown";
}

const std::error_category& error_category() {
  static const Category category;
  return category;
}

std::error_code make_error_code(Error e) { return {static_cast<int>(e), error_category()}; }

}  // namespace bc::pos
