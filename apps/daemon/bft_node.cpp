#include "apps/daemon/bft_node.hpp"

#include <atomic>
#include <chrono>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include "apps/daemon/bft_status.hpp"
#include "consensus/node/equivocator.hpp"
#include "consensus/node/file_store.hpp"
#include "consensus/node/validator.hpp"
#include "layers/asio_driver.hpp"
#include "layers/stream_net.hpp"
#include "ledger/validators.hpp"

namespace bc::apps {
namespace asio = boost::asio;
namespace json = boost::json;

Membership validator_membership(const ledger::Ledger& ledger, const XOnlyPubKey& key) {
  if (!ledger.certified()) return {false, "the chain has no committee (its genesis has no validators)"};
  const std::uint64_t next = ledger.head().height + 1;
  const ledger::Committee* c = ledger.committee_for(next);
  if (!c) return {false, "no committee is known for height " + std::to_string(next) + " yet"};
  if (!ledger::find_member(*c, key))
    return {false, "this node's key " + to_hex(key.view()) + " is not in the committee of height " + std::to_string(next)};
  return {true, ""};
}

namespace {
// The core's options for this chain: its genesis hash, blocks as large as
// the chain allows, and the block interval as the pause after a decision.
bft::BftOptions bft_options(const ledger::Ledger& ledger, TimeMs block_interval_ms) {
  bft::BftOptions o;
  o.chain_id = ledger.genesis_hash();
  o.commit_ms = block_interval_ms;
  o.limits.max_value_bytes = std::max<std::size_t>(o.limits.max_value_bytes, ledger.params().max_block_bytes);
  o.limits.max_frame_bytes = o.limits.max_value_bytes + (256u << 10);  // votes of a proof of lock beside the block
  return o;
}
}  // namespace

struct BftNode::Impl : std::enable_shared_from_this<Impl> {
  asio::io_context& ledger_io;
  ledger::Ledger& ledger;
  ledger::Mempool& mempool;
  BftNodeConfig cfg;
  OnCommitted on_committed;
  OnDropped on_dropped;
  // ---- ledger thread ----
  BftReport report;
  std::unique_ptr<consensus::Validator> validator;
  std::unique_ptr<consensus::Equivocator> equivocator;  // test-only fault (cfg.test_equivocate)
  asio::steady_timer timer;  // on ledger_io
  TimeMs timer_at = kNever;
  bool failed = false;  // the store or the ledger failed: the core is stopped
  // ---- consensus network thread ----
  // The transport's own thread: a proposal or a vote never waits behind the
  // node's io thread (RPC calls, tx gossip, DHT), which under load is busy
  // with thousands of small frames and calls per second.
  asio::io_context net_io;
  asio::executor_work_guard<asio::io_context::executor_type> net_work{net_io.get_executor()};
  std::thread net_thread;
  std::unique_ptr<StreamNet> net;  // after net_io: closed before it goes
  std::atomic<bool> stopped{false};

  Impl(asio::io_context& lio, ledger::Ledger& l, ledger::Mempool& mp, BftNodeConfig c, metrics::Registry& m,
       OnCommitted cb, OnDropped dropped)
      : ledger_io(lio), ledger(l), mempool(mp), cfg(std::move(c)), on_committed(std::move(cb)),
        on_dropped(std::move(dropped)), report(m),
        timer(lio) {}

  // Runs fn on the ledger thread while the node and its core are alive.
  template <typename Fn>
  void post_ledger(Fn fn) {
    asio::post(ledger_io, [weak = weak_from_this(), fn = std::move(fn)]() mutable {
      if (auto self = weak.lock(); self && !self->failed) fn(*self);
    });
  }
  template <typename Fn>
  void post_io(Fn fn) {
    asio::post(net_io, [weak = weak_from_this(), fn = std::move(fn)]() mutable {
      if (auto self = weak.lock(); self && !self->stopped) fn(*self);
    });
  }

  // ---- ledger thread ----
  // Every input to the validator goes through here: fn(now) returns the step.
  template <typename Fn>
  void input(Fn&& fn) {
    if (!validator || failed) return;
    carry_out(fn(AsioUdpDriver::now_ms()));
  }

  // The step's writes are durable already (Validator::run): its frames may leave.
  void carry_out(consensus::ValidatorStep step) {
    if (!step.fatal.ok()) return stop_core(step.fatal);
    for (std::uint64_t h : step.committed) {
      report.committed(AsioUdpDriver::now_ms());
      on_committed(h);
    }
    report.update(validator->core());
    if (equivocator) equivocator->apply(step.frames);
    if (!step.frames.empty() || !step.disconnects.empty()) {
      post_io([frames = std::move(step.frames), gone = std::move(step.disconnects)](Impl& self) mutable {
        for (auto& f : frames) self.net->send(f.to, std::move(f.payload));
        for (PeerId p : gone) self.net->close(p);
      });
    }
    arm();
  }

  // A store or ledger failure: signing on could break the never-sign-twice
  // rule or fork this node, so the core stops and the operator is told.
  void stop_core(const Status& why) {
    failed = true;
    timer.cancel();
    spdlog::error("consensus stopped: {}; the node keeps following by block sync; fix the cause and restart it",
                  why.text());
  }

