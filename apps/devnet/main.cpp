// blockcloud-devnet: start, inspect and stop a local network of blockcloudd
// processes on loopback addresses; `demo` shows the DHT at work end to end.
#include <csignal>
#include <iostream>

#include <CLI/CLI.hpp>

#include "apps/devnet/devnet.hpp"

namespace {
// The options of `up` and `demo`.
void add_up_options(CLI::App* c, bc::devnet::UpOptions& o, bool dir_required) {
  c->add_option("--nodes", o.nodes, "number of nodes")->check(CLI::Range(1, 1000));
  auto* dir = c->add_option("--dir", o.dir, "directory for devnet.json and node-i/ (datadir and log)");
  if (dir_required) dir->required();
  c->add_option("--base-ip", o.base_ip, "address of node 0; node i uses base-ip + i (default 127.0.0.2)");
  c->add_option("--base-port", o.base_port, "UDP port of the DHT (default 9000); RPC is this + --rpc-offset");
  c->add_option("--rpc-offset", o.rpc_offset, "RPC port = UDP port + this (default 100)")->check(CLI::Range(1, 10000));
  c->add_flag("--distinct-ports", o.distinct_ports, "node i listens on base-port + i instead of the same port");
  c->add_option("--mode", o.mode, "DHT mode: coral or kademlia")->check(CLI::IsMember({"coral", "kademlia"}));
  c->add_option("--bin", o.bin_dir, "directory holding blockcloudd (default: next to this program)");
  c->add_option("--log-level", o.log_level, "daemon log level (default info)");
  c->add_option("--dht", o.dht, "extra [dht] setting for every node, KEY=VALUE (repeatable)");
  c->add_flag("!--no-ledger", o.ledger, "DHT only: no genesis, no ledger");
  c->add_option("--accounts", o.accounts, "funded test accounts in the genesis (default 8)")->check(CLI::Range(1, 10000));
  c->add_option("--balance", o.balance, "base units per test account (default 1000000000)");
  c->add_option("--validators", o.validators,
                 "nodes 0..K-1 are bonded validators in the genesis and run the committee, the rest follow; "
                 "0: node 0 is the single producer (default 4, at most --nodes)")
      ->check(CLI::Range(0, 100));
  c->add_option("--block-interval-ms", o.block_interval_ms, "ms between blocks (default 1000)")
      ->check(CLI::Range(std::int64_t{10}, std::int64_t{3'600'000}));
  c->add_option("--epoch-length", o.epoch_length,
                 "blocks per epoch: bonds, unbonds and slashes change the committee at epoch boundaries (default 100)")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1'000'000}));
  c->add_option("--genesis-param", o.genesis_params,
                "a chain parameter in the genesis, KEY=NUMBER (repeatable), e.g. pos_probes_per_auditor=4");
  c->add_option("--storage-providers", o.storage_providers, "the last N nodes are storage providers (default 0)")
      ->check(CLI::Range(0, 1000));
  c->add_option("--storage-capacity", o.storage_capacity, "bytes each storage provider offers (default 4GiB)");
  c->add_option("--storage-price", o.storage_price, "each storage provider's price, base units per GiB per day (default 1)");
  c->add_option("--storage-gc-grace-s", o.storage_gc_grace_s, "providers delete shards this long after they expire (default 3600)")
      ->check(CLI::NonNegativeNumber);
  c->add_option("--storage-unpaid-grace-s", o.storage_unpaid_grace_s,
                "providers delete shards no escrow pays for this long after their put; 0: never (default 3600)")
      ->check(CLI::NonNegativeNumber);
}
}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  CLI::App app{"blockcloud-devnet: a local Blockcloud network on loopback addresses"};
  app.require_subcommand(1);
  bc::devnet::UpOptions o;
  double down_timeout = 5;
  bool keep = false;

  auto* up = app.add_subcommand("up", "start N daemons, wait until each answers /health, write DIR/devnet.json");
  add_up_options(up, o, true);
  auto* status = app.add_subcommand("status", "table of the nodes: alive, peers, stored values");
  status->add_option("--dir", o.dir, "the devnet's directory")->required();
  auto* down = app.add_subcommand("down", "stop every node (SIGTERM, then SIGKILL after --timeout)");
  down->add_option("--dir", o.dir, "the devnet's directory")->required();
  down->add_option("--timeout", down_timeout, "seconds before SIGKILL (default 5)")->check(CLI::NonNegativeNumber);
  auto* demo = app.add_subcommand("demo", "start a network, put, get and watch records, explain, shut down");
  add_up_options(demo, o, false);
  demo->add_flag("--keep", keep, "leave the network running afterwards");

  try {
    app.parse(argc, argv);
    // The demo's default is bigger than up's so lookups need real hops
    // (with 8 replicas per key, 8 nodes would all hold every record).
    if (*demo && demo->count("--nodes") == 0) o.nodes = 16;
    // The Proof-of-Service step waits for an epoch to be audited and settled:
    // 2 s epochs (10 blocks of 200 ms) and 4 probes per auditor keep that short.
    if (*demo && demo->count("--block-interval-ms") == 0) o.block_interval_ms = 200;
    if (*demo && demo->count("--epoch-length") == 0) o.epoch_length = 10;
    if (*demo) o.genesis_params.insert(o.genesis_params.begin(), "pos_probes_per_auditor=4");
    if (o.storage_providers > o.nodes)
      throw CLI::ValidationError("--storage-providers", "more storage providers than --nodes");
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "blockcloud-devnet: " << e.what() << "\nrun `blockcloud-devnet --help` for usage\n";
    return 2;
  }
  try {
    if (*up) {
      bc::devnet::devnet_up(o);
      return 0;
    }
    if (*status) return bc::devnet::devnet_status(o.dir);
    if (*down) {
      auto net = bc::devnet::load_devnet(o.dir);
      bc::devnet::devnet_down(o.dir, net, down_timeout, false);
      return 0;
    }
    if (*demo) return bc::devnet::run_demo(o, keep);
  } catch (const std::exception& e) {
    std::cerr << "blockcloud-devnet: " << e.what() << "\n";
    return 1;
  }
  return 2;
}
