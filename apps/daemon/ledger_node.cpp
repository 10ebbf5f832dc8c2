#include "apps/daemon/ledger_node.hpp"

#include <chrono>

#include <boost/asio/steady_timer.hpp>
#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include "apps/common/ledger_json.hpp"
#include "layers/asio_driver.hpp"
#include "layers/ids.hpp"
#include "layers/stream_net.hpp"
#include "ledger/ledger.hpp"
#include "ledger/mempool.hpp"
#include "ledger/producer.hpp"
#include "ledger/sync.hpp"
#include "ledger/tx_index.hpp"

namespace bc::apps {
namespace {
namespace asio = boost::asio;
namespace json = boost::json;
using namespace bc::ledger;

constexpr int kInvalidParams = -32602;
constexpr int kTxRejected = -32010;   // the ledger refused the transaction (message says why)
constexpr int kNotFound = -32004;

[[noreturn]] void bad_param(const std::string& msg) { throw RpcMethodError(kInvalidParams, msg); }

std::string need_str(const json::object& p, const char* name, const char* what) {
  const auto* v = p.if_contains(name);
  if (!v || !v->is_string()) bad_param(std::string("params.") + name + ": expected " + what);
  return std::string(v->as_string());
}

Hash256 need_hash(const json::object& p, const char* name) {
  auto h = Hash256::from_hex(need_str(p, name, "64 hex digits"));
  if (!h) bad_param(std::string("params.") + name + ": expected 64 hex digits");
  return *h;
}
}  // namespace

struct LedgerNode::Impl : std::enable_shared_from_this<Impl> {
  asio::io_context& io;
  LedgerNodeConfig cfg;
  KeyPair key;
  const routing::DhtNode& dht;
  metrics::Registry& metrics;
  std::unique_ptr<Ledger> ledger;
  std::unique_ptr<TxIndex> index;
  Mempool mempool;
  std::unique_ptr<SyncCore> sync;
  std::unique_ptr<SingleProducer> producer;
  std::unique_ptr<StreamNet> net;
  asio::steady_timer timer;
  TimeMs next_discovery = 0;
  bool stopped = false;
  metrics::Counter& m_produced;

  Impl(asio::io_context& io, const LedgerNodeConfig& c, const KeyPair& k, const routing::DhtNode& dht,
       metrics::Registry& m)
      : io(io), cfg(c), key(k), dht(dht), metrics(m), timer(io),
        m_produced(m.counter("bc_ledger_blocks_produced_total", "Blocks this node produced")) {
    auto g = load_genesis_file(cfg.genesis_file);
    if (!g.ok())
      throw std::runtime_error("--genesis " + cfg.genesis_file.string() + ": " + g.status.text());
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
    if (!l.ok()) throw std::runtime_error("ledger at " + cfg.dir.string() + ": " + l.status.text());
    ledger = std::move(*l);
    auto ix = TxIndex::open(cfg.dir.parent_path() / "txindex");
    if (!ix.ok()) throw std::runtime_error(ix.status.text());
    index = std::move(*ix);
    if (auto s = index->catch_up(*ledger); !s.ok()) throw std::runtime_error("tx index: " + s.text());
    sync = std::make_unique<SyncCore>(*ledger, mempool, SyncOptions{},
                                      [this](const BlockHeader& h, TimeMs now) { after_commit(h, now); });
    const TimeMs interval = cfg.block_interval_ms > 0 ? cfg.block_interval_ms : ledger->params().block_interval_ms;
    cfg.block_interval_ms = interval;
    if (cfg.producer) producer = std::make_unique<SingleProducer>(key, interval, AsioUdpDriver::now_ms());
  }

  void after_commit(const BlockHeader& h, TimeMs now) {
    if (producer) producer->on_committed(h, now);
    if (auto s = index->catch_up(*ledger); !s.ok()) spdlog::warn("tx index: {}", s.text());
  }

  void flush(SyncOut& out) {
    for (auto& [peer, bytes] : out.sends) net->send(peer, std::move(bytes));
    for (auto peer : out.drops) net->close(peer);
    out = {};
  }

  void start() {
    auto weak = weak_from_this();
    net = std::make_unique<StreamNet>(
        io, cfg.listen, StreamNetOptions{.metrics = &metrics},
        [weak](StreamNet::ConnId id, const Endpoint&, bool) {
          if (auto self = weak.lock()) {
            SyncOut out;
            self->sync->on_connect(id, AsioUdpDriver::now_ms(), out);
            self->flush(out);
          }
        },
        [weak](StreamNet::ConnId id, ByteView frame) {
          if (auto self = weak.lock()) {
            SyncOut out;
            self->sync->on_message(id, frame, AsioUdpDriver::now_ms(), out);
            self->flush(out);
          }
        },
        [weak](StreamNet::ConnId id) {
          if (auto self = weak.lock()) self->sync->on_disconnect(id);
        });
    net->start();
    for (const auto& b : cfg.bootstrap) net->connect(b);
    tick();
  }

