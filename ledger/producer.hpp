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

}  // namespace bc::ledger
