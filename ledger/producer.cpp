#include "ledger/producer.hpp"

#include "layers/assert.hpp"

namespace bc::ledger {

SingleProducer::SingleProducer(KeyPair key, TimeMs interval_ms, TimeMs start)
    : key_(std::move(key)), interval_(interval_ms > 0 ? interval_ms : 1), next_(start) {}

std::optional<Ledger::Built> SingleProducer::on_tick(Ledger& ledger, const Mempool& mempool, TimeMs now) {
  if (now < next_) return std::nullopt;
  const ChainParams& p = ledger.params();
  auto candidates = mempool.select(ledger.state(), p.max_block_txs, p.max_block_bytes - 4096);
  auto built = ledger.build_block(candidates, now, key_);
  // Whatever happens to this block, do not retry before the next slot.
  next_ = now + interval_;
  return built;
}

void SingleProducer::on_committed(const BlockHeader& header, TimeMs now) {
  // Keep one interval between blocks, measured from the last committed one.
  if (header.proposer == key_.public_key()) next_ = std::max(next_, header.time + interval_);
}

Result<std::optional<ProducedBlock>> produce_block(Ledger& ledger, Mempool& mempool, BlockProducer& producer, TimeMs now) {
  using Made = std::optional<ProducedBlock>;
  auto built = producer.on_tick(ledger, mempool, now);
  if (!built) return Made{};
  const std::uint64_t height = built->block.header.height;
  BC_ASSERT(height == ledger.head().height + 1);
  Status s = ledger.apply_block(built->bytes, now);
  if (!s.ok()) {
    s.message = "own block at height " + std::to_string(height) + " refused: " + s.message;
    return s;
  }
  BC_ASSERT(ledger.head().height == height);
  mempool.prune(ledger.state());
  for (const auto& [id, why] : built->dropped) mempool.drop(id);
  producer.on_committed(built->block.header, now);
  return Made{ProducedBlock{std::move(built->block.header), std::move(built->bytes), built->block.txs.size(),
                            std::move(built->dropped)}};
}

}  // namespace bc::ledger
