// The SAL's reasons for a failed operation, registered as an error-code enum
// so they travel in a bc::Status (layers/status.hpp) and compare directly:
//   if (r.status().code == sal::Errc::kFlowLimit) ...
// Each reason's message() is its stable snake_case name; the human detail
// (what went wrong and how to fix it) is the Status's message.
#pragma once
#include <system_error>

#include "layers/status.hpp"

namespace bc::sal {

enum class Errc {
  kOk = 0,
  kSessionClosed,    // the session failed or expired: open the flow on a new one
  kFlowLimit,        // a per-session or node-wide flow limit is reached
  kMalformedRecord,  // record, delegation or statement bytes did not decode or break a field rule
};

const std::error_category& errc_category();
std::error_code make_error_code(Errc e);

}  // namespace bc::sal

template <>
struct std::is_error_code_enum<bc::sal::Errc> : std::true_type {};
