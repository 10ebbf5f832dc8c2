// Who makes blocks, behind an interface consensus can replace.
//
// Sans-I/O like every core: the driver calls on_tick(now) when now >=
// next_wakeup(); a returned block is to be applied locally
// (Ledger::apply_block) and broadcast. on_committed() is called for every
// block the node commits (its own or received), so a producer can keep its
// schedule. A BFT committee will implement the same interface: propose in
// on_tick, vote on received proposals with Ledger::validate_block, and hand
// a block out only once it is final.
#pragma once
#include <cstddef>
#include <optional>

#include "layers/crypto.hpp"
#include "layers/runtime.hpp"
#include "ledger/ledger.hpp"
#include "ledger/mempool.hpp"

namespace bc::ledger {

class BlockProducer {
 public:
  virtual ~BlockProducer() = default;
  virtual TimeMs next_wakeup() const = 0;
  virtual std::optional<Ledger::Built> on_tick(Ledger& ledger, const Mempool& mempool, TimeMs now) = 0;
  virtual void on_committed(const BlockHeader& header, TimeMs now) = 0;
};

// One configured producer makes a block every interval (empty blocks too, so
// time and height keep moving and followers can tell they are in sync).
class SingleProducer final : public BlockProducer {
 public:
  SingleProducer(KeyPair key, TimeMs interval_ms, TimeMs start);
  TimeMs next_wakeup() const override { return next_; }
  std::optional<Ledger::Built> on_tick(Ledger& ledger, const Mempool& mempool, TimeMs now) override;
  void on_committed(const BlockHeader& header, TimeMs now) override;
  const KeyPair& key() const { return key_; }

 private:
  KeyPair key_;
  TimeMs interval_;
  TimeMs next_;
};

// A block this node made and committed.
struct ProducedBlock {
  BlockHeader header;
  Bytes bytes;               // to announce to peers
  std::size_t tx_count = 0;
  // Mempool candidates that did not apply, and why; they left the mempool.
  std::vector<std::pair<Hash256, Status>> dropped;
};

// "Produce a block", the whole ledger operation: when `producer`'s slot has
// come, builds a block from `mempool` on top of the head, commits it (one
// synced batch), prunes the mempool and reports the commit to `producer`.
// The caller announces `bytes` only after this returns: a block is committed
// before any peer sees it, so no peer holds a block its producer could lose
// in a crash.
// Returns nullopt when it is not the producer's slot; the committed block; or
// why the ledger refused the producer's own block (a builder that breaks a
// rule: a bug), with nothing committed and the slot still consumed.
// REQUIRES: mempool and producer are the ones used with this ledger; one call
// at a time per ledger (the ledger is not thread-safe).
Result<std::optional<ProducedBlock>> produce_block(Ledger& ledger, Mempool& mempool, BlockProducer& producer, TimeMs now);

}  // namespace bc::ledger
