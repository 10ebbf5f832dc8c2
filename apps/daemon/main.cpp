// blockcloudd: one Blockcloud node (apps/daemon/daemon.hpp). The DHT speaks
// UDP on --listen; the JSON-RPC, /metrics and /health are served over HTTP on
// --rpc; both run on one io thread. This file reads the flags and the config.
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>

#include <CLI/CLI.hpp>

#include "apps/common/dht_config.hpp"
#include "apps/daemon/daemon.hpp"
#include "layers/config.hpp"

namespace {
struct SalFlags {
  std::string socks;  // IP:PORT, "off", or empty for the default
  bool socks_allow_remote = false;
  bool forward_allow_remote = false;
  std::string socks_username, socks_password_file;
  std::vector<std::string> rules;
  std::vector<std::string> fallbacks;  // --address-fallback IPs
};

// The config file's [sal] table under the flags: --socks and
// --address-fallback replace the file's, --rule adds to its rules.
void merge_sal_table(const bc::ConfigTable& t, SalFlags& sf) {
  bc::table_reject_unknown(t, "sal.", {"socks", "socks_username", "socks_password_file", "rules", "address_fallback",
                                       "forward_allow_remote"});
  if (!sf.forward_allow_remote)
    sf.forward_allow_remote = bc::table_bool(t, "sal.", "forward_allow_remote").value_or(false);
  if (sf.socks.empty()) sf.socks = bc::table_text(t, "sal.", "socks", "IP:PORT or \"off\"").value_or("");
  if (sf.socks_username.empty())
    sf.socks_username = bc::table_text(t, "sal.", "socks_username", "a user name of 1 to 255 bytes").value_or("");
  if (sf.socks_password_file.empty())
    sf.socks_password_file = bc::table_text(t, "sal.", "socks_password_file", "a file holding the password").value_or("");
  auto rules = bc::table_strings(t, "sal.", "rules", "an array of rule strings (docs/sal-table.md)")
                   .value_or(std::vector<std::string>{});
  rules.insert(rules.end(), sf.rules.begin(), sf.rules.end());
  sf.rules = std::move(rules);
  if (sf.fallbacks.empty())
    sf.fallbacks = bc::table_strings(t, "sal.", "address_fallback", "an array of IP addresses")
                       .value_or(std::vector<std::string>{});
}

// The first line of a file holding a secret (so it is not on the command
// line, where other local users can read it).
std::string read_secret_file(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line) || line.empty())
    throw std::runtime_error("--socks-password-file " + path + ": cannot read a password from its first line");
  return line;
}

// The config file's [ledger] table under the flags: a flag given on the
// command line (`given`) wins over the file's key.
void merge_ledger_table(const bc::ConfigTable& t, const CLI::App& app, bc::apps::LedgerOptions& lf) {
  bc::table_reject_unknown(t, "ledger.", {"genesis", "producer", "block_interval_ms", "peers", "validator",
                                          "bft_listen", "bft_peers", "audit", "audit_account_key", "probe_relay"});
  auto given = [&](const char* flag) { return app.count(flag) > 0; };
  if (!given("--genesis")) lf.genesis = bc::table_text(t, "ledger.", "genesis", "a genesis JSON file path").value_or(lf.genesis);
  if (!given("--producer")) lf.producer = bc::table_bool(t, "ledger.", "producer").value_or(lf.producer);
  if (!given("--block-interval-ms"))
    lf.block_interval_ms = bc::table_int(t, "ledger.", "block_interval_ms", 10, 3'600'000).value_or(lf.block_interval_ms);
  if (!given("--ledger-peers"))
    lf.max_peers = static_cast<std::size_t>(bc::table_int(t, "ledger.", "peers", 1, 256).value_or(
        static_cast<std::int64_t>(lf.max_peers)));
  if (!given("--no-validator")) lf.validator = bc::table_bool(t, "ledger.", "validator").value_or(lf.validator);
  if (!given("--no-audit")) lf.audit = bc::table_bool(t, "ledger.", "audit").value_or(lf.audit);
  if (!given("--no-probe-relay")) lf.probe_relay = bc::table_bool(t, "ledger.", "probe_relay").value_or(lf.probe_relay);
  if (!given("--audit-account-key"))
    lf.audit_account_key =
        bc::table_text(t, "ledger.", "audit_account_key", "a wallet key file path").value_or(lf.audit_account_key);
  if (!given("--bft-listen"))
    lf.bft_listen = bc::table_text(t, "ledger.", "bft_listen", "IP:PORT for consensus messages").value_or(lf.bft_listen);
  if (!given("--bft-peer"))
    lf.bft_peers = bc::table_strings(t, "ledger.", "bft_peers", "an array of IP:PORT").value_or(lf.bft_peers);
  if (!lf.genesis.empty() && !std::filesystem::is_regular_file(lf.genesis))
    throw bc::ConfigError("ledger.genesis: " + lf.genesis + " is not a file; give the genesis JSON's path");
}

