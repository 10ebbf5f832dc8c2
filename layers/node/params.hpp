// node::Params: the named parameters of one JSON-RPC call, read through
// typed getters that all fail the same way.
//
// Every bad parameter becomes an RpcError with code kInvalidParams and the
// message
//     invalid params: <param>: <what is wrong>; <what to do>
// e.g. "invalid params: tx: not hex; give the signed transaction as hex
// (blockcloud-cli send builds it)". `expect` in each getter is the "what to
// do" part, written as an instruction ("give ..."); it is reused for every
// way the parameter can be wrong (missing, wrong type, bad value).
#pragma once
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>

#include "layers/bytes.hpp"

namespace bc::node {

// JSON-RPC 2.0 error codes used across modules.
inline constexpr int kParseError = -32700;
inline constexpr int kInvalidRequest = -32600;
inline constexpr int kMethodNotFound = -32601;
inline constexpr int kInvalidParams = -32602;
inline constexpr int kInternalError = -32603;
inline constexpr int kOperationFailed = -32000;  // the operation ran and failed (a DHT put, a rebind)
inline constexpr int kLimitReached = -32001;     // a bound of this node was hit

// Thrown by a method handler (and by Params): answered as a JSON-RPC error.
struct RpcError : std::runtime_error {
  RpcError(int code, const std::string& message) : std::runtime_error(message), code(code) {}
  int code;
};

// "invalid params: <param>: <what>; <todo>".
std::string invalid_params_text(std::string_view param, std::string_view what, std::string_view todo);
// Throws RpcError{kInvalidParams, invalid_params_text(...)}.
[[noreturn]] void invalid_param(std::string_view param, std::string_view what, std::string_view todo);

class Params {
 public:
  Params() = default;
  explicit Params(boost::json::object params) : p_(std::move(params)) {}

  // Present and not null.
  bool has(const char* name) const;
  const boost::json::object& raw() const { return p_; }

  // Required values: missing or null is an error.
  std::string string(const char* name, std::string_view expect) const;
  Bytes hex(const char* name, std::string_view expect) const;
  // An integer in [lo, hi].
  std::uint64_t u64(const char* name, std::string_view expect, std::uint64_t lo = 0,
                    std::uint64_t hi = UINT64_MAX) const;

  // Optional values: nullopt when absent or null; an error when present but wrong.
  std::optional<std::string> opt_string(const char* name, std::string_view expect) const;
  std::optional<Bytes> opt_hex(const char* name, std::string_view expect) const;
  std::optional<std::uint64_t> opt_u64(const char* name, std::string_view expect, std::uint64_t lo = 0,
                                       std::uint64_t hi = UINT64_MAX) const;
  std::optional<bool> opt_bool(const char* name, std::string_view expect) const;
  // A number >= 0, integer or not (seconds, milliseconds).
  std::optional<double> opt_number(const char* name, std::string_view expect) const;

  // Fails on `name` with the one format (for checks the getters cannot make).
  [[noreturn]] void fail(const char* name, std::string_view what, std::string_view todo) const {
    invalid_param(name, what, todo);
  }

 private:
  boost::json::object p_;
};

}  // namespace bc::node
