// blockcloud-devnet: a local network of blockcloudd processes on loopback
// addresses, described by DIR/devnet.json.
#pragma once
#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <boost/json/object.hpp>

#include "apps/common/rpc_auth.hpp"
#include "layers/runtime.hpp"

namespace bc::devnet {

struct NodeEntry {
  int index = 0;
  Endpoint listen;
  Endpoint rpc;
  int pid = 0;
  std::string datadir;
  std::string node_id;  // text form, once known
  bool stopped = false;
  std::vector<std::string> args;  // blockcloudd's arguments, to restart it by hand
};

// The node's RPC cookie (DATADIR/.cookie); nullopt if it cannot be read
// (the call then fails with 401, saying so).
inline std::optional<apps::RpcCredentials> node_cookie(const NodeEntry& n) {
  auto c = apps::read_cookie_file(n.datadir);
  if (!c.ok()) return std::nullopt;
  return *c;
}

// Calls `method` on node n with its cookie; the result object. Throws
// apps::TransportError or apps::RpcError (their messages say what failed).
boost::json::object node_rpc(const NodeEntry& n, const std::string& method, boost::json::object params = {},
                             std::chrono::milliseconds timeout = std::chrono::seconds(15));

// A funded test account of the devnet's genesis; its key file is mode 0600.
struct DevnetAccount {
  std::string name;
  std::string address;
  std::string key_file;
};

struct Devnet {
  std::string mode = "coral";
  std::vector<NodeEntry> nodes;
  std::string genesis;  // path of genesis.json ("" : DHT-only devnet)
  std::vector<DevnetAccount> accounts;
};

struct UpOptions {
  int nodes = 8;
  std::filesystem::path dir;
  std::string base_ip = "127.0.0.2";
  int base_port = 9000;
  int rpc_offset = 100;      // rpc port = listen port + rpc_offset
  bool distinct_ports = false;  // port base_port + i instead of the same port on each address
  std::string mode = "coral";
  std::filesystem::path bin_dir;
  std::string log_level = "info";
  std::vector<std::string> dht;  // extra --dht KEY=VALUE for every node
  bool quiet = false;
  // Ledger: DIR/genesis.json with `accounts` funded test accounts (keys in
  // DIR/accounts/). With validators > 0 the genesis bonds the keys of nodes
  // 0..validators-1 as the committee (a certified chain) and the other nodes
  // follow; with 0, node 0 is the single block producer. -1: 4 (at most nodes).
  bool ledger = true;
  int validators = -1;
  std::uint64_t validator_stake = 1'000'000;
  int accounts = 8;
  std::uint64_t balance = 1'000'000'000;
  std::int64_t block_interval_ms = 1000;
  std::uint64_t epoch_length = 0;  // blocks per validator-set epoch; 0: the chain's default (100)
  // KEY=VALUE chain parameters written into the genesis' params (e.g.
  // pos_probes_per_auditor=4; docs/ledger.md, docs/proof-of-service.md).
  std::vector<std::string> genesis_params;
  // Storage: the last `storage_providers` nodes run a storage provider
  // ([storage] enabled) offering `storage_capacity` each.
  int storage_providers = 0;
  std::string storage_capacity = "4GiB";
  std::uint64_t storage_price = 1;
  std::int64_t storage_gc_grace_s = -1;      // -1: the daemon's default
  std::int64_t storage_unpaid_grace_s = -1;  // -1: the daemon's default  // base units per GiB per day; owners' accounts are funded in the genesis
};

std::filesystem::path devnet_file(const std::filesystem::path& dir);
// Throws std::runtime_error naming the file on a missing or malformed file.
Devnet load_devnet(const std::filesystem::path& dir);
void save_devnet(const std::filesystem::path& dir, const Devnet& net);

// True if pid runs and is a blockcloudd (guards against reused pids).
bool node_alive(int pid);
// Starts every node, waits for each /health; on failure stops what it started
// and throws with the failing node's log tail.
Devnet devnet_up(const UpOptions& o);
// SIGTERM, then SIGKILL after timeout_s; marks nodes stopped. Returns the count killed hard.
int devnet_down(const std::filesystem::path& dir, Devnet& net, double timeout_s, bool quiet);
// Prints a table of the nodes: alive, peers, stored values.
int devnet_status(const std::filesystem::path& dir);

// The demo: a network of `nodes`, puts, gets and a watch, explained; then down.
int run_demo(UpOptions o, bool keep);

// Where blockcloudd is: --bin DIR, else next to this executable.
std::filesystem::path find_daemon(const std::filesystem::path& bin_dir);

}  // namespace bc::devnet
