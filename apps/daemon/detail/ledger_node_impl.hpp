// LedgerNode's state and the functions that work on it, shared by the files
// that each do one job of the node:
//   ledger_node.cpp        lifecycle: opening the ledger and the committee, start, stop
//   ledger_node_sync.cpp   block sync and production: the sync core's inputs and outputs
//   ledger_rpc.cpp         the JSON-RPC methods
//   tx_checks.hpp          admission's state-free half (decode, signature) on workers
//
// Threads (the contract every function below keeps):
//   io thread      the sync core, its StreamNet, the timer, the RPC server;
//                  it never reads ledger state.
//   ledger thread  the Ledger, the Mempool, the tx index, the producer, the
//                  committee (BftNode) and the drop record; validating and
//                  committing a block (fsync included) runs here, so it never
//                  holds up the io thread. It never touches the sync core.
//   check workers (TxChecks) decode and verify the txs clients send and peers
//                  relay before the ledger thread sees them; they touch
//                  nothing above but the ledger's thread-safe SignatureCache.
// Work crosses with post_ledger() / post_io() in both directions.
#pragma once
#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json.hpp>

#include "apps/daemon/ledger_node.hpp"
#include "apps/daemon/tx_checks.hpp"
#include "layers/asio_driver.hpp"
#include "layers/node/params.hpp"
#include "layers/node/rpc_registry.hpp"
#include "layers/stream_net.hpp"
#include "ledger/ledger.hpp"
#include "ledger/mempool.hpp"
#include "ledger/producer.hpp"
#include "ledger/sync.hpp"
#include "ledger/tx_index.hpp"

namespace bc::apps {

struct LedgerNode::Impl : std::enable_shared_from_this<Impl> {
  boost::asio::io_context& io;
  LedgerNodeConfig cfg;
  KeyPair key;
  const routing::DhtNode& dht;
  metrics::Registry& metrics;
  metrics::Counter& m_produced;
  // ---- ledger thread (after start()) ----
  std::unique_ptr<ledger::Ledger> ledger;
  std::unique_ptr<ledger::TxIndex> index;
  ledger::Mempool mempool;
  // Why recent pending txs were dropped by our block builder, the single
  // producer or this validator's proposals (get_tx reports it), the oldest
  // forgotten first beyond kRememberedDrops.
  static constexpr std::size_t kRememberedDrops = 4096;
  std::unordered_map<Hash256, std::string, Hash256Hasher> drops;
  std::deque<Hash256> drop_order;
  std::unique_ptr<ledger::SingleProducer> producer;
  std::unique_ptr<BftNode> bft;  // a validator of a certified chain (made at start-up or on joining)
  std::unique_ptr<MinerNode> miner;  // a validator's audits (made with the ledger; io part stopped first)
  // ---- check workers (created with the ledger, stopped before the ledger thread) ----
  std::unique_ptr<TxChecks> checks;
  boost::asio::io_context ledger_io;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> ledger_work{ledger_io.get_executor()};
  std::thread ledger_thread;
  // ---- io thread ----
  std::unique_ptr<ledger::LedgerBlocks> blocks;  // LevelDB reads only: safe beside a commit
  std::unique_ptr<ledger::SyncCore> sync;
  std::unique_ptr<StreamNet> net;
  boost::asio::steady_timer timer;
  TimeMs timer_at = kNever;
  TimeMs next_discovery = 0;
  TimeMs produce_at = kNever;  // the producer's next slot, as last reported by the ledger thread
  TimeMs started_at = 0;       // start(): the producer's start-up window counts from here
  bool producing = false;      // a production job is on the ledger thread
  bool stopped = false;
  BftNode* bft_started = nullptr;  // the committee node whose transport start() opened

  // ledger_node.cpp: lifecycle (io thread unless said otherwise)
  Impl(boost::asio::io_context& io, const LedgerNodeConfig& c, const KeyPair& k, const routing::DhtNode& dht,
       metrics::Registry& m);
  void open_ledger();
  void open_bft();
  void open_miner();
  Status submit_own_tx(ledger::Tx tx);  // ledger thread: the miner's txs into the mempool and gossip
  std::unique_ptr<BftNode> make_bft();
  void join_committee_if_member();  // ledger thread
  void start_bft(BftNode& node);
  void start();
  void stop();
  void discover(TimeMs now);

