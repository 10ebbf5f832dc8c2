#include "tests/sim/sim_node.hpp"

#include <algorithm>
#include <string>

#include "layers/assert.hpp"
#include "ledger/invariants.hpp"

namespace bc::sim {
namespace {
KeyPair node_key(std::uint64_t seed, std::uint32_t index) {
  const std::string tag = "sim-node/" + std::to_string(seed) + "/" + std::to_string(index);
  return *KeyPair::from_secret(sha256(as_bytes(tag)).view());
}
}  // namespace

SimNode::SimNode(const SimNodeConfig& cfg, FaultEnv& env, TimeMs now) : cfg_(cfg), started_(now) {
  dht_ = std::make_unique<routing::DhtNode>(node_key(cfg.seed, cfg.index), cfg.endpoint, routing::DhtConfig{},
                                            cfg.seed, metrics_);
  ledger::LedgerOptions lo;
  lo.dir = "/sim/node" + std::to_string(cfg.index);
  lo.genesis = cfg.genesis;
  lo.verify_threads = 1;
  lo.sync = cfg.ledger_sync;  // each block one synced batch: what the crash model tests
  lo.env = &env;
  auto l = ledger::Ledger::open(std::move(lo));
  BC_ASSERT_MSG(l.ok(), "node %u: ledger does not reopen from its store: %s", cfg.index, l.status().text().c_str());
  ledger_ = std::move(*l);
  blocks_ = std::make_unique<ledger::LedgerBlocks>(*ledger_);
  sync_ = std::make_unique<ledger::SyncCore>(ledger_->params(), ledger_->genesis_hash(),
                                             ledger::ChainTip{ledger_->head().height, ledger_->head().hash}, *blocks_,
                                             ledger::SyncOptions{.batch_blocks = 16});
  if (cfg.producer_key) producer_ = std::make_unique<ledger::SingleProducer>(*cfg.producer_key, cfg.block_interval_ms, now);
}

SimNode::~SimNode() = default;

void SimNode::on_datagram(const Endpoint& from, ByteView data, TimeMs now, Outbox& out) {
  dht_->on_datagram(from, data, now, out);
}

void SimNode::on_peer_up(PeerId peer, const Endpoint& remote, bool outbound, TimeMs now, Outbox& out) {
  sync_->on_peer_up(peer, remote, outbound, now, out);
  serve(now, out);
}

void SimNode::on_frame(PeerId peer, ByteView frame, TimeMs now, Outbox& out) {
  sync_->on_frame(peer, frame, now, out);
  serve(now, out);
}

void SimNode::on_peer_down(PeerId peer, TimeMs now, Outbox& out) {
  sync_->on_peer_down(peer, now, out);
  serve(now, out);
}

void SimNode::on_tick(TimeMs now, Outbox& out) {
  if (now >= dht_->next_wakeup()) dht_->on_tick(now, out);
  if (now >= sync_->next_wakeup()) sync_->on_tick(now, out);
  serve(now, out);
  produce(now, out);
}

TimeMs SimNode::next_wakeup() const {
  TimeMs t = std::min(dht_->next_wakeup(), sync_->next_wakeup());
  if (producer_) t = std::min(t, producer_->next_wakeup());
  return t;
}

void SimNode::after_commit(const ledger::BlockHeader& header, TimeMs now) {
  committed_.push_back({header.height, ledger_->head().hash});
  if (producer_) producer_->on_committed(header, now);
  // Invariants after every commit: the whole state, not just this block.
  BC_ASSERT_MSG(ledger::check_supply(ledger_->state()).empty(), "node %u at height %llu: %s", cfg_.index,
                static_cast<unsigned long long>(header.height), ledger::check_supply(ledger_->state()).c_str());
  BC_ASSERT(ledger_->computed_root() == ledger_->head().state_root);
}

void SimNode::serve(TimeMs now, Outbox& out) {
  ledger::serve_sync_requests(*sync_, *ledger_, mempool_, now, out,
                              [&](const ledger::BlockHeader& h) { after_commit(h, now); });
}

void SimNode::produce(TimeMs now, Outbox& out) {
  if (!producer_ || now < producer_->next_wakeup()) return;
  if (!sync_->producer_may_build(started_, now)) return;  // committing peers' blocks, or still learning the head
  auto made = ledger::produce_block(*ledger_, mempool_, *producer_, now);
  BC_ASSERT_MSG(made.ok(), "node %u: %s", cfg_.index, made.status().text().c_str());
  if (!*made) return;
  after_commit((*made)->header, now);
  sync_->announce_block((*made)->bytes, now, out);
}

void SimNode::submit_tx(const ledger::Tx& tx, TimeMs now, Outbox& out) {
  if (mempool_.add(tx, *ledger_).ok()) sync_->handle_txs_admitted(std::span(&tx, 1), std::nullopt, now, out);
}

}  // namespace bc::sim