struct StorageFlags {
  bool enabled = false;
  std::string capacity, dir;
  std::int64_t price = -1;
  std::int64_t gc_grace_s = -1;
  std::int64_t unpaid_grace_s = -1;
};

// "1073741824", "512MiB", "4GiB", "1TiB" (also K/M/G/T and KB/MB/GB/TB as powers of 1024).
std::uint64_t parse_capacity(const std::string& text, const std::string& what) {
  std::size_t used = 0;
  unsigned long long n = 0;
  try {
    n = std::stoull(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  std::string unit = text.substr(used);
  for (auto& c : unit) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  static const std::map<std::string, int> kShift{{"", 0}, {"B", 0}, {"K", 10}, {"KB", 10}, {"KIB", 10},
                                                 {"M", 20}, {"MB", 20}, {"MIB", 20}, {"G", 30}, {"GB", 30},
                                                 {"GIB", 30}, {"T", 40}, {"TB", 40}, {"TIB", 40}};
  const auto it = kShift.find(unit);
  if (used == 0 || it == kShift.end() || n == 0 || n > (~0ULL >> it->second))
    throw bc::ConfigError(what + ": expected a size such as 4GiB or 1073741824, got \"" + text + "\"");
  return static_cast<std::uint64_t>(n) << it->second;
}

// The ledger's and the committee's flags; the config file's [ledger] table is merged under them.
void add_ledger_flags(CLI::App& app, bc::apps::LedgerOptions& lf) {
  app.add_option("--genesis", lf.genesis, "genesis JSON of the ledger to run (enables the ledger; data in DATADIR/ledger)")
      ->check(CLI::ExistingFile);
  app.add_flag("--producer", lf.producer, "make blocks (this node's key must be a producer in the genesis)");
  app.add_option("--block-interval-ms", lf.block_interval_ms, "producer: ms between blocks (default: the genesis' block_interval_ms)")
      ->check(CLI::Range(std::int64_t{10}, std::int64_t{3'600'000}));
  app.add_flag("!--no-validator", lf.validator,
               "follow a certified chain by block sync even when this node's key is in its committee");
  app.add_flag("!--no-audit", lf.audit,
               "validator: do not audit providers (Proof-of-Service commitments, probes and reports; on by default)");
  app.add_flag("!--no-probe-relay", lf.probe_relay,
               "validator: probes dial providers from this node's address instead of through another node "
               "(providers can then tell probes from clients by address)");
  app.add_option("--audit-account-key", lf.audit_account_key,
                 "validator: wallet key file of the validator account that sends the audit commitments and reports "
                 "(default: the node key's own account)");
  app.add_option("--bft-listen", lf.bft_listen,
                 "validator: TCP IP:PORT for consensus messages (default: the listen IP, listen port + 2)");
  app.add_option("--bft-peer", lf.bft_peers, "validator: IP:PORT of another validator's --bft-listen (repeatable)");
  // Hidden (empty group): a test-only fault switch, docs/consensus.md.
  app.add_option("--test-fault", lf.test_fault, "TEST ONLY, needs BC_TEST_FAULTS=1: equivocate | storage-wrong-answers | favour-validators")
      ->group("");
  app.add_option("--ledger-peers", lf.max_peers, "ledger peers to dial from the DHT's contacts (default 8)")
      ->check(CLI::Range(1, 256));
}

void add_storage_flags(CLI::App& app, StorageFlags& stf) {
  app.add_flag("--storage", stf.enabled, "be a storage provider (the [storage] table's enabled = true)");
  app.add_option("--storage-capacity", stf.capacity, "bytes offered to storage clients, e.g. 4GiB (default 10GiB)");
  app.add_option("--storage-price", stf.price, "storage price in base units per GiB per day (default 1)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--storage-dir", stf.dir, "where shards and the index live (default DATADIR/storage)");
  app.add_option("--storage-gc-grace-s", stf.gc_grace_s, "delete shards this many seconds after they expire (default 3600)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--storage-unpaid-grace-s", stf.unpaid_grace_s,
                 "delete priced shards that no escrow pays for this many seconds after their put; 0: never (default 3600)")
      ->check(CLI::NonNegativeNumber);
}

// The [storage] table under the flags; nullopt when the node is no provider.
std::optional<bc::storage::StorageModuleConfig> storage_config(const bc::ConfigTable& t, const bc::NodeConfig& cfg,
                                                               const StorageFlags& f) {
  bc::table_reject_unknown(t, "storage.", {"enabled", "capacity", "price", "dir", "gc_grace", "unpaid_grace"});
  const bool enabled = f.enabled || bc::table_bool(t, "storage.", "enabled").value_or(false);
  if (!enabled) return std::nullopt;
  bc::storage::StorageModuleConfig sc;
  std::string capacity = f.capacity;
  if (capacity.empty()) {
    if (auto it = t.find("capacity"); it != t.end() && std::holds_alternative<std::int64_t>(it->second.value))
      capacity = std::to_string(std::get<std::int64_t>(it->second.value));
    else
      capacity = bc::table_text(t, "storage.", "capacity", "a size such as \"4GiB\" or a byte count").value_or("10GiB");
  }
  sc.capacity_bytes = parse_capacity(capacity, f.capacity.empty() ? "storage.capacity" : "--storage-capacity");
  sc.price = f.price >= 0 ? static_cast<std::uint64_t>(f.price)
                          : static_cast<std::uint64_t>(bc::table_int(t, "storage.", "price", 0, INT64_MAX).value_or(1));
  sc.gc_grace_ms = 1000 * (f.gc_grace_s >= 0 ? f.gc_grace_s : bc::table_int(t, "storage.", "gc_grace", 0, 365 * 86'400).value_or(3600));
  sc.unpaid_grace_ms = 1000 * (f.unpaid_grace_s >= 0 ? f.unpaid_grace_s
                                                     : bc::table_int(t, "storage.", "unpaid_grace", 0, 365 * 86'400).value_or(3600));
  std::string dir = f.dir.empty() ? bc::table_text(t, "storage.", "dir", "a directory path").value_or("") : f.dir;
  sc.dir = dir.empty() ? cfg.datadir / "storage" : std::filesystem::path(dir).is_absolute() ? std::filesystem::path(dir) : cfg.datadir / dir;
  return sc;
}

// The SAL module's settings from the flags; the SOCKS gateway defaults to
// the RPC's (loopback) address, one port up.
bc::sal::SalModuleConfig sal_config(const bc::NodeConfig& cfg, const SalFlags& sf) {
  bc::sal::SalModuleConfig sc;
  sc.rules = sf.rules;
  for (const auto& f : sf.fallbacks) {
    auto ip = bc::Endpoint::parse_ip(f, 0);
    if (!ip) throw std::runtime_error("--address-fallback: expected an IP address such as 10.0.0.2, got \"" + f + "\"");
    sc.fallback_addresses.push_back(*ip);
  }
  if (sf.socks.empty()) {
    // One port above the RPC, on loopback even when the RPC is remote: a
    // remote gateway is opted into with --socks-allow-remote and --socks.
    bc::Endpoint s = bc::is_loopback(*cfg.rpc) ? *cfg.rpc : bc::Endpoint::v4(0x7f000001, cfg.rpc->port);
    s.port = static_cast<std::uint16_t>(s.port == 65535 ? 0 : s.port + 1);
    sc.socks = s;
  } else if (sf.socks != "off") {
    auto s = bc::Endpoint::parse(sf.socks);
    if (!s) throw std::runtime_error("--socks: expected IP:PORT or off, got \"" + sf.socks + "\"");
    sc.socks = *s;
  }
  sc.socks_allow_remote = sf.socks_allow_remote;
  sc.forward_allow_remote = sf.forward_allow_remote;
  sc.socks_username = sf.socks_username;
  if (!sf.socks_password_file.empty()) sc.socks_password = read_secret_file(sf.socks_password_file);
  if (sc.socks_username.empty() != sc.socks_password.empty())
    throw std::runtime_error("SOCKS5 credentials need both --socks-user and --socks-password-file (or neither)");
  return sc;
}

// The SAL module's flags: the SOCKS gateway, forwards, address fallbacks, rules.
void add_sal_options(CLI::App& app, SalFlags& sf) {
  app.add_option("--socks", sf.socks, "SOCKS5 gateway IP:PORT for <service-id>.bc names, or off (default: the RPC IP, RPC port + 1)");
  app.add_flag("--socks-allow-remote", sf.socks_allow_remote,
               "allow a non-loopback --socks (anyone who reaches it opens flows as this node; set credentials too)");
  app.add_option("--socks-user", sf.socks_username, "require this SOCKS5 user name (RFC 1929); needs --socks-password-file");
  app.add_option("--socks-password-file", sf.socks_password_file, "file whose first line is the SOCKS5 password")
      ->check(CLI::ExistingFile);
  app.add_flag("--forward-allow-remote", sf.forward_allow_remote,
               "let forward_add listen on non-loopback addresses (anyone who reaches them opens flows as this node)");
  app.add_option("--address-fallback", sf.fallbacks,
                 "where to move if the listen address disappears, in order (repeatable; default: the lowest "
                 "other address of the same kind)");
  app.add_option("--rule", sf.rules, "a service table rule (repeatable), e.g. \"s...ID/16 forward 127.0.0.5:4001\"");
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  CLI::App app{"blockcloudd: a Blockcloud node (Coral-style DHT over UDP, JSON-RPC over HTTP)"};
  app.set_version_flag("--version", bc::apps::kVersion);
  bc::ConfigOverrides flags;
  std::string config_file, datadir, listen, rpc, log_level, log_file, mode;
  bool allow_remote = false;
  app.add_option("--config", config_file, "TOML config file; flags override its values")
      ->check(CLI::ExistingFile);
  app.add_option("--datadir", datadir, "data directory (node.key lives here); required here or in the config");
  app.add_option("--listen", listen, "UDP address of the DHT, IP:PORT (default 127.0.0.1:9000)");
  app.add_option("--rpc", rpc, "HTTP address of the RPC, IP:PORT (default: listen IP if loopback, else 127.0.0.1; port = listen port + 1000)");
  app.add_flag("--rpc-allow-remote", allow_remote,
               "allow a non-loopback --rpc (requests still need the cookie or an --rpc-auth user; put TLS in front)");
  app.add_option("--rpc-auth", flags.rpc_auth,
                 "an RPC user besides the cookie, NAME:SALT$HMAC as printed by `blockcloud-cli rpcauth NAME` "
                 "(repeatable; adds to the config's rpc_auth)");
  app.add_option("--bootstrap", flags.bootstrap, "IP:PORT of a node to join through (repeatable)");
  app.add_option("--mode", mode, "DHT mode: coral (clusters, sloppy puts) or kademlia")
      ->check(CLI::IsMember({"coral", "kademlia"}));
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error or off (default info)");
  app.add_option("--log-file", log_file, "also log to this file (relative to datadir)");
  app.add_option("--dht", flags.dht, "set a [dht] config key, KEY=VALUE (repeatable), e.g. --dht k=16");
  SalFlags sf;
  add_sal_options(app, sf);
  bc::apps::LedgerOptions lf;
  add_ledger_flags(app, lf);
  StorageFlags stf;
  add_storage_flags(app, stf);
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
    merge_ledger_table(cfg.ledger, app, lf);
    bc::apps::Daemon daemon(cfg, dht_cfg, lf, sal_config(cfg, sf), storage_config(cfg.storage, cfg, stf));
    return daemon.run();
  } catch (const bc::ConfigError& e) {
    std::cerr << "blockcloudd: configuration error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "blockcloudd: " << e.what() << "\n";
    return 1;
  }
}
