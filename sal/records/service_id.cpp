// Service IDs: name rules, derivation, text form and its parser.
#include "sal/records/service_id.hpp"

#include <cctype>

#include "layers/ids.hpp"

namespace bc::sal {
namespace {

constexpr std::string_view kServiceIdTag = "blockcloud/service-id/v1";
constexpr std::size_t kIdTextChars = 59;  // layers/ids.hpp: kind letter + 58 base32

bool name_char_ok(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; }

bool base32_char(char c) {
  c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return (c >= 'a' && c <= 'z') || (c >= '2' && c <= '7');
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

}  // namespace

Status check_service_name(std::string_view name) {
  const auto bad = [](std::string why) { return fail(bc::Errc::kInvalidArgument, std::move(why)); };
  if (name.empty()) return bad("service name is empty; use 1 to 63 characters of a-z, 0-9 and '-'");
  if (name.size() > kMaxServiceNameChars) {
    return bad("service name has " + std::to_string(name.size()) +
               " characters; at most 63 are allowed (it must fit a DNS label)");
  }
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (!name_char_ok(name[i])) {
      return bad("service name has a character other than a-z, 0-9 or '-' at position " + std::to_string(i) +
                 " (use lowercase letters, digits and '-')");
    }
  }
  if (name.front() == '-' || name.back() == '-') return bad("service name starts or ends with '-'; a DNS label may not");
  return Status::success();
}

bool is_valid_service_name(std::string_view name) { return check_service_name(name).ok(); }

ServiceId service_id_of(const XOnlyPubKey& owner, std::string_view name) {
  Bytes data(owner.bytes.begin(), owner.bytes.end());
  data.insert(data.end(), name.begin(), name.end());
  return tagged_hash(kServiceIdTag, data);
}

std::string service_id_to_text(const ServiceId& id) { return id_to_text('s', id); }

std::string service_host_name(const ServiceId& id) {
  return service_id_to_text(id) + std::string(kServiceHostSuffix);
}

Result<ServiceId> parse_service_id(std::string_view text) {
  const auto bad = [](std::string why) { return fail(bc::Errc::kInvalidArgument, std::move(why)); };
  std::string_view t = text;
  if (!t.empty() && t.back() == '.') t.remove_suffix(1);  // fully qualified "x.bc."
  if (t.size() >= kServiceHostSuffix.size() &&
      iequals(t.substr(t.size() - kServiceHostSuffix.size()), kServiceHostSuffix)) {
    t.remove_suffix(kServiceHostSuffix.size());
  }
  if (t.empty()) return bad("service id is empty; expected 's' followed by 58 base32 characters, optionally with '.bc'");
  if (t.find('.') != std::string_view::npos) {
    return bad("'" + std::string(text) + "' is not a service id: the only suffix allowed is '.bc'");
  }
  if (t[0] != 's' && t[0] != 'S') {
    return bad("service id must start with 's' (got '" + std::string(1, t[0]) +
               "'; 'n' is a node id, 'k' a DHT key, 'a' an account)");
  }
  if (t.size() != kIdTextChars) {
    return bad("service id has " + std::to_string(t.size()) + " characters; expected 59 ('s' + 58 base32)");
  }
  for (std::size_t i = 1; i < t.size(); ++i) {
    if (!base32_char(t[i])) {
      return bad("service id has a character outside base32 (a-z, 2-7) at position " + std::to_string(i));
    }
  }
  std::optional<ServiceId> id = id_from_text('s', t);
  if (!id) return bad("service id checksum does not match: a character is mistyped; copy it again");
  return *id;
}

}  // namespace bc::sal
