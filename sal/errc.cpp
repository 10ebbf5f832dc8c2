#include "sal/errc.hpp"

namespace bc::sal {
namespace {

class Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "bc.sal.errc"; }
  std::string message(int value) const override {
    switch (static_cast<Errc>(value)) {
      case Errc::kOk: return "ok";
      case Errc::kSessionClosed: return "session_closed";
      case Errc::kFlowLimit: return "flow_limit";
      case Errc::kMalformedRecord: return "malformed_record";
    }
    return "unknown";
  }
};

}  // namespace

const std::error_category& errc_category() {
  static const Category category;
  return category;
}

std::error_code make_error_code(Errc e) { return {static_cast<int>(e), errc_category()}; }

}  // namespace bc::sal