  void discover(TimeMs now) {
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

  void produce(TimeMs now, SyncOut& out) {
    if (!producer || now < producer->next_wakeup()) return;
    // Behind a peer (our store was restored from an old copy): sync first, never fork.
    if (sync->best_peer_height() > ledger->head().height) return;
    auto built = producer->on_tick(*ledger, mempool, now);
    if (!built) return;
    const auto s = ledger->apply_block(built->bytes, now);
    if (!s.ok()) {
      spdlog::error("own block at height {} refused: {}", built->block.header.height, s.text());
      return;
    }
    m_produced.inc();
    mempool.prune(ledger->state());
    after_commit(built->block.header, now);
    sync->announce_block(built->bytes, out);
  }

  void tick() {
    if (stopped) return;
    const TimeMs now = AsioUdpDriver::now_ms();
    SyncOut out;
    discover(now);
    sync->on_tick(now, out);
    produce(now, out);
    flush(out);
    timer.expires_after(std::chrono::milliseconds(20));
    timer.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
      if (auto self = weak.lock(); self && !ec) self->tick();
    });
  }

  void stop() {
    if (stopped) return;
    stopped = true;
    timer.cancel();
    if (net) net->stop();
  }

  // ---- RPC methods ----
  json::value head_json() const {
    const auto& h = ledger->head();
    return json::object{{"height", h.height},
                        {"hash", h.hash.hex()},
                        {"state_root", h.state_root.hex()},
                        {"time_ms", h.time},
                        {"chain_id", ledger->params().chain_id}};
  }

  json::value send_tx(const json::object& p) {
    auto bytes = from_hex(need_str(p, "tx", "the signed transaction as hex (blockcloud-cli send builds it)"));
    if (!bytes) bad_param("params.tx: not valid hex");
    auto tx = decode_tx(*bytes, ledger->params());
    if (!tx.ok()) throw RpcMethodError(kTxRejected, "transaction refused: " + tx.status.text());
    const Hash256 id = tx->id;
    if (index->height_of(id)) throw RpcMethodError(kTxRejected, "transaction refused: already_known: " + id.hex() + " is already committed");
    SyncOut out;
    const auto s = sync->submit_tx(std::move(*tx), out);
    flush(out);
    if (!s.ok() && s.code != Error::kAlreadyKnown) throw RpcMethodError(kTxRejected, "transaction refused: " + s.text());
    return json::object{{"id", id.hex()}, {"status", "pending"}};
  }

  json::value get_tx(const json::object& p) {
    const Hash256 id = need_hash(p, "id");
    json::object o{{"id", id.hex()}};
    if (auto h = index->height_of(id)) {
      o["status"] = "committed";
      o["height"] = *h;
      if (auto b = ledger->block_at(*h)) {
        auto block = decode_block(*b, ledger->params());
        if (block.ok()) {
          o["block_hash"] = header_hash(block->header).hex();
          for (const auto& t : block->txs)
            if (t.id == id) o["tx"] = tx_json(t);
        }
      }
      o["confirmations"] = ledger->head().height - *h + 1;
    } else if (mempool.contains(id)) {
      o["status"] = "pending";
    } else {
      o["status"] = "unknown";
    }
    return o;
  }

  json::value get_block(const json::object& p) {
    std::optional<Bytes> bytes;
    if (const auto* h = p.if_contains("height")) {
      if (h->is_string() && h->as_string() == "latest") bytes = ledger->block_at(ledger->head().height);
      else if (h->is_int64() && h->as_int64() >= 0) bytes = ledger->block_at(static_cast<std::uint64_t>(h->as_int64()));
      else if (h->is_uint64()) bytes = ledger->block_at(h->as_uint64());
      else bad_param("params.height: expected a height >= 0 or \"latest\"");
      if (!bytes)
        throw RpcMethodError(kNotFound, "no block at that height; the head is " + std::to_string(ledger->head().height));
    } else if (p.if_contains("hash")) {
      bytes = ledger->block_by_hash(need_hash(p, "hash"));
      if (!bytes) throw RpcMethodError(kNotFound, "no block with that hash on this node");
    } else {
      bad_param("give params.height (a number or \"latest\") or params.hash (64 hex digits)");
    }
    auto block = decode_block(*bytes, ledger->params());
    if (!block.ok()) throw RpcMethodError(-32603, "stored block does not decode: " + block.status.text());
    auto o = block_json(*block);
    o["size"] = bytes->size();
    return o;
  }

