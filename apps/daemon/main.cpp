// blockcloudd: one Blockcloud node. The DHT speaks UDP on --listen; the
// JSON-RPC, /metrics and /health are served over HTTP on --rpc; both run on
// one single-threaded io_context.
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

#include "apps/common/dht_config.hpp"
#include "apps/daemon/http_server.hpp"
#include "apps/daemon/ledger_node.hpp"
#include "apps/daemon/rpc_service.hpp"
#include "apps/daemon/sal_node.hpp"
#include "layers/asio_driver.hpp"
#include "layers/config.hpp"
#include "layers/crypto.hpp"
#include "layers/ids.hpp"
#include "layers/log.hpp"
#include "routing/dht.hpp"

namespace {
constexpr const char* kVersion = "0.1.0";

struct SalFlags {
  std::string socks;  // IP:PORT, "off", or empty for the default
  std::vector<std::string> rules;
  std::vector<std::string> fallbacks;  // --address-fallback IPs
};

// The config file's [sal] table under the flags: --socks and
// --address-fallback replace the file's, --rule adds to its rules.
void merge_sal_table(const bc::ConfigTable& t, SalFlags& sf) {
  bc::table_reject_unknown(t, "sal.", {"socks", "rules", "address_fallback"});
  if (sf.socks.empty()) sf.socks = bc::table_text(t, "sal.", "socks", "IP:PORT or \"off\"").value_or("");
  auto rules = bc::table_strings(t, "sal.", "rules", "an array of rule strings (docs/sal-table.md)")
                   .value_or(std::vector<std::string>{});
  rules.insert(rules.end(), sf.rules.begin(), sf.rules.end());
  sf.rules = std::move(rules);
  if (sf.fallbacks.empty())
    sf.fallbacks = bc::table_strings(t, "sal.", "address_fallback", "an array of IP addresses")
                       .value_or(std::vector<std::string>{});
}

struct LedgerFlags {
  std::string genesis;
  bool producer = false;
  std::int64_t block_interval_ms = 0;
  std::size_t max_peers = 8;
};

int run(const bc::NodeConfig& cfg, const bc::routing::DhtConfig& dht_cfg, const LedgerFlags& lf,
        const SalFlags& sf) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(cfg.datadir, ec);
  if (ec)
    throw std::runtime_error("cannot create datadir " + cfg.datadir.string() + ": " + ec.message() +
                             "; choose a writable --datadir");
  fs::path log_file;
  if (!cfg.log_file.empty()) log_file = fs::path(cfg.log_file).is_absolute() ? fs::path(cfg.log_file) : cfg.datadir / cfg.log_file;
  bc::log::setup(cfg.log_level, log_file);

  const auto key = bc::load_or_create_key_file(cfg.datadir / "node.key");
  bc::metrics::Registry registry;
  boost::asio::io_context io;

  bc::routing::DhtNode node(key, cfg.listen, dht_cfg, bc::random_u64(), registry);
  bc::apps::SalNodeConfig sal_cfg;
  sal_cfg.rules = sf.rules;
  for (const auto& f : sf.fallbacks) {
    auto ip = bc::Endpoint::parse_ip(f, 0);
    if (!ip) throw std::runtime_error("--address-fallback: expected an IP address such as 10.0.0.2, got \"" + f + "\"");
    sal_cfg.fallback_addresses.push_back(*ip);
  }
  if (sf.socks.empty()) {
    // Default: the RPC's (loopback) address, one port up.
    bc::Endpoint s = *cfg.rpc;
    s.port = static_cast<std::uint16_t>(s.port == 65535 ? 0 : s.port + 1);
    sal_cfg.socks = s;
  } else if (sf.socks != "off") {
    auto s = bc::Endpoint::parse(sf.socks);
    if (!s) throw std::runtime_error("--socks: expected IP:PORT or off, got \"" + sf.socks + "\"");
    sal_cfg.socks = *s;
  }
  bc::apps::SalNode sal_node(key, node, registry, sal_cfg);
  bc::AsioUdpDriver driver(io, sal_node, cfg.listen,
                           {.max_datagram_bytes = dht_cfg.max_datagram_bytes, .metrics = &registry});
  // Flows are accepted on TCP at the DHT's IP, one port up (the DHT's own
  // port carries the ledger's block sync over TCP).
  bc::Endpoint flow_listen = driver.local_endpoint();
  if (flow_listen.port == 65535)
    throw std::runtime_error("--listen port 65535 leaves no port for flows (listen port + 1); choose a lower port");
  flow_listen.port = static_cast<std::uint16_t>(flow_listen.port + 1);
  sal_node.set_flow_listen(flow_listen);

