// Where a validator keeps its core's durable records (BftCore's kSignerKey
// and kDecidedKey): FileStore on disk in the daemon, a store with the same
// crash semantics in the whole-node committee simulator (tests/sim).
//
// Contract: apply() returns only when every op of a write with w.sync set is
// durable, each key holding its old or its new value after a crash at any
// instant, never a mix; ops apply in order. The Validator applies an
// Outbox's writes before any of its frames leave (layers/core.hpp), so the
// signer's record on disk always covers every vote a peer can have seen.
//
// Thread safety: none; one owner.
#pragma once
#include <optional>
#include <string>
#include <string_view>

#include "layers/core.hpp"
#include "layers/status.hpp"

namespace bc::consensus {

class CoreStore {
 public:
  virtual ~CoreStore() = default;
  // Every op of w, in order; an error on the first failure (the driver must
  // then stop: a vote whose record is not durable must not leave).
  virtual Status apply(const StoreWrite& w) = 0;
  // nullopt if the key was never written or was deleted.
  virtual std::optional<Bytes> get(std::string_view key) const = 0;
  // Where the records are, for error messages (a directory, a name).
  virtual std::string where() const = 0;
};

}  // namespace bc::consensus
