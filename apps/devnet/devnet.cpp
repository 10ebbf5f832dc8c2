#include "apps/devnet/devnet.hpp"

#include <algorithm>
#include <charconv>
#include <csignal>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <thread>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "apps/common/http_client.hpp"
#include "apps/devnet/process.hpp"
#include "layers/crypto.hpp"
#include "layers/private_dir.hpp"
#include "ledger/genesis.hpp"

namespace bc::devnet {

namespace fs = std::filesystem;
namespace json = boost::json;

fs::path devnet_file(const fs::path& dir) { return dir / "devnet.json"; }

json::object node_rpc(const NodeEntry& n, const std::string& method, json::object params,
                      std::chrono::milliseconds timeout) {
  return apps::rpc_call(n.rpc, method, params, timeout, node_cookie(n)).as_object();
}

namespace {

// Node data directories hold keys and ledgers: 0700 whatever the umask.
void make_private_dir(const fs::path& dir) {
  if (auto made = create_private_dirs(dir); !made.ok()) throw std::runtime_error(made.message);
}

// Through a temporary file and a rename, so readers never see half a file.
void write_atomically(const fs::path& file, const std::string& text) {
  const auto tmp = file.string() + ".tmp";
  {
    std::ofstream out(tmp);
    out << text << "\n";
    if (!out) throw std::runtime_error("cannot write " + tmp);
  }
  fs::rename(tmp, file);
}

}  // namespace

Devnet load_devnet(const fs::path& dir) {
  const auto file = devnet_file(dir);
  std::ifstream in(file);
  if (!in)
    throw std::runtime_error("no devnet at " + dir.string() + " (" + file.string() +
                             " is missing); start one with `blockcloud-devnet up --dir " + dir.string() + "`");
  std::stringstream ss;
  ss << in.rdbuf();
  try {
    const auto v = json::parse(ss.str());
    Devnet net;
    const auto& o = v.as_object();
    if (auto* m = o.if_contains("mode")) net.mode = std::string(m->as_string());
    for (const auto& nv : o.at("nodes").as_array()) {
      const auto& n = nv.as_object();
      NodeEntry e;
      e.index = static_cast<int>(n.at("index").to_number<std::int64_t>());
      auto listen = Endpoint::parse(n.at("listen").as_string());
      auto rpc = Endpoint::parse(n.at("rpc").as_string());
      if (!listen || !rpc) throw std::runtime_error("bad listen/rpc address");
      e.listen = *listen;
      e.rpc = *rpc;
      e.pid = static_cast<int>(n.at("pid").to_number<std::int64_t>());
      e.datadir = std::string(n.at("datadir").as_string());
      if (auto* id = n.if_contains("node_id"); id && id->is_string()) e.node_id = std::string(id->as_string());
      if (auto* s = n.if_contains("stopped"); s && s->is_bool()) e.stopped = s->as_bool();
      if (auto* a = n.if_contains("args"); a && a->is_array())
        for (const auto& x : a->as_array()) e.args.emplace_back(x.as_string());
      net.nodes.push_back(std::move(e));
    }
    if (auto* g = o.if_contains("genesis"); g && g->is_string()) net.genesis = std::string(g->as_string());
    if (auto* acc = o.if_contains("accounts"); acc && acc->is_array())
      for (const auto& av : acc->as_array()) {
        const auto& a = av.as_object();
        net.accounts.push_back({std::string(a.at("name").as_string()), std::string(a.at("address").as_string()),
                                std::string(a.at("key_file").as_string())});
      }
    return net;
  } catch (const std::exception& e) {
    throw std::runtime_error(file.string() + " is not a devnet file (" + e.what() +
                             "); remove it or point --dir elsewhere");
  }
}

void save_devnet(const fs::path& dir, const Devnet& net) {
  json::array nodes;
  for (const auto& n : net.nodes) {
    json::array args;
    for (const auto& a : n.args) args.push_back(json::value(a));
    nodes.push_back(json::object{{"index", n.index},
                                 {"rpc", n.rpc.to_string()},
                                 {"listen", n.listen.to_string()},
                                 {"pid", n.pid},
                                 {"datadir", n.datadir},
                                 {"node_id", n.node_id},
                                 {"stopped", n.stopped},
                                 {"args", std::move(args)}});
  }
  json::array accounts;
  for (const auto& a : net.accounts)
    accounts.push_back(json::object{{"name", a.name}, {"address", a.address}, {"key_file", a.key_file}});
  write_atomically(devnet_file(dir), json::serialize(json::object{{"mode", net.mode},
                                                                  {"nodes", std::move(nodes)},
                                                                  {"genesis", net.genesis},
                                                                  {"accounts", std::move(accounts)}}));
}

bool node_alive(int pid) { return process_alive(pid); }

fs::path find_daemon(const fs::path& bin_dir) {
  const fs::path dir = bin_dir.empty() ? self_dir() : bin_dir;
  return dir / "blockcloudd";
}

namespace {

std::optional<std::string> health(const Endpoint& rpc) {
  try {
    const auto r = apps::http_request(rpc, "GET", "/health", "", std::chrono::milliseconds(1000));
    if (r.status != 200) return std::nullopt;
    return std::string(json::parse(r.body).as_object().at("node_id").as_string());
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

Endpoint node_ip(const std::string& base_ip, int i, int port) {
  auto base = Endpoint::parse_ip(base_ip, 0);
  if (!base || !base->is_v4() || (base->v4_addr() >> 24) != 127)
    throw std::runtime_error("--base-ip: expected a loopback IPv4 address such as 127.0.0.2, got " + base_ip);
  const std::uint32_t addr = base->v4_addr() + static_cast<std::uint32_t>(i);
  if ((addr >> 24) != 127 || (addr & 0xff) == 0xff)
    throw std::runtime_error("--base-ip " + base_ip + " + " + std::to_string(i) +
                             " leaves the usable 127.x range; use fewer nodes or a lower --base-ip");
  return Endpoint::v4(addr, static_cast<std::uint16_t>(port));
}

// Node i's key (DIR/node-i/node.key, made if missing): its node id, and on
// a certified devnet its consensus key.
KeyPair node_key(const UpOptions& o, int i) {
  return load_or_create_key_file(fs::absolute(o.dir / ("node-" + std::to_string(i))) / "node.key");
}

// The chain's block makers: node 0 as the single producer, or nodes
// 0..validators-1 bonded as the committee (the chain is then certified).
// The devnet never jails for downtime: its nodes are stopped and killed on
// purpose, by hand and by tests.
void add_block_makers(const UpOptions& o, ledger::Genesis& g) {
  if (o.validators == 0) {
    g.params.producers = {node_key(o, 0).public_key()};
    return;
  }
  g.params.downtime_min_signed_bps = 0;
  for (int i = 0; i < o.validators; ++i) {
    const auto key = node_key(o, i);
    g.accounts.push_back({ledger::address_of(key.public_key()), o.balance, o.validator_stake, key.public_key()});
  }
}

// The genesis JSON with each KEY=VALUE of `params` set in its "params";
// throws naming the bad one (the genesis parser checks names and ranges).
std::string with_genesis_params(const std::string& genesis_json, const std::vector<std::string>& params) {
  if (params.empty()) return genesis_json;
  json::value v = json::parse(genesis_json);
  for (const auto& kv : params) {
    const auto eq = kv.find('=');
    std::uint64_t n = 0;
    const char* end = kv.data() + kv.size();
    if (eq == std::string::npos || eq == 0 || std::from_chars(kv.data() + eq + 1, end, n).ptr != end || eq + 1 == kv.size())
      throw std::runtime_error("--genesis-param \"" + kv + "\": expected KEY=NUMBER, e.g. pos_probes_per_auditor=4");
    v.as_object()["params"].as_object()[kv.substr(0, eq)] = n;
  }
  std::string text = json::serialize(v);
  if (auto g = ledger::genesis_from_json(text); !g.ok())
    throw std::runtime_error("--genesis-param: the genesis is refused: " + g.status().text());
  return text;
}

// DIR/genesis.json (kept if present, so a restarted devnet keeps its chain)
// with `accounts` funded keys in DIR/accounts (0600).
void write_ledger_genesis(const UpOptions& o, Devnet& net) {
  const fs::path genesis_file = fs::absolute(o.dir / "genesis.json");
  const fs::path accounts_dir = fs::absolute(o.dir / "accounts");
  ledger::Genesis g;
  g.params.chain_id = "blockcloud-devnet";
  g.params.block_interval_ms = o.block_interval_ms;
  if (o.epoch_length > 0) g.params.epoch_length = o.epoch_length;
  g.time = 0;
  add_block_makers(o, g);
  for (int i = 0; i < o.accounts; ++i) {
    const std::string name = "account-" + std::to_string(i);
    const fs::path file = accounts_dir / (name + ".key");
    const auto key = load_or_create_key_file(file);
    const auto addr = ledger::address_of(key.public_key());
    g.accounts.push_back({addr, o.balance, 0});
    net.accounts.push_back({name, ledger::address_text(addr), file.string()});
  }
  // Storage providers are paid to their service owner's account (docs/storage.md
  // "Payment"): its key is made here, where the provider will find it, and
  // funded so the provider can pay the fees of its claims.
  for (int i = std::max(0, o.nodes - o.storage_providers); i < o.nodes; ++i) {
    const fs::path storage_dir = fs::absolute(o.dir / ("node-" + std::to_string(i))) / "storage";
    make_private_dir(storage_dir);
    g.accounts.push_back({ledger::address_of(load_or_create_key_file(storage_dir / "owner.key").public_key()), o.balance, 0});
  }
  net.genesis = genesis_file.string();
  if (fs::exists(genesis_file)) return;
  write_atomically(genesis_file, with_genesis_params(ledger::genesis_to_json(g), o.genesis_params));
}

}  // namespace

namespace {

void check_up_options(const UpOptions& o) {
  if (o.nodes < 1 || o.nodes > 1000) throw std::runtime_error("--nodes: expected 1 to 1000");
  if (o.validators > o.nodes)
    throw std::runtime_error("--validators " + std::to_string(o.validators) + " needs at least as many --nodes (got " +
                             std::to_string(o.nodes) + "); raise --nodes or lower --validators");
  const int last_port = o.base_port + (o.distinct_ports ? o.nodes - 1 : 0) + std::max(o.rpc_offset, 2);
  if (o.base_port < 1024 || last_port > 65535)
    throw std::runtime_error("--base-port: ports from " + std::to_string(o.base_port) + " to " +
                             std::to_string(last_port) + " must lie in 1024..65535");
}

fs::path require_daemon(const UpOptions& o) {
  const fs::path daemon = find_daemon(o.bin_dir);
  if (!fs::exists(daemon))
    throw std::runtime_error("blockcloudd not found at " + daemon.string() +
                             "; build it (ninja -C build blockcloudd) or pass --bin DIR");
  return daemon;
}

// A devnet file in `dir` whose nodes still run would be overwritten and its
// processes orphaned.
void refuse_running_devnet(const fs::path& dir) {
  if (!fs::exists(devnet_file(dir))) return;
  for (const auto& n : load_devnet(dir).nodes)
    if (!n.stopped && node_alive(n.pid))
      throw std::runtime_error("a devnet is already running in " + dir.string() + " (node " +
                               std::to_string(n.index) + ", pid " + std::to_string(n.pid) +
                               "); stop it with `blockcloud-devnet down --dir " + dir.string() + "`");
}

// Node 0 is the seed; node i joins through it and one or two random earlier nodes.
std::vector<int> pick_seeds(int i, std::mt19937_64& rng) {
  if (i == 0) return {};
  std::vector<int> seeds{0};
  const int extra = i - 1 >= 2 ? 2 : i - 1;
  while (static_cast<int>(seeds.size()) < 1 + extra) {
    const int s = 1 + static_cast<int>(rng() % static_cast<std::uint64_t>(i - 1));
    if (std::find(seeds.begin(), seeds.end(), s) == seeds.end()) seeds.push_back(s);
  }
  return seeds;
}

void add_arg(std::vector<std::string>& args, const char* flag, std::string value) {
  args.emplace_back(flag);
  args.push_back(std::move(value));
}

// Consensus messages: TCP at the node's IP, its listen port + 2.
Endpoint bft_endpoint(const UpOptions& o, int i) {
  const int port = o.base_port + (o.distinct_ports ? i : 0) + 2;
  return node_ip(o.base_ip, i, port);
}

// Consensus: each node listens and dials the genesis validators. A follower
// has a core only once its key is in a committee (a bond with
// `stake bond --consensus-key DATADIR/node.key`), and then joins with no restart.
void add_bft_args(const UpOptions& o, const NodeEntry& e, std::vector<std::string>& args) {
  add_arg(args, "--bft-listen", bft_endpoint(o, e.index).to_string());
  for (int v = 0; v < o.validators; ++v)
    if (v != e.index) add_arg(args, "--bft-peer", bft_endpoint(o, v).to_string());
}

// blockcloudd's command line for node `e`, joining through `seeds`.
std::vector<std::string> daemon_args(const UpOptions& o, const Devnet& net, const NodeEntry& e,
                                     const std::vector<int>& seeds) {
  std::vector<std::string> args{"--datadir", e.datadir, "--listen", e.listen.to_string(),
                                "--rpc", e.rpc.to_string(), "--mode", o.mode,
                                "--log-level", o.log_level};
  for (int s : seeds) add_arg(args, "--bootstrap", net.nodes[s].listen.to_string());
  for (const auto& d : o.dht) add_arg(args, "--dht", d);
  if (o.ledger) {
    add_arg(args, "--genesis", net.genesis);
    if (o.validators == 0 && e.index == 0) {
      args.emplace_back("--producer");
      add_arg(args, "--block-interval-ms", std::to_string(o.block_interval_ms));
    }
    if (o.validators > 0) add_bft_args(o, e, args);
  }
  if (e.index >= o.nodes - o.storage_providers) {
    args.emplace_back("--storage");
    add_arg(args, "--storage-capacity", o.storage_capacity);
    add_arg(args, "--storage-price", std::to_string(o.storage_price));
    if (o.storage_gc_grace_s >= 0) add_arg(args, "--storage-gc-grace-s", std::to_string(o.storage_gc_grace_s));
    if (o.storage_unpaid_grace_s >= 0) add_arg(args, "--storage-unpaid-grace-s", std::to_string(o.storage_unpaid_grace_s));
  }
  return args;
}

// Node i's addresses, data directory (created) and command line.
NodeEntry plan_node(const UpOptions& o, const Devnet& net, int i, std::mt19937_64& rng) {
  NodeEntry e;
  e.index = i;
  const int port = o.base_port + (o.distinct_ports ? i : 0);
  e.listen = node_ip(o.base_ip, i, port);
  e.rpc = node_ip(o.base_ip, i, port + o.rpc_offset);
  const fs::path datadir = fs::absolute(o.dir / ("node-" + std::to_string(i)));
  make_private_dir(datadir);
  e.datadir = datadir.string();
  e.args = daemon_args(o, net, e, pick_seeds(i, rng));
  return e;
}

// Stops the nodes started so far and reports why the devnet did not come up.
[[noreturn]] void abort_up(const UpOptions& o, Devnet& net, const std::string& why) {
  devnet_down(o.dir, net, 3, true);
  throw std::runtime_error(why);
}

// Waits for /health (the daemon is bound and serving); returns its node id.
std::string wait_until_serving(const UpOptions& o, Devnet& net, const NodeEntry& e, const fs::path& log) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  std::optional<std::string> id;
  while (!(id = health(e.rpc))) {
    if (!node_alive(e.pid) || std::chrono::steady_clock::now() > deadline)
      abort_up(o, net,
               fmt::format("node {} ({}) did not come up{}; last lines of {}:\n{}", e.index, e.listen.to_string(),
                           node_alive(e.pid) ? " within 20 s" : " (it exited)", log.string(), tail_file(log, 8)));
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
  }
  return *id;
}

// Spawns node `e`, records it in DIR/devnet.json at once (so `down` finds it
// even if start-up fails), and again with its node id once it serves.
void start_node(const UpOptions& o, const fs::path& daemon, Devnet& net, NodeEntry e) {
  const fs::path log = fs::path(e.datadir) / "log";
  try {
    e.pid = spawn_detached(daemon, e.args, log);
  } catch (const std::exception& ex) {
    abort_up(o, net, ex.what());
  }
  net.nodes.push_back(e);
  save_devnet(o.dir, net);
  const std::string id = wait_until_serving(o, net, e, log);
  net.nodes.back().node_id = id;
  save_devnet(o.dir, net);
  if (!o.quiet)
    std::cout << fmt::format("started node {}/{}  pid {}  udp {}  rpc {}  {}\n", e.index + 1, o.nodes, e.pid,
                             e.listen.to_string(), e.rpc.to_string(), id)
              << std::flush;
}

void print_up_summary(const UpOptions& o, const Devnet& net) {
  std::cout << fmt::format("devnet of {} nodes is up; described in {}\n", o.nodes, devnet_file(o.dir).string());
  if (!o.ledger) return;
  const std::string accounts_dir = (fs::absolute(o.dir) / "accounts").string();
  const std::string makers =
      o.validators == 0 ? fmt::format("node 0 produces a block every {} ms", o.block_interval_ms)
                        : fmt::format("nodes 0-{} are the committee and finalise a block about every {} ms, the others follow",
                                      o.validators - 1, o.block_interval_ms);
  std::cout << fmt::format("ledger: genesis {} with {} funded accounts (keys in {}, use "
                           "`blockcloud-cli --wallet-dir {} --from account-0 ...`); {}\n",
                           net.genesis, net.accounts.size(), accounts_dir, accounts_dir, makers);
}

}  // namespace

Devnet devnet_up(const UpOptions& options) {
  UpOptions o = options;
  if (!o.ledger && o.validators > 0) throw std::runtime_error("--validators needs the ledger; drop --no-ledger");
  if (o.validators < 0) o.validators = o.ledger ? std::min(4, o.nodes) : 0;
  check_up_options(o);
  const fs::path daemon = require_daemon(o);
  make_private_dir(o.dir);
  refuse_running_devnet(o.dir);
  Devnet net;
  net.mode = o.mode;
  if (o.ledger) write_ledger_genesis(o, net);
  std::mt19937_64 rng(std::random_device{}());
  for (int i = 0; i < o.nodes; ++i) start_node(o, daemon, net, plan_node(o, net, i, rng));
  if (!o.quiet) print_up_summary(o, net);
  return net;
}

int devnet_down(const fs::path& dir, Devnet& net, double timeout_s, bool quiet) {
  int running = 0;
  for (const auto& n : net.nodes)
    if (!n.stopped && node_alive(n.pid) && send_signal(n.pid, SIGTERM)) ++running;
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(static_cast<std::int64_t>(timeout_s * 1000));
  auto any_alive = [&] {
    for (const auto& n : net.nodes)
      if (!n.stopped && node_alive(n.pid)) return true;
    return false;
  };
  while (any_alive() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  int killed = 0;
  for (const auto& n : net.nodes)
    if (!n.stopped && node_alive(n.pid) && send_signal(n.pid, SIGKILL)) ++killed;
  // A killed process still needs a moment to release its memory and ports.
  const auto kill_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (any_alive() && std::chrono::steady_clock::now() < kill_deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  if (any_alive()) std::cerr << "warning: a node is still exiting 10 s after SIGKILL\n";
  for (auto& n : net.nodes) n.stopped = true;
  if (fs::exists(dir)) save_devnet(dir, net);
  if (!quiet)
    std::cout << fmt::format("stopped {} node(s){}\n", running,
                             killed ? fmt::format(" ({} needed SIGKILL after {} s)", killed, timeout_s) : "");
  return killed;
}

int devnet_status(const fs::path& dir) {
  auto net = load_devnet(dir);
  std::vector<std::vector<std::string>> rows{{"NODE", "UDP", "RPC", "PID", "ALIVE", "PEERS", "STORED", "NODE ID"}};
  int alive_count = 0;
  for (const auto& n : net.nodes) {
    const bool alive = !n.stopped && node_alive(n.pid);
    std::string peers = "-", stored = "-";
    if (alive) {
      ++alive_count;
      try {
        const auto s = node_rpc(n, "status", {}, std::chrono::seconds(3));
        const auto& c = s.at("contacts").as_array();
        peers = std::to_string(c[0].to_number<std::int64_t>());
        stored = std::to_string(s.at("stored_values").to_number<std::int64_t>());
      } catch (const std::exception&) {
        peers = "no answer";
      }
    }
    rows.push_back({std::to_string(n.index), n.listen.to_string(), n.rpc.to_string(), std::to_string(n.pid),
                    alive ? "yes" : "no", peers, stored, n.node_id});
  }
  std::vector<std::size_t> w(rows[0].size(), 0);
  for (const auto& r : rows)
    for (std::size_t i = 0; i < r.size(); ++i) w[i] = std::max(w[i], r[i].size());
  for (const auto& r : rows) {
    std::string line;
    for (std::size_t i = 0; i < r.size(); ++i) line += r[i] + std::string(i + 1 < r.size() ? w[i] - r[i].size() + 2 : 0, ' ');
    std::cout << line << "\n";
  }
  std::cout << fmt::format("{}/{} nodes alive\n", alive_count, net.nodes.size());
  return alive_count == static_cast<int>(net.nodes.size()) ? 0 : 1;
}

}  // namespace bc::devnet
