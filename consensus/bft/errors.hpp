// Every reason the BFT core refuses or drops input. Each name (message() of
// the category) is a stable snake_case label for the drop counters.
#pragma once
#include <system_error>

#include "layers/status.hpp"

namespace bc::bft {

enum class Error {
  kOk = 0,
  kBadValidatorSet,    // empty, duplicate keys, power out of range
  kMalformed,          // bytes that do not decode as a consensus message
  kOversized,          // over a size or count limit
  kBadField,           // a key, signature or hash of the wrong length, an enum out of range
  kWrongChain,         // signed for another chain id
  kUnknownHeight,      // no validator set known for the message's height
  kUnknownValidator,   // the signer is not in the set of its height
  kBadSignature,
  kWrongProposer,      // a proposal from someone who is not proposer(height, round)
  kBadProofOfLock,     // a proposal's polPrevotes do not hold +2/3 for its value
  kBadCertificate,     // a commit certificate without +2/3 valid precommits
  kBadEvidence,        // two votes that are not an equivocation
  kCorrupt,            // a stored record that does not decode
};

const std::error_category& error_category();
std::error_code make_error_code(Error e);
const char* to_string(Error e);

}  // namespace bc::bft

template <>
struct std::is_error_code_enum<bc::bft::Error> : std::true_type {};
