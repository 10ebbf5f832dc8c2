#include "apps/daemon/ledger_node.hpp"

#include <chrono>
#include <deque>
#include <unordered_map>
#include <map>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>

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

using node::Params;
using node::Reply;
using node::RpcError;

constexpr int kTxRejected = -32010;   // the ledger refused the transaction (message says why)
constexpr int kNotFound = -32004;
constexpr TimeMs kSettleMs = SyncOptions{}.hello_timeout_ms;  // the producer's start-up window

Hash256 need_hash(const Params& p, const char* name) {
  constexpr const char* kExpect = "give the hash as 64 hex digits";
  auto h = Hash256::from_hex(p.string(name, kExpect));
  if (!h) p.fail(name, "not 64 hex digits", kExpect);
  return *h;
}
}  // namespace

// Threads: the sync core, its connections and the timer live on the io
// thread (with the DHT, the SAL and the RPC server); the ledger, its mempool,
// the tx index and the producer live on the ledger thread, so validating and
// committing a block (fsync included) never holds up the io thread. Work
// crosses with asio::post in both directions; the io side never reads ledger
// state, the ledger side never touches the core.
struct LedgerNode::Impl : std::enable_shared_from_this<Impl> {
  asio::io_context& io;
  LedgerNodeConfig cfg;
  KeyPair key;
  const routing::DhtNode& dht;
  metrics::Registry& metrics;
  metrics::Counter& m_produced;
  // ---- ledger thread (after start()) ----
  std::unique_ptr<Ledger> ledger;
  std::unique_ptr<TxIndex> index;
  Mempool mempool;
  // Why recent pending txs were dropped by our producer (get_tx reports it),
  // the oldest forgotten first beyond kRememberedDrops.
  static constexpr std::size_t kRememberedDrops = 4096;
  std::unordered_map<Hash256, std::string, Hash256Hasher> drops;
  std::deque<Hash256> drop_order;
  std::unique_ptr<SingleProducer> producer;
  std::unique_ptr<BftNode> bft;  // a validator of a certified chain
  asio::io_context ledger_io;
  asio::executor_work_guard<asio::io_context::executor_type> ledger_work{ledger_io.get_executor()};
  std::thread ledger_thread;
  // ---- io thread ----
  std::unique_ptr<LedgerBlocks> blocks;  // LevelDB reads only: safe beside a commit
  std::unique_ptr<SyncCore> sync;
  std::unique_ptr<StreamNet> net;
  asio::steady_timer timer;
  TimeMs timer_at = kNever;
  TimeMs next_discovery = 0;
  TimeMs produce_at = kNever;  // the producer's next slot, as last reported by the ledger thread
  TimeMs started_at = 0;       // start(): the producer's start-up window counts from here
  bool producing = false;      // a production job is on the ledger thread
  bool stopped = false;

  Impl(asio::io_context& io, const LedgerNodeConfig& c, const KeyPair& k, const routing::DhtNode& dht,
       metrics::Registry& m)
      : io(io), cfg(c), key(k), dht(dht), metrics(m),
        m_produced(m.counter("bc_ledger_blocks_produced_total", "Blocks this node produced")), timer(io) {
    open_ledger();
    blocks = std::make_unique<LedgerBlocks>(*ledger);
    sync = std::make_unique<SyncCore>(ledger->params(), ledger->genesis_hash(),
                                      ChainTip{ledger->head().height, ledger->head().hash}, *blocks, SyncOptions{});
    const TimeMs interval = cfg.block_interval_ms > 0 ? cfg.block_interval_ms : ledger->params().block_interval_ms;
    cfg.block_interval_ms = interval;
    if (cfg.producer) {
      producer = std::make_unique<SingleProducer>(key, interval, AsioUdpDriver::now_ms());
      produce_at = producer->next_wakeup();
    }
    if (cfg.bft) open_bft();
  }

