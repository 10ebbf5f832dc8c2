#include "layers/node/params.hpp"

#include <boost/json/value.hpp>

namespace bc::node {
namespace json = boost::json;

namespace {
const char* kind_name(const json::value& v) {
  switch (v.kind()) {
    case json::kind::null: return "null";
    case json::kind::bool_: return "a boolean";
    case json::kind::int64:
    case json::kind::uint64:
    case json::kind::double_: return "a number";
    case json::kind::string: return "a string";
    case json::kind::array: return "an array";
    case json::kind::object: return "an object";
  }
  return "a value";
}

[[noreturn]] void wrong_type(const char* name, const char* want, const json::value& v, std::string_view expect) {
  invalid_param(name, std::string("expected ") + want + ", got " + kind_name(v), expect);
}
}  // namespace

std::string invalid_params_text(std::string_view param, std::string_view what, std::string_view todo) {
  std::string s = "invalid params: ";
  s.append(param).append(": ").append(what);
  if (!todo.empty()) s.append("; ").append(todo);
  return s;
}

void invalid_param(std::string_view param, std::string_view what, std::string_view todo) {
  throw RpcError(kInvalidParams, invalid_params_text(param, what, todo));
}

bool Params::has(const char* name) const {
  const json::value* v = p_.if_contains(name);
  return v && !v->is_null();
}

std::optional<std::string> Params::opt_string(const char* name, std::string_view expect) const {
  if (!has(name)) return std::nullopt;
  const json::value& v = p_.at(name);
  if (!v.is_string()) wrong_type(name, "a string", v, expect);
  return std::string(v.as_string());
}

std::string Params::string(const char* name, std::string_view expect) const {
  auto s = opt_string(name, expect);
  if (!s) invalid_param(name, "missing", expect);
  return *s;
}

std::optional<Bytes> Params::opt_hex(const char* name, std::string_view expect) const {
  auto s = opt_string(name, expect);
  if (!s) return std::nullopt;
  auto b = from_hex(*s);
  if (!b) invalid_param(name, "not hex (an even number of 0-9 a-f)", expect);
  return b;
}

Bytes Params::hex(const char* name, std::string_view expect) const {
  auto b = opt_hex(name, expect);
  if (!b) invalid_param(name, "missing", expect);
  return *b;
}

std::optional<std::uint64_t> Params::opt_u64(const char* name, std::string_view expect, std::uint64_t lo,
                                             std::uint64_t hi) const {
  if (!has(name)) return std::nullopt;
  const json::value& v = p_.at(name);
  std::uint64_t x = 0;
  if (v.is_uint64()) x = v.as_uint64();
  else if (v.is_int64() && v.as_int64() >= 0) x = static_cast<std::uint64_t>(v.as_int64());
  else if (v.is_int64()) invalid_param(name, std::to_string(v.as_int64()) + " is negative", expect);
  else wrong_type(name, "an integer", v, expect);
  if (x < lo || x > hi)
    invalid_param(name, std::to_string(x) + " is outside [" + std::to_string(lo) + ", " + std::to_string(hi) + "]",
                  expect);
  return x;
}

std::uint64_t Params::u64(const char* name, std::string_view expect, std::uint64_t lo, std::uint64_t hi) const {
  auto x = opt_u64(name, expect, lo, hi);
  if (!x) invalid_param(name, "missing", expect);
  return *x;
}

std::optional<bool> Params::opt_bool(const char* name, std::string_view expect) const {
  if (!has(name)) return std::nullopt;
  const json::value& v = p_.at(name);
  if (!v.is_bool()) wrong_type(name, "true or false", v, expect);
  return v.as_bool();
}

std::optional<double> Params::opt_number(const char* name, std::string_view expect) const {
  if (!has(name)) return std::nullopt;
  const json::value& v = p_.at(name);
  double d = 0;
  if (v.is_int64()) d = static_cast<double>(v.as_int64());
  else if (v.is_uint64()) d = static_cast<double>(v.as_uint64());
  else if (v.is_double()) d = v.as_double();
  else wrong_type(name, "a number", v, expect);
  if (!(d >= 0)) invalid_param(name, "negative", expect);
  return d;
}

}  // namespace bc::node
