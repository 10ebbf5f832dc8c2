#include "routing/errors.hpp"

#include <string>

namespace bc::routing {
namespace {

class RoutingCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "routing"; }
  std::string message(int v) const override {
    switch (static_cast<Errc>(v)) {
      case Errc::kOk: return "ok";
      case Errc::kRecordInvalid: return "record_invalid";
      case Errc::kPayloadTooLarge: return "payload_too_large";
      case Errc::kNotStored: return "not_stored";
    }
    return "unknown";
  }
};

class RecordCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "routing.record"; }
  std::string message(int v) const override { return to_string(static_cast<RecordError>(v)); }
};

}  // namespace

const std::error_category& routing_category() {
  static const RoutingCategory c;
  return c;
}
std::error_code make_error_code(Errc e) { return {static_cast<int>(e), routing_category()}; }

const std::error_category& record_category() {
  static const RecordCategory c;
  return c;
}
std::error_code make_error_code(RecordError e) { return {static_cast<int>(e), record_category()}; }

}  // namespace bc::routing
