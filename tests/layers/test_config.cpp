// Daemon configuration: TOML parsing, flag overrides, clear errors.
#include <doctest/doctest.h>

#include <string>

#include "layers/config.hpp"
#include "layers/log.hpp"

namespace {

// The error message of fn(), or "" if it did not throw ConfigError.
template <class F>
std::string error_of(F fn) {
  try {
    fn();
  } catch (const bc::ConfigError& e) {
    return e.what();
  }
  return "";
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("config: a full TOML file is read") {
  const auto cfg = bc::parse_config_toml(R"(
datadir = "/tmp/node1"
listen = "127.0.0.2:9000"
rpc = "127.0.0.2:9100"
bootstrap = ["127.0.0.3:9000", "127.0.0.4:9000"]
log_level = "debug"
log_file = "node.log"
rpc_auth = ["alice:00$ab"]

[rpc_limits]
max_body_bytes = 4096
max_connections = 8
reserved_connections = 2
body_timeout_ms = 3000
max_pending_per_client = 4

[dht]
mode = "kademlia"
k = 16
rate_limit_per_s = 10.5
)", "node.toml");
  CHECK(cfg.datadir == "/tmp/node1");
  CHECK(cfg.listen.to_string() == "127.0.0.2:9000");
  REQUIRE(cfg.rpc);
  CHECK(cfg.rpc->to_string() == "127.0.0.2:9100");
  REQUIRE(cfg.bootstrap.size() == 2);
  CHECK(cfg.bootstrap[1].to_string() == "127.0.0.4:9000");
  CHECK(cfg.log_level == "debug");
  CHECK(cfg.rpc_limits.max_body_bytes == 4096);
  CHECK(cfg.rpc_limits.max_connections == 8);
  CHECK(cfg.rpc_limits.reserved_connections == 2);
  CHECK(cfg.rpc_limits.body_timeout_ms == 3000);
  CHECK(cfg.rpc_limits.max_pending_per_client == 4);
  CHECK(cfg.rpc_auth == std::vector<std::string>{"alice:00$ab"});
  CHECK(bc::table_string(cfg.dht, "dht.", "mode", {"coral", "kademlia"}) == "kademlia");
  CHECK(bc::table_int(cfg.dht, "dht.", "k", 1, 64) == 16);
  CHECK(bc::table_double(cfg.dht, "dht.", "rate_limit_per_s", 0, 1e6) == doctest::Approx(10.5));
  CHECK_FALSE(bc::table_int(cfg.dht, "dht.", "alpha", 1, 16).has_value());
}

TEST_CASE("config: errors name the key, the place and the expected form") {
  auto e = error_of([] { bc::parse_config_toml("listen = \"nowhere\"\n", "n.toml"); });
  CHECK(contains(e, "listen"));
  CHECK(contains(e, "n.toml:1"));
  CHECK(contains(e, "IP:PORT"));
  CHECK(contains(e, "nowhere"));

  e = error_of([] { bc::parse_config_toml("lisen = \"127.0.0.1:1\"\n", "n.toml"); });
  CHECK(contains(e, "lisen"));
  CHECK(contains(e, "unknown key"));

  e = error_of([] { bc::parse_config_toml("log_level = \"loud\"\n"); });
  CHECK(contains(e, "log_level"));
  CHECK(contains(e, "warn"));

  e = error_of([] { bc::parse_config_toml("bootstrap = \"127.0.0.1:1\"\n"); });
  CHECK(contains(e, "an array"));

  e = error_of([] { bc::parse_config_toml("listen = \n"); });
  CHECK(contains(e, "not valid TOML"));

  e = error_of([] { bc::parse_config_toml("[rpc_limits]\nmax_connections = 0\n"); });
  CHECK(contains(e, "rpc_limits.max_connections"));
  CHECK(contains(e, "from 1 to"));
  e = error_of([] { bc::parse_config_toml("rpc_auth = \"alice\"\n"); });
  CHECK(contains(e, "rpc_auth"));

  const auto cfg = bc::parse_config_toml("[dht]\nk = \"eight\"\nalpha = 99\nbogus = 1\n", "d.toml");
  e = error_of([&] { bc::table_int(cfg.dht, "dht.", "k", 1, 64); });
  CHECK(contains(e, "dht.k"));
  CHECK(contains(e, "d.toml:2"));
  CHECK(contains(e, "\"eight\""));
  e = error_of([&] { bc::table_int(cfg.dht, "dht.", "alpha", 1, 16); });
  CHECK(contains(e, "from 1 to 16"));
  CHECK(contains(e, "99"));
  e = error_of([&] { bc::table_reject_unknown(cfg.dht, "dht.", {"k", "alpha"}); });
  CHECK(contains(e, "dht.bogus"));
  CHECK(contains(e, "known keys: k, alpha"));
}

TEST_CASE("config: the [sal] table keeps strings and lists of strings for the application") {
  const auto cfg = bc::parse_config_toml(R"(
datadir = "/tmp/node1"
[sal]
socks = "off"
rules = ["s1/8 drop", "s2/16 forward 127.0.0.5:4001"]
address_fallback = ["10.0.0.2"]
)", "node.toml");
  CHECK(bc::table_text(cfg.sal, "sal.", "socks", "IP:PORT or off") == "off");
  const auto rules = bc::table_strings(cfg.sal, "sal.", "rules", "rules");
  REQUIRE(rules);
  CHECK(*rules == std::vector<std::string>{"s1/8 drop", "s2/16 forward 127.0.0.5:4001"});
  CHECK_FALSE(bc::table_strings(cfg.sal, "sal.", "missing", "x").has_value());
  // A list where one string is expected, and a list holding a number, are named.
  CHECK_THROWS_WITH_AS(bc::table_text(cfg.sal, "sal.", "rules", "IP:PORT or off"),
                       doctest::Contains("sal.rules (node.toml:5:9): expected IP:PORT or off"), bc::ConfigError);
  CHECK_THROWS_WITH_AS(bc::parse_config_toml("datadir = \"/x\"\n[sal]\nrules = [\"a\", 3]\n", "n.toml"),
                       doctest::Contains("sal.rules (n.toml:3:9): expected an array of strings"), bc::ConfigError);
}

TEST_CASE("config: the [ledger] table keeps its keys for the application; booleans are checked") {
  const auto cfg = bc::parse_config_toml(R"(
datadir = "/tmp/node1"
[ledger]
genesis = "genesis.json"
producer = true
block_interval_ms = 500
peers = "eight"
)", "node.toml");
  CHECK(bc::table_text(cfg.ledger, "ledger.", "genesis", "a path") == "genesis.json");
  CHECK(bc::table_bool(cfg.ledger, "ledger.", "producer") == true);
  CHECK(bc::table_int(cfg.ledger, "ledger.", "block_interval_ms", 10, 3'600'000) == 500);
  CHECK_FALSE(bc::table_bool(cfg.ledger, "ledger.", "missing").has_value());
  CHECK_THROWS_WITH_AS(bc::table_bool(cfg.ledger, "ledger.", "genesis"),
                       doctest::Contains("ledger.genesis (node.toml:4:11): expected true or false"), bc::ConfigError);
  CHECK_THROWS_WITH_AS(bc::table_int(cfg.ledger, "ledger.", "peers", 1, 256),
                       doctest::Contains("ledger.peers (node.toml:7:9): expected an integer from 1 to 256"),
                       bc::ConfigError);
}

TEST_CASE("config: the [storage] table is kept apart from the others") {
  const auto cfg = bc::parse_config_toml(R"(
datadir = "/tmp/node1"
[storage]
enabled = true
capacity = "4GiB"
price = 3
)", "node.toml");
  CHECK(bc::table_bool(cfg.storage, "storage.", "enabled") == true);
  CHECK(bc::table_text(cfg.storage, "storage.", "capacity", "a size") == "4GiB");
  CHECK(bc::table_int(cfg.storage, "storage.", "price", 0, 1000) == 3);
  CHECK(cfg.ledger.empty());
  CHECK(cfg.sal.empty());
  CHECK_THROWS_WITH_AS(bc::parse_config_toml("datadir = \"/x\"\nstorage = 3\n", "n.toml"),
                       doctest::Contains("a table [storage]"), bc::ConfigError);
}

TEST_CASE("config: flags override the file and defaults are filled") {
  auto cfg = bc::parse_config_toml("datadir = \"/a\"\nlisten = \"127.0.0.5:7000\"\nbootstrap = [\"127.0.0.9:1\"]\n");
  bc::ConfigOverrides f;
  f.datadir = "/b";
  f.bootstrap = {"127.0.0.6:7000"};
  f.dht = {"k=12", "mode=coral", "rate_limit_per_s=2.5"};
  bc::apply_overrides(cfg, f);
  bc::finalize_config(cfg);
  CHECK(cfg.datadir == "/b");
  CHECK(cfg.listen.to_string() == "127.0.0.5:7000");
  REQUIRE(cfg.bootstrap.size() == 1);
  CHECK(cfg.bootstrap[0].to_string() == "127.0.0.6:7000");
  // Default RPC: the loopback listen IP, port + 1000.
  CHECK(cfg.rpc->to_string() == "127.0.0.5:8000");
  CHECK(bc::table_int(cfg.dht, "dht.", "k", 1, 64) == 12);
  CHECK(bc::table_double(cfg.dht, "dht.", "rate_limit_per_s", 0, 10) == doctest::Approx(2.5));
  CHECK(cfg.dht.at("k").source == "--dht");

  bc::ConfigOverrides bad;
  bad.listen = "127.0.0.1";
  CHECK(contains(error_of([&] { bc::apply_overrides(cfg, bad); }), "--listen"));
  bc::ConfigOverrides bad_dht;
  bad_dht.dht = {"k"};
  CHECK(contains(error_of([&] { bc::apply_overrides(cfg, bad_dht); }), "KEY=VALUE"));
}

TEST_CASE("config: a non-loopback RPC bind needs explicit permission") {
  auto cfg = bc::parse_config_toml("datadir = \"/a\"\nrpc = \"10.1.2.3:9100\"\n");
  CHECK(contains(error_of([&] { bc::finalize_config(cfg); }), "--rpc-allow-remote"));
  cfg.rpc_allow_remote = true;
  CHECK(error_of([&] { bc::finalize_config(cfg); }).empty());

  // A public listen address still gets a loopback RPC by default.
  auto pub = bc::parse_config_toml("datadir = \"/a\"\nlisten = \"10.1.2.3:9000\"\n");
  bc::finalize_config(pub);
  CHECK(pub.rpc->to_string() == "127.0.0.1:10000");

  auto nodir = bc::parse_config_toml("");
  CHECK(contains(error_of([&] { bc::finalize_config(nodir); }), "--datadir"));
}

TEST_CASE("log: levels parse and bad ones are rejected") {
  CHECK(bc::log::parse_level("warn") == spdlog::level::warn);
  CHECK_FALSE(bc::log::parse_level("loud").has_value());
  CHECK_THROWS_AS(bc::log::setup("loud"), std::runtime_error);
  CHECK_THROWS_AS(bc::log::setup("info", "/dev/null/y.log"), std::runtime_error);
  bc::log::setup("info");
}