  // On a certified chain the committee makes the blocks: this node joins it
  // when its key is in the next height's committee (and validating is not
  // turned off), and follows by block sync otherwise.
  void open_bft() {
    if (cfg.producer && ledger->certified())
      throw std::runtime_error("--producer: the genesis " + cfg.genesis_file.string() +
                               " has validators, so its committee makes the blocks; run without --producer");
    if (!cfg.bft) return;
    const Membership m = validator_membership(*ledger, key.public_key());
    if (!m.member) {
      if (ledger->certified()) spdlog::info("consensus: following by block sync: {}", m.why);
      return;
    }
    cfg.bft->block_interval_ms = cfg.block_interval_ms;
    bft = std::make_unique<BftNode>(io, ledger_io, *ledger, mempool, *cfg.bft, metrics,
                                    [this](std::uint64_t height) { on_bft_committed(height); });
  }

  // Ledger thread: the committee committed `height`; sync announces it with its certificate.
  void on_bft_committed(std::uint64_t height) {
    catch_up_index();
    auto bytes = ledger->block_at(height);
    auto cert = ledger->certificate_bytes_at(height);
    if (!bytes || !cert) return;
    post_io([this, bytes = std::move(*bytes), cert = std::move(*cert)] {
      input([&](TimeMs now, Outbox& out) { sync->announce_block(bytes, now, out, cert); });
    });
  }