  bc::apps::NodeInfo info{kVersion, driver.local_endpoint(), *cfg.rpc, dht_cfg,
                          bc::AsioUdpDriver::now_ms(), key.public_key()};
  bc::apps::RpcService service(io, node, driver, registry, info, cfg.rpc_limits);
  bc::apps::HttpServer server(
      io, *cfg.rpc, cfg.rpc_limits,
      [&service](const bc::apps::HttpRequest& req, bc::apps::Respond respond) {
        service.handle(req, std::move(respond));
      },
      registry);
  sal_node.register_methods(service, driver);

  // The ledger is enabled by --genesis; without it the node is DHT-only.
  std::unique_ptr<bc::apps::LedgerNode> ledger;
  if (!lf.genesis.empty()) {
    bc::apps::LedgerNodeConfig lc;
    lc.genesis_file = lf.genesis;
    lc.dir = cfg.datadir / "ledger";
    lc.listen = driver.local_endpoint();
    lc.bootstrap = cfg.bootstrap;
    lc.producer = lf.producer;
    lc.block_interval_ms = lf.block_interval_ms;
    lc.max_peers = lf.max_peers;
    ledger = std::make_unique<bc::apps::LedgerNode>(io, lc, key, node, registry);
    ledger->register_methods(service);
  } else if (lf.producer) {
    throw std::runtime_error("--producer needs --genesis FILE (the chain to produce blocks for)");
  }

  driver.start();
  server.start();
  sal_node.start(io, driver, key, registry);

  if (!cfg.bootstrap.empty())
    driver.call([&](bc::TimeMs now, bc::Outbox& out) { node.bootstrap(cfg.bootstrap, now, out); });

