#include "apps/daemon/daemon.hpp"

#include <chrono>
#include <filesystem>
#include <functional>

#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

#include "apps/common/dht_config.hpp"
#include "apps/daemon/test_faults.hpp"
#include "layers/config.hpp"
#include "layers/ids.hpp"
#include "layers/log.hpp"
#include "layers/private_dir.hpp"
#include "sal/node/service_node.hpp"

namespace bc::apps {
namespace {
namespace fs = std::filesystem;

// The datadir exists, logging goes where the config says, the node key is loaded.
KeyPair open_datadir(const NodeConfig& cfg) {
  // 0700 whatever the umask: the key, the ledger and RPC credentials live here.
  if (auto made = create_private_dirs(cfg.datadir); !made.ok())
    throw std::runtime_error("cannot create datadir: " + made.message + "; choose a writable --datadir");
  fs::path log_file;
  if (!cfg.log_file.empty())
    log_file = fs::path(cfg.log_file).is_absolute() ? fs::path(cfg.log_file) : cfg.datadir / cfg.log_file;
  log::setup(cfg.log_level, log_file);
  return load_or_create_key_file(cfg.datadir / "node.key");
}

sal::NodeStackConfig stack_config(const NodeConfig& cfg, const routing::DhtConfig& dht, const LedgerOptions& lo) {
  sal::NodeStackConfig sc;
  sc.dht_listen = cfg.listen;
  // Flows are accepted on TCP at the DHT's IP, one port up (the DHT's own
  // port carries the ledger's block sync over TCP).
  sc.flow_listen = std::nullopt;
  sc.bootstrap = cfg.bootstrap;
  sc.dht = dht;
  sc.log = [](sal::HostLogLevel level, const std::string& line) {
    if (level == sal::HostLogLevel::kWarn) spdlog::warn("sal: {}", line);
    else if (level == sal::HostLogLevel::kInfo) spdlog::info("sal: {}", line);
    else spdlog::debug("sal: {}", line);
  };
  sc.accept_flow = favour_validators_filter(lo);  // empty unless that test fault
  return sc;
}

routing::DhtModuleInfo dht_info(const NodeConfig& cfg, const routing::DhtConfig& dht, const KeyPair& key) {
  routing::DhtModuleInfo info;
  info.version = kVersion;
  info.mode = mode_name(dht.mode);
  info.rpc = cfg.rpc->to_string();
  info.started_at_ms = AsioUdpDriver::now_ms();
  info.node_key = key.public_key();
  info.default_ttl_ms = dht.default_ttl_ms;
  info.max_ttl_ms = dht.max_ttl_ms;
  info.max_watch_timeout_ms = cfg.rpc_limits.max_watch_timeout_ms;
  return info;
}

// The configured rpc_auth users; a malformed line stops the daemon.
std::vector<RpcUser> rpc_users(const NodeConfig& cfg) {
  std::vector<RpcUser> users;
  for (const auto& line : cfg.rpc_auth) {
    auto u = parse_rpcauth_line(line);
    if (!u.ok()) throw ConfigError("rpc_auth: \"" + line + "\": " + u.status().message);
    users.push_back(std::move(*u));
  }
  return users;
}

// Consensus settings for a node that may validate: the node key is the
// consensus key, the signer's record lives in DATADIR/bft, and consensus
// messages go over TCP at the DHT's IP, port + 2 unless --bft-listen says.
BftNodeConfig bft_config(const LedgerOptions& lo, const fs::path& datadir, const Endpoint& dht, const KeyPair& key) {
  BftNodeConfig c{key, dht, {}, datadir / "bft"};
  if (!lo.bft_listen.empty()) {
    c.listen = parse_endpoint_or_throw(lo.bft_listen, "--bft-listen");
  } else {
    if (dht.port > 65533)
      throw ConfigError("--listen port " + std::to_string(dht.port) +
                        " leaves no port for consensus (listen port + 2); set --bft-listen IP:PORT");
    c.listen.port = static_cast<std::uint16_t>(dht.port + 2);
  }
  for (const auto& p : lo.bft_peers) c.peers.push_back(parse_endpoint_or_throw(p, "--bft-peer"));
  c.test_equivocate = lo.test_fault == "equivocate";  // checked by check_test_fault
  return c;
}

// A validator's audits: the node key audits, probes resolve through this
// node's SAL and leave from its IP, commitments come from the node key's
// account unless --audit-account-key names the validator account's key.
MinerConfig miner_config(const LedgerOptions& lo, sal::NodeStack& stack, const KeyPair& key) {
  MinerConfig m{key, std::nullopt, sal::host_hooks(stack.driver(), stack.core()), stack.driver().local_endpoint()};
  if (lo.probe_relay) {
    // Every node's flow port is its DHT port + 1 (sal/node/node_stack.cpp);
    // a node that set another one refuses the relay dial, and that probe
    // attempt fails like any relay that drops it.
    m.probe_relays = [&dht = stack.dht()] {
      std::vector<std::pair<NodeId, Endpoint>> out;
      for (const auto& c : dht.contacts()) {
        if (c.endpoint.port == 65535) continue;
        Endpoint flow = c.endpoint;
        ++flow.port;
        out.emplace_back(c.id, flow);
      }
      return out;
    };
  }
  if (!lo.audit_account_key.empty()) {
    if (!fs::is_regular_file(lo.audit_account_key))
      throw ConfigError("--audit-account-key " + lo.audit_account_key +
                        " is not a file; give the validator account's wallet key file (NAME.key)");
    m.account_key = load_or_create_key_file(lo.audit_account_key);
  }
  return m;
}
}  // namespace

Daemon::Daemon(const NodeConfig& cfg, const routing::DhtConfig& dht, const LedgerOptions& lo,
               sal::SalModuleConfig sal, std::optional<storage::StorageModuleConfig> storage)
    : cfg_(cfg),
      mode_(mode_name(dht.mode)),
      key_(open_datadir(cfg_)),
      stack_(io_, key_, stack_config(cfg_, dht, lo), metrics_),
      dht_(io_, stack_.dht(), stack_.driver(), metrics_, dht_info(cfg_, dht, key_)),
      sal_(stack_, std::move(sal)) {
  modules_ = {&dht_, &sal_};
  check_test_fault(lo, storage.has_value());  // refused here unless BC_TEST_FAULTS=1 and a known fault
  const bool equivocate = lo.test_fault == "equivocate";
  // The ledger is enabled by --genesis; without it the node is DHT and SAL only.
  if (!lo.genesis.empty()) {
    LedgerNodeConfig lc;
    lc.genesis_file = lo.genesis;
    lc.dir = cfg_.datadir / "ledger";
    lc.listen = stack_.driver().local_endpoint();
    lc.bootstrap = cfg_.bootstrap;
    lc.producer = lo.producer;
    lc.block_interval_ms = lo.block_interval_ms;
    lc.max_peers = lo.max_peers;
    if (lo.validator) lc.bft = bft_config(lo, cfg_.datadir, lc.listen, key_);
    if (lo.validator && lo.audit) lc.miner = miner_config(lo, stack_, key_);
    if (!lo.validator && equivocate) throw ConfigError("--test-fault equivocate needs a validator; drop --no-validator");
    ledger_ = std::make_unique<LedgerNode>(io_, lc, key_, stack_.dht(), metrics_);
    modules_.push_back(ledger_.get());
  } else if (lo.producer) {
    throw std::runtime_error("--producer needs --genesis FILE (the chain to produce blocks for)");
  } else if (equivocate) {
    throw ConfigError("--test-fault equivocate needs a validator of a certified chain; give --genesis FILE");
  }
  if (storage) {
    storage->test_wrong_answers = lo.test_fault == "storage-wrong-answers";
    storage_ = std::make_unique<storage::StorageModule>(stack_, std::move(*storage));
    modules_.push_back(storage_.get());
  }
  for (auto* m : modules_) m->register_rpc(registry_);
  auto users = rpc_users(cfg_);
  server_ = std::make_unique<HttpServer>(
      io_, *cfg_.rpc, cfg_.rpc_limits, std::vector<std::string>{"/health", "/metrics"},
      [this](const HttpRequest& req, const HttpRequestContext& ctx, Respond respond) {
        rpc_->handle(req, ctx, std::move(respond));
      },
      metrics_);
  // Written once the port is ours, so a cookie always belongs to a daemon
  // that listens.
  auto cookie = write_cookie_file(cfg_.datadir);
  if (!cookie.ok())
    throw std::runtime_error("cannot write the RPC cookie: " + cookie.status().message +
                             "; check that the datadir is writable");
  cookie_ = *cookie;
  RpcServiceInfo info{id_to_text('n', stack_.dht().id()), AsioUdpDriver::now_ms(),
                      cfg_.rpc_limits.max_pending_per_client};
  rpc_ = std::make_unique<RpcService>(registry_, metrics_, std::move(info),
                                      RpcAccess(*cfg_.rpc, RpcAuthenticator(cookie_, std::move(users))));
}

// Each module stops itself when destroyed.
Daemon::~Daemon() {
  if (!cookie_.password.empty()) remove_cookie_file(cfg_.datadir, cookie_);
}

void Daemon::start() {
  stack_.start();
  server_->start();
  spdlog::info("blockcloudd {} node {} listen udp {} rpc http://{} mode {} datadir {} bootstrap {}", kVersion,
               id_to_text('n', stack_.dht().id()), stack_.driver().local_endpoint().to_string(),
               server_->local_endpoint().to_string(), mode_, cfg_.datadir.string(), cfg_.bootstrap.size());
  if (ledger_) spdlog::info("{}", ledger_->describe());  // before its thread starts
  for (auto* m : modules_) m->start();
  const auto socks = sal_.socks_endpoint();
  spdlog::info("flows tcp {} socks5 {}", stack_.flow_endpoint().to_string(),
               socks ? socks->to_string() : std::string("off"));
}

int Daemon::run() {
  start();
  boost::asio::signal_set signals(io_, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& e, int sig) {
    if (e) return;
    spdlog::info("signal {} received: shutting down", sig);
    shut_down();
    signals.async_wait([&](const boost::system::error_code& e2, int) {
      if (!e2) io_.stop();  // a second signal stops at once
    });
  });
  io_.run();
  spdlog::info("blockcloudd stopped");
  spdlog::default_logger()->flush();
  return 0;
}

void Daemon::shut_down() {
  for (auto it = modules_.rbegin(); it != modules_.rend(); ++it) (*it)->stop();
  server_->stop();
  stack_.stop();
  auto timer = std::make_shared<boost::asio::steady_timer>(io_);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  // Stops the loop once pending answers are written (or after 2 s at most).
  auto wait = std::make_shared<std::function<void()>>();
  *wait = [this, timer, deadline, weak = std::weak_ptr<std::function<void()>>(wait)] {
    if (server_->open_connections() == 0 || std::chrono::steady_clock::now() >= deadline) {
      io_.stop();
      return;
    }
    timer->expires_after(std::chrono::milliseconds(20));
    timer->async_wait([next = weak.lock()](const boost::system::error_code& ec) {
      if (!ec && next) (*next)();
    });
  };
  (*wait)();
}

}  // namespace bc::apps
