// LedgerNode's lifecycle: opening the ledger, the tx index and the committee,
// starting and stopping the ledger thread and the sync transport
// (apps/daemon/detail/ledger_node_impl.hpp says which thread owns what).
#include "apps/daemon/ledger_node.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "apps/daemon/detail/ledger_node_impl.hpp"
#include "layers/crypto.hpp"

namespace bc::apps {
namespace asio = boost::asio;
using namespace bc::ledger;

LedgerNode::Impl::Impl(asio::io_context& io, const LedgerNodeConfig& c, const KeyPair& k, const routing::DhtNode& dht,
                       metrics::Registry& m)
    : io(io), cfg(c), key(k), dht(dht), metrics(m),
      m_produced(m.counter("bc_ledger_blocks_produced_total", "Blocks this node produced")), timer(io) {
  open_ledger();
  checks = std::make_unique<TxChecks>(ledger->params(), ledger->sig_cache(),
                                      std::max(1u, std::thread::hardware_concurrency()));
  blocks = std::make_unique<LedgerBlocks>(*ledger);
  sync = std::make_unique<SyncCore>(ledger->params(), ledger->genesis_hash(),
                                    ChainTip{ledger->head().height, ledger->head().hash}, *blocks,
                                    SyncOptions{.node_nonce = random_u64() | 1});  // never 0, which says none
  const TimeMs interval = cfg.block_interval_ms > 0 ? cfg.block_interval_ms : ledger->params().block_interval_ms;
  cfg.block_interval_ms = interval;
  if (cfg.producer) {
    producer = std::make_unique<SingleProducer>(key, interval, AsioUdpDriver::now_ms());
    produce_at = producer->next_wakeup();
  }
  if (cfg.bft) open_bft();
  open_miner();
}

// Audits run on a validator of a certified chain unless turned off (no
// MinerConfig); the miner itself says when its account cannot commit.
void LedgerNode::Impl::open_miner() {
  if (!cfg.miner || !cfg.bft || !ledger->certified()) return;
  miner = std::make_unique<MinerNode>(
      io, *cfg.miner, *ledger, mempool, metrics, [this](std::function<void()> fn) { post_io(std::move(fn)); },
      [this](std::function<void()> fn) { post_ledger(std::move(fn)); }, [this](Tx tx) { return submit_own_tx(std::move(tx)); });
}

Status LedgerNode::Impl::submit_own_tx(Tx tx) {
  Tx copy = tx;
  Status s = mempool.add(std::move(tx), *ledger);
  if (s.ok()) gossip_admitted({std::move(copy)});
  return s;
}

// On a certified chain the committee makes the blocks: this node joins it
// when its key is in the next height's committee (and validating is not
// turned off), and follows by block sync otherwise, until a commit brings
// its key into the committee (join_committee_if_member).
void LedgerNode::Impl::open_bft() {
  if (cfg.producer && ledger->certified())
    throw std::runtime_error("--producer: the genesis " + cfg.genesis_file.string() +
                             " has validators, so its committee makes the blocks; run without --producer");
  if (!cfg.bft) return;
  cfg.bft->block_interval_ms = cfg.block_interval_ms;
  const Membership m = validator_membership(*ledger, key.public_key());
  if (!m.member) {
    if (ledger->certified()) spdlog::info("consensus: following by block sync: {}", m.why);
    return;
  }
  bft = make_bft();
}

std::unique_ptr<BftNode> LedgerNode::Impl::make_bft() {
  return std::make_unique<BftNode>(
      ledger_io, *ledger, mempool, *cfg.bft, metrics, [this](std::uint64_t height) { on_bft_committed(height); },
      [this](const Hash256& id, const Status& why) { remember_drop(id, why); });
}

// Ledger thread, after a commit: a follower whose key the commit brought into
// the next height's committee (a bond with its key, an epoch on) starts
// validating. The core is made here, where the ledger may be read; its
// transport opens on the io thread. A node that leaves the committee keeps its
// core, which signs nothing at heights whose set lacks its key.
void LedgerNode::Impl::join_committee_if_member() {
  if (bft || !cfg.bft || !ledger->certified()) return;
  if (!validator_membership(*ledger, key.public_key()).member) return;
  spdlog::info("consensus: this node's key is in the committee of height {}; validating from now on",
               ledger->head().height + 1);
  bft = make_bft();
  post_io([this, node = bft.get()] { start_bft(*node); });
}

// io thread: opens the core's transport; a node that cannot keeps following.
void LedgerNode::Impl::start_bft(BftNode& node) {
  try {
    node.start();
    bft_started = &node;
  } catch (const std::exception& e) {
    spdlog::error("consensus: cannot start validating: {}; this node keeps following by block sync", e.what());
  }
}

void LedgerNode::Impl::open_ledger() {
  auto g = load_genesis_file(cfg.genesis_file);
  if (!g.ok()) throw std::runtime_error("--genesis " + cfg.genesis_file.string() + ": " + g.status().text());
  if (cfg.producer) {
    const auto& ps = g->params.producers;
    if (!ps.empty() && std::find(ps.begin(), ps.end(), key.public_key()) == ps.end())
      throw std::runtime_error("--producer: this node's key " + to_hex(key.public_key().view()) +
                               " is not among the genesis producers; put it in params.producers of " +
                               cfg.genesis_file.string() + " or run without --producer");
  }
  LedgerOptions lo;
  lo.dir = cfg.dir;
  lo.genesis = *g;
  lo.verify_threads = 2;
  lo.metrics = &metrics;
  auto l = Ledger::open(std::move(lo));
  if (!l.ok()) throw std::runtime_error("ledger at " + cfg.dir.string() + ": " + l.status().text());
  ledger = std::move(*l);
  auto ix = TxIndex::open(cfg.dir.parent_path() / "txindex");
  if (!ix.ok()) throw std::runtime_error(ix.status().text());
  index = std::move(*ix);
  if (auto s = index->catch_up(*ledger); !s.ok()) throw std::runtime_error("tx index: " + s.text());
}

void LedgerNode::Impl::start() {
  auto weak = weak_from_this();
  net = std::make_unique<StreamNet>(
      io, cfg.listen, StreamNetOptions{.metrics = &metrics},
      [weak](StreamNet::ConnId id, const Endpoint& remote, bool outbound) {
        if (auto self = weak.lock())
          self->input([&](TimeMs now, Outbox& out) { self->sync->on_peer_up(id, remote, outbound, now, out); });
      },
      [weak](StreamNet::ConnId id, ByteView frame) {
        if (auto self = weak.lock())
          self->input([&](TimeMs now, Outbox& out) { self->sync->on_frame(id, frame, now, out); });
      },
      [weak](StreamNet::ConnId id) {
        if (auto self = weak.lock()) self->input([&](TimeMs now, Outbox& out) { self->sync->on_peer_down(id, now, out); });
      });
  started_at = AsioUdpDriver::now_ms();
  net->start();
  ledger_thread = std::thread([this] { ledger_io.run(); });
  if (bft) {
    bft->start();  // throws at start-up: the operator fixes --bft-listen
    bft_started = bft.get();
  }
  for (const auto& b : cfg.bootstrap) net->connect(b);
  input([](TimeMs, Outbox&) {});
}

void LedgerNode::Impl::discover(TimeMs now) {
  if (now < next_discovery) return;
  next_discovery = now + 2000;
  std::size_t wanted = 0;
  for (const auto& c : dht.contacts()) {
    if (wanted >= cfg.max_peers) break;
    if (c.endpoint == cfg.listen) continue;
    ++wanted;
    net->connect(c.endpoint);
  }
}

// Lets the commit under way finish, then ends the ledger thread.
void LedgerNode::Impl::stop() {
  if (stopped) return;
  stopped = true;
  if (miner) miner->stop_io();  // its probes live on the io thread
  timer.cancel();
  if (net) net->stop();
  if (bft_started) bft_started->stop();
  if (checks) checks->stop();  // no check posts to the ledger thread after this
  ledger_work.reset();
  ledger_io.stop();
  if (ledger_thread.joinable()) ledger_thread.join();
  bft.reset();  // its timer is on ledger_io: gone before ledger_io is
  miner.reset();
}

LedgerNode::LedgerNode(asio::io_context& io, const LedgerNodeConfig& cfg, const KeyPair& key,
                       const routing::DhtNode& dht, metrics::Registry& metrics)
    : impl_(std::make_shared<Impl>(io, cfg, key, dht, metrics)) {}
LedgerNode::~LedgerNode() { impl_->stop(); }
void LedgerNode::start() { impl_->start(); }
void LedgerNode::stop() { impl_->stop(); }
void LedgerNode::register_rpc(node::RpcRegistry& rpc) { impl_->register_rpc(rpc); }

std::string LedgerNode::describe() const {
  const auto& h = impl_->ledger->head();
  return "ledger " + impl_->ledger->params().chain_id + " height " + std::to_string(h.height) + " state root " +
         h.state_root.hex().substr(0, 16) +
         (impl_->producer ? " producer every " + std::to_string(impl_->cfg.block_interval_ms) + " ms"
          : impl_->bft    ? " validator"
                          : " follower") +
         // Said here, after the daemon's first line (which names the node).
         (impl_->miner ? ", auditing as " + to_hex(impl_->cfg.miner->auditor_key.public_key().view()) + " (turn off with --no-audit)"
                       : "");
}

}  // namespace bc::apps