  void arm() {
    const TimeMs at = validator->next_wakeup();
    if (at == timer_at) return;
    timer_at = at;
    if (at == kNever) return;
    timer.expires_after(std::chrono::milliseconds(std::max<TimeMs>(0, at - AsioUdpDriver::now_ms())));
    timer.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
      auto self = weak.lock();
      if (!self || ec || self->failed) return;
      self->timer_at = kNever;
      self->input([&](TimeMs now) { return self->validator->tick(now); });
    });
  }

  void open_validator() {
    auto store = consensus::FileStore::open(cfg.dir);
    if (!store.ok()) return stop_core(store.status());
    auto v = consensus::Validator::create(bft_options(ledger, cfg.block_interval_ms), ledger, mempool,
                                          cfg.consensus_key, std::make_unique<consensus::FileStore>(std::move(*store)),
                                          [] { return AsioUdpDriver::now_ms(); });
    if (!v.ok()) return stop_core(v.status());
    validator = std::move(*v);
    validator->on_dropped(on_dropped);
    if (cfg.test_equivocate) {
      equivocator = std::make_unique<consensus::Equivocator>(cfg.consensus_key, bft_options(ledger, cfg.block_interval_ms).limits);
      spdlog::warn("consensus: TEST FAULT: this validator signs two votes in every slot (--test-fault equivocate); "
                   "the committee will slash 5% of its stake and ban it for good");
    }
    spdlog::info("consensus: validator {} at height {} ({} peers configured, signer record in {})",
                 to_hex(cfg.consensus_key.public_key().view()).substr(0, 16), validator->core().height(),
                 cfg.peers.size(), cfg.dir.string());
    input([&](TimeMs now) { return validator->start(now); });
  }

  // ---- consensus network thread ----
  // Binds at once so a taken address stops the daemon at start-up.
  void open_net() {
    auto weak = weak_from_this();
    net = std::make_unique<StreamNet>(
        net_io, cfg.listen, StreamNetOptions{},
        [weak](StreamNet::ConnId id, const Endpoint& remote, bool outbound) {
          if (auto self = weak.lock())
            self->post_ledger([id, remote, outbound](Impl& s) {
              s.input([&](TimeMs now) { return s.validator->peer_up(id, remote, outbound, now); });
            });
        },
        [weak](StreamNet::ConnId id, ByteView frame) {
          if (auto self = weak.lock())
            self->post_ledger([id, bytes = Bytes(frame.begin(), frame.end())](Impl& s) {
              s.input([&](TimeMs now) { return s.validator->frame(id, bytes, now); });
            });
        },
        [weak](StreamNet::ConnId id) {
          if (auto self = weak.lock())
            self->post_ledger([id](Impl& s) { s.input([&](TimeMs now) { return s.validator->peer_down(id, now); }); });
        });
  }

  void start() {
    net->start();  // throws if it cannot bind: then no core runs
    // Posted before any connection can report (their callbacks run on the
    // network thread, started below): the validator exists before its first input.
    post_ledger([](Impl& s) { s.open_validator(); });
    for (const auto& p : cfg.peers) net->connect(p);
    net_thread = std::thread([this] { net_io.run(); });
  }

  // Any thread but the network thread.
  void stop() {
    if (stopped.exchange(true)) return;
    if (net_thread.joinable()) {
      asio::post(net_io, [this] { net->stop(); });
      net_work.reset();
      net_thread.join();
    } else if (net) {
      net->stop();
    }
    asio::post(ledger_io, [weak = weak_from_this()] {
      if (auto self = weak.lock()) self->timer.cancel();
    });
  }

  json::value status() const {
    json::object o{{"validator", true},
                   {"running", validator != nullptr && !failed},
                   {"consensus_key", to_hex(cfg.consensus_key.public_key().view())},
                   {"listen", cfg.listen.to_string()}};
    if (!validator) return o;
    for (auto& [k, v] : report.status(validator->core())) o[k] = v;
    o["peers"] = validator->peers();
    const auto& ev = validator->evidence();
    o["evidence"] = json::object{{"pending", ev.size()}, {"found", ev.stats().added}, {"done", ev.stats().pruned}};
    if (equivocator) o["test_fault"] = json::object{{"equivocate", true}, {"forged_votes", equivocator->forged()}};
    return o;
  }
};

BftNode::BftNode(asio::io_context& ledger_io, ledger::Ledger& ledger, ledger::Mempool& mempool, BftNodeConfig cfg,
                 metrics::Registry& metrics, OnCommitted on_committed, OnDropped on_dropped)
    : impl_(std::make_shared<Impl>(ledger_io, ledger, mempool, std::move(cfg), metrics, std::move(on_committed),
                                   std::move(on_dropped))) {
  BC_ASSERT(ledger.certified());
  impl_->open_net();
}
BftNode::~BftNode() { impl_->stop(); }
void BftNode::start() { impl_->start(); }
void BftNode::stop() { impl_->stop(); }
void BftNode::on_synced() {
  auto& i = *impl_;
  if (!i.validator || i.failed) return;
  if (i.validator->core().height() > i.ledger.head().height) return;
  i.report.new_core();
  i.input([&](TimeMs now) { return i.validator->resync(now); });
}
bool BftNode::deciding(std::uint64_t height) const {
  const auto& i = *impl_;
  return i.validator && !i.failed && i.validator->core().height() == height;
}
json::value BftNode::status() const { return impl_->status(); }

}  // namespace bc::apps