  spdlog::info("blockcloudd {} node {} listen udp {} rpc http://{} mode {} datadir {} bootstrap {}",
               kVersion, bc::id_to_text('n', node.id()), driver.local_endpoint().to_string(),
               server.local_endpoint().to_string(), bc::apps::mode_name(dht_cfg.mode),
               cfg.datadir.string(), cfg.bootstrap.size());
  spdlog::info("flows tcp {} socks5 {}", sal_node.config().flow_listen.to_string(),
               sal_node.config().socks ? sal_node.config().socks->to_string() : std::string("off"));
  if (ledger) {
    spdlog::info("{}", ledger->describe());
    ledger->start();
  }

  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  boost::asio::steady_timer drain_timer(io);
  const auto drain_deadline = std::make_shared<std::chrono::steady_clock::time_point>();
  // Stops the loop once pending answers are written (or after 2 s at most).
  std::function<void()> wait_drained = [&] {
    if (server.open_connections() == 0 || std::chrono::steady_clock::now() >= *drain_deadline) {
      io.stop();
      return;
    }
    drain_timer.expires_after(std::chrono::milliseconds(20));
    drain_timer.async_wait([&](const boost::system::error_code& ec) {
      if (!ec) wait_drained();
    });
  };
  signals.async_wait([&](const boost::system::error_code& e, int sig) {
    if (e) return;
    spdlog::info("signal {} received: shutting down", sig);
    service.stop();
    sal_node.stop();
    if (ledger) ledger->stop();
    server.stop();
    driver.stop();
    *drain_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    signals.async_wait([&](const boost::system::error_code& e2, int) {
      if (!e2) io.stop();  // a second signal stops at once
    });
    wait_drained();
  });
  io.run();
  spdlog::info("blockcloudd stopped");
  spdlog::default_logger()->flush();
  return 0;
}
}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  CLI::App app{"blockcloudd: a Blockcloud node (Coral-style DHT over UDP, JSON-RPC over HTTP)"};
  app.set_version_flag("--version", kVersion);
  bc::ConfigOverrides flags;
  std::string config_file, datadir, listen, rpc, log_level, log_file, mode;
  bool allow_remote = false;
  app.add_option("--config", config_file, "TOML config file; flags override its values")
      ->check(CLI::ExistingFile);
  app.add_option("--datadir", datadir, "data directory (node.key lives here); required here or in the config");
  app.add_option("--listen", listen, "UDP address of the DHT, IP:PORT (default 127.0.0.1:9000)");
  app.add_option("--rpc", rpc, "HTTP address of the RPC, IP:PORT (default: listen IP if loopback, else 127.0.0.1; port = listen port + 1000)");
  app.add_flag("--rpc-allow-remote", allow_remote, "allow a non-loopback --rpc (the RPC has no authentication)");
  app.add_option("--bootstrap", flags.bootstrap, "IP:PORT of a node to join through (repeatable)");
  app.add_option("--mode", mode, "DHT mode: coral (clusters, sloppy puts) or kademlia")
      ->check(CLI::IsMember({"coral", "kademlia"}));
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error or off (default info)");
  app.add_option("--log-file", log_file, "also log to this file (relative to datadir)");
  app.add_option("--dht", flags.dht, "set a [dht] config key, KEY=VALUE (repeatable), e.g. --dht k=16");
  SalFlags sf;
  app.add_option("--socks", sf.socks, "SOCKS5 gateway IP:PORT for <service-id>.bc names, or off (default: the RPC IP, RPC port + 1)");
  app.add_option("--address-fallback", sf.fallbacks,
                 "where to move if the listen address disappears, in order (repeatable; default: the lowest "
                 "other address of the same kind)");
  app.add_option("--rule", sf.rules, "a service table rule (repeatable), e.g. \"s...ID/16 forward 127.0.0.5:4001\"");
  LedgerFlags lf;
  app.add_option("--genesis", lf.genesis, "genesis JSON of the ledger to run (enables the ledger; data in DATADIR/ledger)")
      ->check(CLI::ExistingFile);
  app.add_flag("--producer", lf.producer, "make blocks (this node's key must be a producer in the genesis)");
  app.add_option("--block-interval-ms", lf.block_interval_ms, "producer: ms between blocks (default: the genesis' block_interval_ms)")
      ->check(CLI::Range(std::int64_t{10}, std::int64_t{3'600'000}));
  app.add_option("--ledger-peers", lf.max_peers, "ledger peers to dial from the DHT's contacts (default 8)")
      ->check(CLI::Range(1, 256));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return e.get_exit_code() == 0 ? 0 : (code == 0 ? 0 : 2);
  }
  try {
    bc::NodeConfig cfg = config_file.empty() ? bc::NodeConfig{} : bc::load_config_file(config_file);
    if (!datadir.empty()) flags.datadir = datadir;
    if (!listen.empty()) flags.listen = listen;
    if (!rpc.empty()) flags.rpc = rpc;
    if (!log_level.empty()) flags.log_level = log_level;
    if (!log_file.empty()) flags.log_file = log_file;
    if (allow_remote) flags.rpc_allow_remote = true;
    if (!mode.empty()) flags.dht.push_back("mode=" + mode);
    bc::apply_overrides(cfg, flags);
    bc::finalize_config(cfg);
    const auto dht_cfg = bc::apps::dht_config_from_table(cfg.dht);
    merge_sal_table(cfg.sal, sf);
    return run(cfg, dht_cfg, lf, sf);
  } catch (const bc::ConfigError& e) {
    std::cerr << "blockcloudd: configuration error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "blockcloudd: " << e.what() << "\n";
    return 1;
  }
}
