// Every reason Proof-of-Service refuses input. Each name (message() of the
// category) is a stable snake_case label for the drop counters.
#pragma once
#include <system_error>

#include "layers/status.hpp"

namespace bc::pos {

enum class Error {
  kOk = 0,
  kMalformed,       // bytes that do not decode as a pos message
  kOversized,       // over a size or count limit
  kBadField,        // a key, hash or signature of the wrong length, an enum or value out of range
  kBadSignature,
  kWrongEpoch,      // a report for another epoch than the one settled
  kNotAssigned,     // the auditor was not assigned to the offer this epoch
  kUnknownOffer,
  kBadCommitment,   // the revealed probe secret does not match the auditor's commitment
  kBadSchedule,     // probe times or indexes differ from probe_schedule
  kDuplicate,       // the same report again (a replay)
  kContradiction,   // two different signed reports of one auditor for one (epoch, offer)
  kBadEvidence,     // evidence that proves nothing
};

const std::error_category& error_category();
std::error_code make_error_code(Error e);
const char* to_string(Error e);

}  // namespace bc::pos

template <>
struct std::is_error_code_enum<bc::pos::Error> : std::true_type {};
