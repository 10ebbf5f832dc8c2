#include "consensus/bft/errors.hpp"

#include <string>

namespace bc::bft {
namespace {

class Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "bft"; }
  std::string message(int value) const override { return to_string(static_cast<Error>(value)); }
};

}  // namespace

const char* to_string(Error e) {
  switch (e) {
    case Error::kOk: return "ok";
    case Error::kBadValidatorSet: return "bad_validator_set";
    case Error::kMalformed: return "malformed";
    case Error::kOversized: return "oversized";
    case Error::kBadField: return "bad_field";
    case Error::kWrongChain: return "wrong_chain";
    case Error::kUnknownHeight: return "unknown_height";
    case Error::kUnknownValidator: return "unknown_validator";
    case Error::kBadSignature: return "bad_signature";
    case Error::kWrongProposer: return "wrong_proposer";
    case Error::kBadProofOfLock: return "bad_proof_of_lock";
    case Error::kBadCertificate: return "bad_certificate";
    case Error::kBadEvidence: return "bad_evidence";
    case Error::kCorrupt: return "corrupt";
  }
  return "unknown";
}

const std::error_category& error_category() {
  static const Category category;
  return category;
}

std::error_code make_error_code(Error e) { return {static_cast<int>(e), error_category()}; }

}  // namespace bc::bft