  // ---- crossing threads ----
  template <typename Fn>
  void post_ledger(Fn fn) {
    boost::asio::post(ledger_io, std::move(fn));
  }
  // Runs fn on the io thread unless the node stopped (or is gone) by then.
  template <typename Fn>
  void post_io(Fn fn) {
    boost::asio::post(io, [weak = weak_from_this(), fn = std::move(fn)]() mutable {
      if (auto self = weak.lock(); self && !self->stopped) fn();
    });
  }

  // ledger_node_sync.cpp, ledger thread
  void on_bft_committed(std::uint64_t height);
  void after_commit(const ledger::BlockHeader& h, TimeMs now);
  void catch_up_index();
  Status commit_received(const ledger::ApplyBlock& req, TimeMs now);
  // How long a validator lets its committee commit a height before block
  // sync commits a peer's announcement of it: the core's gossip interval, by
  // which time peers have sent a validator that missed the precommits the
  // height's certificate.
  static constexpr TimeMs kCommitteeGraceMs = 200;
  void serve_apply(ledger::ApplyBlock req, bool may_wait);
  std::optional<Bytes> produce_on_ledger(TimeMs now);
  void remember_drop(const Hash256& id, const Status& why);

  // ledger_node_sync.cpp, io thread.
  // Every input to the sync core goes through here: the core's outputs are
  // carried out, its requests sent to the ledger thread, the timer re-armed.
  template <typename Fn>
  void input(Fn&& fn) {
    const TimeMs now = AsioUdpDriver::now_ms();
    Outbox out;
    fn(now, out);
    after_input(now, out);
  }
  void after_input(TimeMs now, Outbox& out);
  void dispatch(ledger::SyncEvent event);
  bool can_produce(TimeMs now) const;
  void maybe_produce(TimeMs now);
  void arm(TimeMs now);

  // ledger_rpc.cpp: the methods, each on the ledger thread (ledger_rpc)
  boost::json::value head_json() const;
  // send_tx: checked on a worker, then admit_checked on the ledger thread.
  void send_tx(const node::Params& p, node::Reply reply);
  // send_txs: a batch of send_tx, each checked and admitted on its own.
  static constexpr std::size_t kMaxTxBatch = 1000;
  struct CheckedBatch {
    CheckedBatch(std::size_t n, node::Reply r) : checked(n), left(n), reply(std::move(r)) {}
    std::vector<std::optional<Result<ledger::Tx>>> checked;  // written by the workers, one slot each
    std::atomic<std::size_t> left;                          // checks not finished yet
    node::Reply reply;
  };
  void send_txs(const node::Params& p, node::Reply reply);
  boost::json::value admit_batch(CheckedBatch& batch);
  boost::json::value admit_checked(const ledger::Tx& tx, std::vector<ledger::Tx>& admitted);
  void gossip_admitted(std::vector<ledger::Tx> admitted);
  boost::json::value get_tx(const node::Params& p);
  boost::json::value get_block(const node::Params& p);
  boost::json::value get_account(const node::Params& p);
  boost::json::value get_escrow(const node::Params& p);
  boost::json::value get_supply(const node::Params& p);
  boost::json::value validators(const node::Params& p);
  boost::json::value validator_status() const;
  boost::json::value miner_call(const std::function<boost::json::value(const MinerNode&)>& fn) const;
  boost::json::value status_json() const;
  // io thread: the sync core's part of ledger_status
  void add_sync_status(boost::json::object& o) const;
  void register_rpc(node::RpcRegistry& rpc);

  // Runs an RPC method on the ledger thread and answers on the io thread.
  template <typename Fn>
  void ledger_rpc(node::Reply reply, Fn fn) {
    post_ledger([this, reply = std::move(reply), fn = std::move(fn)] {
      boost::json::value result;
      int code = 0;
      std::string message;
      try {
        result = fn();
      } catch (const node::RpcError& e) {
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

}  // namespace bc::apps