  json::value get_account(const json::object& p) {
    const auto text = need_str(p, "address", "an account address (a...) or 64 hex digits");
    auto addr = parse_address(text);
    if (!addr) bad_param("params.address: \"" + text + "\" is not an account address (a... with a valid checksum, or 64 hex digits)");
    bool want_proof = false;
    if (const auto* v = p.if_contains("proof"); v && v->is_bool()) want_proof = v->as_bool();
    json::object o{{"address", address_text(*addr)}, {"height", ledger->head().height},
                   {"state_root", ledger->head().state_root.hex()}};
    auto acc = ledger->account(*addr);
    o["exists"] = acc.has_value();
    const Account a = acc.value_or(Account{});
    o["balance"] = std::to_string(a.balance);
    o["nonce"] = a.nonce;
    o["bonded"] = std::to_string(a.bonded);
    if (want_proof) {
      auto pr = ledger->prove_account(*addr);
      json::array sib;
      for (const auto& s : pr.proof.siblings) sib.push_back(json::value(s.hex()));
      json::object proof{{"siblings", std::move(sib)}, {"encoded", to_hex(pr.proof.encode())},
                         {"verified", verify_account_proof(pr.state_root, *addr, pr.account, pr.proof)}};
      if (pr.proof.other_leaf)
        proof["other_leaf"] = json::object{{"key", pr.proof.other_leaf->first.hex()},
                                           {"value_hash", pr.proof.other_leaf->second.hex()}};
      else
        proof["other_leaf"] = nullptr;
      o["proof"] = std::move(proof);
      o["state_root"] = pr.state_root.hex();
      o["height"] = pr.height;
    }
    return o;
  }

  json::value status_json() const {
    json::object o = head_json().as_object();
    o["genesis_hash"] = ledger->genesis_hash().hex();
    o["producer"] = producer != nullptr;
    o["block_interval_ms"] = cfg.block_interval_ms;
    o["mempool_txs"] = mempool.size();
    o["mempool_bytes"] = mempool.bytes();
    o["connections"] = net ? net->connections() : 0;
    json::array peers;
    for (const auto& pv : sync->peers()) peers.push_back(json::object{{"conn", pv.id}, {"height", pv.height}, {"hello", pv.hello}});
    o["peers"] = std::move(peers);
    o["best_peer_height"] = sync->best_peer_height();
    const auto& st = sync->stats();
    o["sync"] = json::object{{"blocks_applied", st.blocks_applied}, {"blocks_rejected", st.blocks_rejected},
                             {"blocks_served", st.blocks_served}, {"malformed", st.malformed},
                             {"genesis_mismatch", st.genesis_mismatch}};
    o["tx_index_height"] = index->indexed_height();
    return o;
  }
};

LedgerNode::LedgerNode(asio::io_context& io, const LedgerNodeConfig& cfg, const KeyPair& key,
                       const routing::DhtNode& dht, metrics::Registry& metrics)
    : impl_(std::make_shared<Impl>(io, cfg, key, dht, metrics)) {}
LedgerNode::~LedgerNode() { impl_->stop(); }
void LedgerNode::start() { impl_->start(); }
void LedgerNode::stop() { impl_->stop(); }

std::string LedgerNode::describe() const {
  const auto& h = impl_->ledger->head();
  return "ledger " + impl_->ledger->params().chain_id + " height " + std::to_string(h.height) + " state root " +
         h.state_root.hex().substr(0, 16) + (impl_->producer ? " producer every " + std::to_string(impl_->cfg.block_interval_ms) + " ms" : " follower");
}

void LedgerNode::register_methods(RpcService& rpc) {
  auto* i = impl_.get();
  rpc.add_method("send_tx", [i](const json::object& p) { return i->send_tx(p); });
  rpc.add_method("get_tx", [i](const json::object& p) { return i->get_tx(p); });
  rpc.add_method("get_block", [i](const json::object& p) { return i->get_block(p); });
  rpc.add_method("get_account", [i](const json::object& p) { return i->get_account(p); });
  rpc.add_method("head", [i](const json::object&) { return i->head_json(); });
  rpc.add_method("ledger_status", [i](const json::object&) { return i->status_json(); });
}

}  // namespace bc::apps
