#include "layers/status.hpp"

namespace bc {
namespace {

class GenericCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "bc"; }
  std::string message(int value) const override {
    switch (static_cast<Errc>(value)) {
      case Errc::kOk: return "ok";
      case Errc::kInvalidArgument: return "invalid_argument";
      case Errc::kMalformed: return "malformed";
      case Errc::kOversized: return "oversized";
      case Errc::kNotFound: return "not_found";
      case Errc::kAlreadyExists: return "already_exists";
      case Errc::kResourceExhausted: return "resource_exhausted";
      case Errc::kPermissionDenied: return "permission_denied";
      case Errc::kUnavailable: return "unavailable";
      case Errc::kTimeout: return "timeout";
      case Errc::kCancelled: return "cancelled";
      case Errc::kFailedPrecondition: return "failed_precondition";
      case Errc::kIo: return "io";
      case Errc::kCorrupt: return "corrupt";
      case Errc::kInternal: return "internal";
    }
    return "unknown";
  }
};

}  // namespace

const std::error_category& generic_category() {
  static const GenericCategory category;
  return category;
}

std::error_code make_error_code(Errc e) { return {static_cast<int>(e), generic_category()}; }

std::string Status::name() const { return ok() ? "ok" : code.message(); }

std::string Status::text() const {
  std::string out = name();
  if (!message.empty()) out += ": " + message;
  return out;
}

}  // namespace bc
