// The routing layer's reasons, as error-code enums for bc::Status
// (layers/status.hpp). Callers compare without knowing the category:
//   if (r.status.code == routing::Errc::kNotStored) ...
// Each message() is a stable snake_case name; the human text travels in
// Status::message.
#pragma once
#include <system_error>

#include "layers/status.hpp"
#include "routing/record.hpp"

namespace bc::routing {

enum class Errc {
  kOk = 0,
  kRecordInvalid,    // a record failed check_record() or the validator before sending
  kPayloadTooLarge,  // publish(): payload over kMaxPayloadBytes
  kNotStored,        // a put's lookups found no storage node that acknowledged
};

const std::error_category& routing_category();
std::error_code make_error_code(Errc e);
// RecordError (routing/record.hpp) is a reason enum too: Status{e, "..."}.
const std::error_category& record_category();
std::error_code make_error_code(RecordError e);

}  // namespace bc::routing

template <>
struct std::is_error_code_enum<bc::routing::Errc> : std::true_type {};
template <>
struct std::is_error_code_enum<bc::routing::RecordError> : std::true_type {};