  void open_ledger() {
    auto g = load_genesis_file(cfg.genesis_file);
    if (!g.ok())
      throw std::runtime_error("--genesis " + cfg.genesis_file.string() + ": " + g.status().text());
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

  // ---- crossing threads ----
  template <typename Fn>
  void post_ledger(Fn fn) {
    asio::post(ledger_io, std::move(fn));
  }
  // Runs fn on the io thread unless the node stopped (or is gone) by then.
  template <typename Fn>
  void post_io(Fn fn) {
    asio::post(io, [weak = weak_from_this(), fn = std::move(fn)]() mutable {
      if (auto self = weak.lock(); self && !self->stopped) fn();
    });
  }

  // ---- ledger thread ----
  void after_commit(const BlockHeader& h, TimeMs now) {
    mempool.prune(ledger->state());
    if (producer) producer->on_committed(h, now);
    catch_up_index();
  }

  void catch_up_index() {
    if (auto s = index->catch_up(*ledger); !s.ok()) spdlog::warn("tx index: {}", s.text());
  }

  auto commit_received(const ApplyBlock& req, TimeMs now) {
    auto s = apply_sync_block(*ledger, req);
    if (!s.ok()) return s;
    auto shell = decode_block_shell(req.bytes, ledger->params());
    if (shell.ok()) after_commit(shell->header, now);
    if (bft) bft->on_synced();
    return s;
  }

  // Builds, commits and returns the node's own block when its slot has come.
  std::optional<Bytes> produce_on_ledger(TimeMs now) {
    auto made = produce_block(*ledger, mempool, *producer, now);
    if (!made.ok()) {
      spdlog::error("{}", made.status().text());
      return std::nullopt;
    }
    if (!*made) return std::nullopt;
    m_produced.inc();
    for (const auto& [id, why] : (*made)->dropped) remember_drop(id, why);
    catch_up_index();
    return std::move((*made)->bytes);
  }

  void remember_drop(const Hash256& id, const Status& why) {
    if (!drops.emplace(id, why.text()).second) return;
    drop_order.push_back(id);
    if (drop_order.size() > kRememberedDrops) {
      drops.erase(drop_order.front());
      drop_order.pop_front();
    }
  }

  // ---- io thread ----
  // Every input to the core goes through here: the core's outputs are
  // carried out, its requests sent to the ledger thread, the timer re-armed.
  template <typename Fn>
  void input(Fn&& fn) {
    const TimeMs now = AsioUdpDriver::now_ms();
    Outbox out;
    fn(now, out);
    maybe_produce(now);
    for (auto& f : out.frames) net->send(f.to, std::move(f.payload));
    for (PeerId p : out.disconnects) net->close(p);
    while (auto event = sync->poll_event()) dispatch(std::move(*event));
    arm(now);
  }

  void dispatch(SyncEvent event) {
    if (auto* apply = std::get_if<ApplyBlock>(&event)) {
      post_ledger([this, req = std::move(*apply)] {
        auto s = commit_received(req, AsioUdpDriver::now_ms());
        post_io([this, s = std::move(s)] {
          input([&](TimeMs now, Outbox& out) { sync->handle_block_applied(s, now, out); });
        });
      });
      return;
    }
    post_ledger([this, admit = std::move(std::get<AdmitTx>(event))]() mutable {
      Tx copy = admit.tx;
      if (!mempool.add(std::move(admit.tx), *ledger).ok()) return;
      post_io([this, tx = std::move(copy), from = admit.from] {
        input([&](TimeMs now, Outbox& out) { sync->handle_tx_admitted(tx, from, now, out); });
      });
    });
  }

  // A producer makes its block on the ledger thread when its slot has come and
  // nothing from peers waits to be committed (SyncCore::producer_may_build).
  // A peer's claim of a higher head never holds it: a single producer is the
  // source of its chain, and sync fetches what peers really serve beside it.
  bool can_produce(TimeMs now) const {
    return producer && !producing && sync->producer_may_build(started_at, now);
  }

  void maybe_produce(TimeMs now) {
    if (!can_produce(now) || now < produce_at) return;
    producing = true;
    post_ledger([this, now] {
      std::optional<Bytes> block = produce_on_ledger(now);
      const TimeMs next = producer->next_wakeup();
      post_io([this, block = std::move(block), next] {
        producing = false;
        produce_at = next;
        input([&](TimeMs t, Outbox& out) {
          if (block) sync->announce_block(*block, t, out);
        });
      });
    });
  }

  // The timer fires at the earliest of: the core's next_wakeup(), the next
  // peer discovery and the producer's slot (when it may produce).
  void arm(TimeMs now) {
    if (stopped) return;
    TimeMs at = std::min(sync->next_wakeup(), next_discovery);
    if (can_produce(now)) at = std::min(at, produce_at);
    // Held only by the start-up window: wake when it closes.
    else if (producer && !producing && !sync->applying()) at = std::min(at, std::max(produce_at, started_at + kSettleMs));
    if (at == timer_at) return;
    timer_at = at;
    timer.expires_after(std::chrono::milliseconds(std::max<TimeMs>(0, at - now)));
    timer.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
      auto self = weak.lock();
      if (!self || ec || self->stopped) return;
      self->timer_at = kNever;
      self->input([&](TimeMs now, Outbox& out) {
        self->discover(now);
        self->sync->on_tick(now, out);
      });
    });
  }

  void start() {
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
          if (auto self = weak.lock())
            self->input([&](TimeMs now, Outbox& out) { self->sync->on_peer_down(id, now, out); });
        });
    started_at = AsioUdpDriver::now_ms();
    net->start();
    ledger_thread = std::thread([this] { ledger_io.run(); });
    if (bft) bft->start();
    for (const auto& b : cfg.bootstrap) net->connect(b);
    input([](TimeMs, Outbox&) {});
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

  // Lets the commit under way finish, then ends the ledger thread.
  void stop() {
    if (stopped) return;
    stopped = true;
    timer.cancel();
    if (net) net->stop();
    if (bft) bft->stop();
    ledger_work.reset();
    ledger_io.stop();
    if (ledger_thread.joinable()) ledger_thread.join();
    bft.reset();  // its timer is on ledger_io: gone before ledger_io is
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

  json::value send_tx(const Params& p) {
    const Bytes bytes = p.hex("tx", "give the signed transaction as hex (blockcloud-cli send builds it)");
    auto tx = decode_tx(bytes, ledger->params());
    if (!tx.ok()) throw RpcError(kTxRejected, "transaction refused: " + tx.status().text());
    const Hash256 id = tx->id;
    if (index->height_of(id)) throw RpcError(kTxRejected, "transaction refused: already_known: " + id.hex() + " is already committed");
    Tx copy = *tx;
    const auto s = mempool.add(std::move(*tx), *ledger);
    if (!s.ok() && s.code != Error::kAlreadyKnown) throw RpcError(kTxRejected, "transaction refused: " + s.text());
    if (s.ok()) {
      post_io([this, tx = std::move(copy)] {
        input([&](TimeMs now, Outbox& out) { sync->handle_tx_admitted(tx, std::nullopt, now, out); });
      });
    }
    return json::object{{"id", id.hex()}, {"status", "pending"}};
  }

  json::value get_tx(const Params& p) {
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
    } else if (auto d = drops.find(id); d != drops.end()) {
      o["status"] = "dropped";
      o["reason"] = d->second;
    } else {
      o["status"] = "unknown";
    }
    return o;
  }

  json::value get_block(const Params& p) {
    std::optional<Bytes> bytes;
    constexpr const char* kHeightExpect = "give a height >= 0 or \"latest\"";
    if (const auto* h = p.raw().if_contains("height")) {
      if (h->is_string() && h->as_string() == "latest") bytes = ledger->block_at(ledger->head().height);
      else bytes = ledger->block_at(p.u64("height", kHeightExpect));
      if (!bytes)
        throw RpcError(kNotFound, "no block at that height; the head is " + std::to_string(ledger->head().height));
    } else if (p.has("hash")) {
      bytes = ledger->block_by_hash(need_hash(p, "hash"));
      if (!bytes) throw RpcError(kNotFound, "no block with that hash on this node");
    } else {
      p.fail("height", "missing", "give height (a number or \"latest\") or hash (64 hex digits)");
    }
    auto block = decode_block(*bytes, ledger->params());
    if (!block.ok()) throw RpcError(-32603, "stored block does not decode: " + block.status().text());
    auto o = block_json(*block);
    o["size"] = bytes->size();
    if (auto c = ledger->certificate_at(block->header.height))  // a certified chain: who finalised it
      o["certificate"] = json::object{{"round", c->round}, {"signers", c->precommits.size()}};
    return o;
  }

  json::value get_account(const Params& p) {
    constexpr const char* kExpect = "give an account address (a... with a valid checksum) or 64 hex digits";
    const auto text = p.string("address", kExpect);
    auto addr = parse_address(text);
    if (!addr) p.fail("address", "\"" + text + "\" is not an account address", kExpect);
    const bool want_proof = p.opt_bool("proof", "give proof as true or false").value_or(false);
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

  // validators: every registered validator with its status and stake, and
  // the committee that certifies the next block (docs/staking.md).
  json::value validators(const Params&) {
    const std::uint64_t next = ledger->head().height + 1;
    const Committee* committee = ledger->committee_for(next);
    std::map<Address, Amount> power;
    json::array members;
    Amount total = 0;
    if (committee) {
      for (const auto& m : committee->members) {
        power[m.address] = m.power;
        total += m.power;
        members.push_back(json::object{{"address", address_text(m.address)},
                                       {"consensus_key", to_hex(m.consensus_key.view())},
                                       {"power", std::to_string(m.power)}});
      }
    }
    json::array all;
    for (const auto& [addr, v] : ledger->state().validators()) {
      const auto it = power.find(addr);
      all.push_back(json::object{{"address", address_text(addr)},
                                 {"consensus_key", to_hex(v.consensus_key.view())},
                                 {"status", validator_status_name(v.status)},
                                 {"jailed_until", v.jailed_until},
                                 {"bonded", std::to_string(ledger->account(addr).value_or(Account{}).bonded)},
                                 {"power", it == power.end() ? std::string("0") : std::to_string(it->second)},
                                 {"missed", v.missed},
                                 {"tracked", v.tracked}});
    }
    const auto& params = ledger->params();
    return json::object{{"height", ledger->head().height},
                        {"certified", ledger->certified()},
                        {"next_height", next},
                        {"epoch", committee ? json::value(committee->epoch) : json::value(nullptr)},
                        {"epoch_length", params.epoch_length},
                        {"total_power", std::to_string(total)},
                        {"committee", std::move(members)},
                        {"validators", std::move(all)}};
  }

  // validator_status: the committee core's view, or why this node follows.
  json::value validator_status() const {
    if (bft) return bft->status();
    json::object o{{"validator", false}, {"running", false}, {"head", ledger->head().height}};
    const Membership m = validator_membership(*ledger, key.public_key());
    o["why"] = !cfg.bft && ledger->certified() ? "validating is turned off (--no-validator)"
               : m.member ? "this node's key joined the committee after start-up; restart the node to validate"
                          : m.why;
    return o;
  }

  // ledger_status: the ledger's part (ledger thread) ...
  json::value status_json() const {
    json::object o = head_json().as_object();
    o["genesis_hash"] = ledger->genesis_hash().hex();
    o["producer"] = producer != nullptr;
    o["block_interval_ms"] = cfg.block_interval_ms;
    o["mempool_txs"] = mempool.size();
    o["mempool_bytes"] = mempool.bytes();
    o["tx_index_height"] = index->indexed_height();
    return o;
  }

  // ... and the sync core's (io thread).
  void add_sync_status(json::object& o) const {
    o["connections"] = net ? net->connections() : 0;
    json::array peers;
    for (const auto& pv : sync->peers())
      peers.push_back(json::object{{"conn", pv.id}, {"height", pv.height}, {"hello", pv.hello}, {"outbound", pv.outbound}});
    o["peers"] = std::move(peers);
    o["best_peer_height"] = sync->best_peer_height();
    const auto& st = sync->stats();
    o["sync"] = json::object{{"blocks_applied", st.blocks_applied}, {"blocks_rejected", st.blocks_rejected},
                             {"blocks_served", st.blocks_served}, {"blocks_superseded", st.blocks_superseded}, {"malformed", st.malformed},
                             {"genesis_mismatch", st.genesis_mismatch}, {"hello_timeouts", st.hello_timeouts},
                             {"idle_timeouts", st.idle_timeouts}, {"request_timeouts", st.request_timeouts},
                             {"bad_answers", st.bad_answers}, {"refused_banned", st.refused_banned}};
  }

  // Runs an RPC method on the ledger thread and answers on the io thread.
  template <typename Fn>
  void ledger_rpc(Reply reply, Fn fn) {
    post_ledger([this, reply = std::move(reply), fn = std::move(fn)] {
      json::value result;
      int code = 0;
      std::string message;
      try {
        result = fn();
      } catch (const RpcError& e) {
        code = e.code;
        message = e.what();
      }
      post_io([reply, result = std::move(result), code, message] {
        if (code != 0) return reply.fail(code, message);
        reply.ok(result);
      });
    });
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
         h.state_root.hex().substr(0, 16) + (impl_->producer ? " producer every " + std::to_string(impl_->cfg.block_interval_ms) + " ms"
                          : impl_->bft ? " validator" : " follower");
}

// Every ledger method runs on the ledger thread (it reads state a commit may
// be changing); ledger_status adds the sync core's view on the io thread.
void LedgerNode::register_rpc(node::RpcRegistry& rpc) {
  auto* i = impl_.get();
  auto on_ledger = [&rpc, i](const char* name, json::value (Impl::*method)(const Params&)) {
    rpc.add_async(name, [i, method](const Params& p, Reply reply) {
      i->ledger_rpc(std::move(reply), [i, method, p] { return (i->*method)(p); });
    });
  };
  on_ledger("send_tx", &Impl::send_tx);
  on_ledger("get_tx", &Impl::get_tx);
  on_ledger("get_block", &Impl::get_block);
  on_ledger("get_account", &Impl::get_account);
  on_ledger("validators", &Impl::validators);
  rpc.add_async("validator_status", [i](const Params&, Reply reply) {
    i->ledger_rpc(std::move(reply), [i] { return i->validator_status(); });
  });
  rpc.add_async("head", [i](const Params&, Reply reply) {
    i->ledger_rpc(std::move(reply), [i] { return i->head_json(); });
  });
  rpc.add_async("ledger_status", [i](const Params&, Reply reply) {
    i->post_ledger([i, reply = std::move(reply)] {
      json::object o = i->status_json().as_object();
      i->post_io([i, reply, o = std::move(o)]() mutable {
        i->add_sync_status(o);
        reply.ok(std::move(o));
      });
    });
  });
}

}  // namespace bc::apps
