// The one error type of every layer: a code and a message.
//
// Status is what a fallible operation returns; Result<T> is a value or the
// Status that says why there is none. Nothing below a process edge (start-up,
// command line) throws for bad input: decoders, validators, cores and stores
// return these.
//
// The code is a std::error_code, so each layer keeps its own enum of reasons
// (ledger::Error, sal::Errc, ...) registered as an error-code enum, and a
// caller compares without knowing the layer's category:
//   if (s.code == ledger::Error::kBadNonce) ...
// Every category's message() is a stable snake_case name (usable as a metric
// label); the human detail goes in `message`.
#pragma once
#include <optional>
#include <ostream>  // std::error_code's operator<<, for test output
#include <string>
#include <system_error>
#include <utility>

namespace bc {

// Reasons shared by every layer, for failures that are not a layer's own.
enum class Errc {
  kOk = 0,
  kInvalidArgument,   // the caller passed something the contract forbids
  kMalformed,         // bytes from outside did not decode
  kOversized,         // over a size or count limit
  kNotFound,
  kAlreadyExists,
  kResourceExhausted,  // a budget, a queue or a table is full
  kPermissionDenied,   // a signature, a delegation or a credential does not allow it
  kUnavailable,        // nobody answered (yet): retry later
  kTimeout,
  kCancelled,
  kFailedPrecondition,  // the object is not in a state that allows it
  kIo,                  // the operating system refused (file, socket)
  kCorrupt,             // stored data disagrees with itself
  kInternal,            // a bug: an invariant that should have held
};

const std::error_category& generic_category();
std::error_code make_error_code(Errc e);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(std::error_code code, std::string message) : code(code), message(std::move(message)) {}

  static Status success() { return {}; }

  bool ok() const { return !code; }
  explicit operator bool() const { return ok(); }
  // The code's stable name: "ok", "bad_nonce", "timeout".
  std::string name() const;
  // "<name>: <message>", or "<name>" when there is no message.
  std::string text() const;

  std::error_code code;
  std::string message;
};

// Status{code, detail}: spelled as a verb where a function gives up.
inline Status fail(std::error_code code, std::string detail) { return Status{code, std::move(detail)}; }

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit, like std::optional
  Result(Status status) : status_(std::move(status)) {  // NOLINT
    if (status_.ok()) status_ = Status{make_error_code(Errc::kInternal), "Result made from a success status"};
  }

  static Result of(T v) { return Result(std::move(v)); }
  static Result error(Status s) { return Result(std::move(s)); }

  bool ok() const { return value_.has_value(); }
  explicit operator bool() const { return ok(); }
  const Status& status() const { return status_; }
  Status take_status() && { return std::move(status_); }

  // REQUIRES: ok().
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T& operator*() & { return *value_; }
  const T& operator*() const& { return *value_; }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace bc

template <>
struct std::is_error_code_enum<bc::Errc> : std::true_type {};
