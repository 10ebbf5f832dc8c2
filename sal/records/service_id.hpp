// Self-certifying service identifiers (docs/sal-records.md).
//
// A service is named by its owner's x-only key and a short name:
//   ServiceId = tagged_hash("blockcloud/service-id/v1", owner_key || name)
// so anyone holding a delegation (which carries both) recomputes the ID, and
// nobody but the owner can sign for it. Names are DNS-label friendly: 1..63
// characters of [a-z0-9-], not starting or ending with '-'.
//
// Text form: bc::id_to_text('s', id), 59 characters with a checksum (a
// valid DNS label), so "<id>.bc" works as a host name (SOCKS5 gateway).
#pragma once
#include <optional>
#include <string>
#include <string_view>

#include "layers/bytes.hpp"
#include "layers/crypto.hpp"
#include "layers/status.hpp"

namespace bc::sal {

using ServiceId = Hash256;

inline constexpr std::size_t kMaxServiceNameChars = 63;
inline constexpr std::string_view kServiceHostSuffix = ".bc";

// Success if `name` is valid, otherwise kInvalidArgument saying what is wrong
// and how to fix it.
Status check_service_name(std::string_view name);
bool is_valid_service_name(std::string_view name);

// The ID of service `name` owned by `owner`. Does not check the name (callers
// that accept names from outside use check_service_name() first).
ServiceId service_id_of(const XOnlyPubKey& owner, std::string_view name);

// "s..." (59 characters).
std::string service_id_to_text(const ServiceId& id);
// "s....bc"
std::string service_host_name(const ServiceId& id);

// Accepts "<id>" and "<id>.bc" (a trailing '.' after "bc" too), any case.
// Refuses with kInvalidArgument saying what was wrong and what is expected.
Result<ServiceId> parse_service_id(std::string_view text);

}  // namespace bc::sal
