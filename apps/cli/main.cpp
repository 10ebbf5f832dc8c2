// blockcloud-cli: talks to a blockcloudd over its JSON-RPC.
// Exit codes: 0 ok, 1 failure (daemon unreachable, operation failed, not
// found), 2 usage error.
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <thread>

#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <fmt/format.h>

#include "apps/cli/commands.hpp"
#include "apps/cli/format.hpp"
#include "apps/cli/escrow_cmds.hpp"
#include "apps/cli/provider_cmds.hpp"
#include "apps/cli/rpc.hpp"
#include "apps/cli/service_cmds.hpp"
#include "apps/cli/storage_cmds.hpp"
#include "apps/cli/miner_cmds.hpp"
#include "apps/cli/validator_cmds.hpp"
#include "apps/cli/wallet.hpp"
#include "apps/common/http_client.hpp"
#include "apps/common/ledger_json.hpp"
#include "layers/assert.hpp"
#include "ledger/tx.hpp"

namespace {
namespace json = boost::json;
using bc::cli::str;
using bc::cli::table;

constexpr const char* kDefaultRpc = "127.0.0.1:10000";

using bc::cli::call;
using bc::cli::CommandFn;
using bc::cli::CommandTable;
using bc::cli::Failure;
using bc::cli::ms;
using bc::cli::Options;
using bc::cli::print_json;

int cmd_status(const Options& o, const bc::Endpoint& ep) {
  const auto r = call(o, ep, "status", {}, ms(o.timeout_s));
  if (o.json) return print_json(r), 0;
  const auto& s = r.as_object();
  const auto& c = s.at("contacts").as_array();
  std::cout << table({
      {"node", str(s.at("node_id"))},
      {"node key", str(s.at("node_key"))},
      {"listen", "udp " + str(s.at("listen"))},
      {"rpc", "http://" + str(s.at("rpc"))},
      {"mode", str(s.at("mode"))},
      {"uptime", bc::cli::human_duration(s.at("uptime_s").to_number<std::int64_t>())},
      {"contacts", fmt::format("{} global, {} in level-1 cluster, {} in level-2 cluster", str(c[0]),
                               str(c[1]), str(c[2]))},
      {"stored", fmt::format("{} values under {} keys ({})", str(s.at("stored_values")),
                             str(s.at("stored_keys")),
                             bc::cli::human_bytes(s.at("stored_bytes").to_number<std::uint64_t>()))},
      {"watches", fmt::format("{} held for other nodes, {} for RPC clients", str(s.at("watches_held")),
                              str(s.at("rpc_watches")))},
      {"lookups", str(s.at("lookups_in_flight")) + " in flight"},
  });
  return 0;
}

int cmd_peers(const Options& o, const bc::Endpoint& ep) {
  const auto r = call(o, ep, "peers", {}, ms(o.timeout_s));
  if (o.json) return print_json(r), 0;
  std::vector<std::vector<std::string>> rows{{"NODE", "ENDPOINT", "RTT", "LEVEL", "LAST SEEN"}};
  for (const auto& v : r.as_array()) {
    const auto& p = v.as_object();
    const auto rtt = p.at("rtt_ms").to_number<std::int64_t>();
    const auto seen = p.at("last_seen_ms_ago").to_number<std::int64_t>();
    rows.push_back({str(p.at("id")), str(p.at("endpoint")), rtt < 0 ? "-" : fmt::format("{} ms", rtt),
                    str(p.at("level")), seen < 0 ? "never" : bc::cli::human_duration(seen / 1000) + " ago"});
  }
  std::cout << table(rows) << fmt::format("{} peers\n", rows.size() - 1);
  return 0;
}

// What the dht commands read from the command line.
struct DhtArgs {
  std::string key, value, encoding = "text";
  double ttl = 0;
  double watch_timeout = 60;
};

int cmd_put(const Options& o, const bc::Endpoint& ep, const DhtArgs& a) {
  const std::string& key = a.key;
  json::object p{{"key", key}};
  p[a.encoding == "text" ? "value" : a.encoding == "hex" ? "value_hex" : "value_base64"] = a.value;
  if (a.ttl > 0) p["ttl"] = a.ttl;
  const auto r = call(o, ep, "dht_put", p, ms(o.timeout_s));
  if (o.json) return print_json(r), 0;
  const auto& s = r.as_object();
  std::cout << fmt::format("stored \"{}\" ({} bytes) on {} nodes in {} hops, {} ms; expires in {}\n", key,
                           str(s.at("size")), str(s.at("stored")), str(s.at("hops")),
                           str(s.at("latency_ms")),
                           bc::cli::human_duration(s.at("ttl_s").to_number<std::int64_t>()))
            << fmt::format("key   {}\nowner {}\n", str(s.at("key_text")), str(s.at("owner")));
  return 0;
}

int cmd_get(const Options& o, const bc::Endpoint& ep, const DhtArgs& a) {
  const std::string& key = a.key;
  const auto r = call(o, ep, "dht_get", {{"key", key}}, ms(o.timeout_s));
  const auto& s = r.as_object();
  const auto found = s.at("found").to_number<std::int64_t>();
  if (o.json) return print_json(r), found > 0 ? 0 : 1;
  if (found == 0) {
    std::cerr << fmt::format("no value found for \"{}\" ({} hops, {} ms); it was never put, has "
                             "expired, or its storage nodes are unreachable\n",
                             key, str(s.at("hops")), str(s.at("latency_ms")));
    return 1;
  }
  std::vector<std::vector<std::string>> rows{{"OWNER", "SEQ", "TTL LEFT", "VALUE"}};
  for (const auto& v : s.at("values").as_array()) {
    const auto& rec = v.as_object();
    rows.push_back({str(rec.at("owner")), str(rec.at("seq")),
                    bc::cli::human_duration(rec.at("ttl_remaining_s").to_number<std::int64_t>()),
                    bc::cli::display_value(rec)});
  }
  std::cout << table(rows)
            << fmt::format("{} value(s) in {} hops, cluster level {}, {} ms\n", found, str(s.at("hops")),
                           str(s.at("level")), str(s.at("latency_ms")));
  return 0;
}

int cmd_watch(const Options& o, const bc::Endpoint& ep, const DhtArgs& a) {
  const std::string& key = a.key;
  const double timeout_s = a.watch_timeout;
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + ms(timeout_s);
  std::optional<std::uint64_t> cursor;
  int events = 0;
  if (!o.json)
    std::cout << fmt::format("watching \"{}\"{} (Ctrl-C to stop)\n", key,
                             timeout_s > 0 ? fmt::format(" for {}", bc::cli::human_duration(
                                                                        static_cast<std::int64_t>(timeout_s)))
                                           : "")
              << std::flush;
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (timeout_s > 0 && left.count() <= 0) break;
    const std::int64_t poll_ms = timeout_s > 0 ? std::min<std::int64_t>(left.count(), 25'000) : 25'000;
    json::object p{{"key", key}, {"timeout_ms", poll_ms}};
    if (cursor) p["cursor"] = *cursor;
    const auto r = call(o, ep, "dht_watch", p, std::chrono::milliseconds(poll_ms) + ms(o.timeout_s));
    const auto& s = r.as_object();
    cursor = s.at("cursor").to_number<std::uint64_t>();
    if (const auto missed = s.at("missed").to_number<std::uint64_t>(); missed > 0 && !o.json)
      std::cout << fmt::format("({} events were dropped before this poll)\n", missed);
    for (const auto& v : s.at("events").as_array()) {
      ++events;
      if (o.json) {
        print_json(v);
        continue;
      }
      const auto& ev = v.as_object();
      const auto& rec = ev.at("record").as_object();
      std::cout << fmt::format("{}  {:<7}  owner {}  seq {}  ttl {}  {}\n",
                               bc::cli::local_time(ev.at("at_ms").to_number<std::int64_t>()),
                               str(ev.at("kind")), str(rec.at("owner")), str(rec.at("seq")),
                               bc::cli::human_duration(rec.at("ttl_remaining_s").to_number<std::int64_t>()),
                               bc::cli::display_value(rec));
    }
    std::cout << std::flush;
  }
  if (!o.json) std::cout << fmt::format("{} event(s)\n", events);
  return 0;
}


// ---- ledger ----

struct LedgerArgs {
  std::string wallet_dir, from, name, address, amount, fee = "1", id, which, consensus_key;
  double wait_s = 0;
  std::int64_t nonce = -1;
};

std::filesystem::path wallet_dir(const LedgerArgs& a) {
  return a.wallet_dir.empty() ? bc::cli::default_wallet_dir() : std::filesystem::path(a.wallet_dir);
}

bc::ledger::Amount need_amount(const std::string& text, const char* what) {
  auto v = bc::apps::parse_amount(text);
  if (!v || *v == 0)
    throw Failure{std::string(what) + ": expected a whole number of base units > 0 (digits only), got \"" + text + "\""};
  return *v;
}

int cmd_wallet_new(const Options& o, const LedgerArgs& a) {
  const auto k = bc::cli::wallet_new(wallet_dir(a), a.name.empty() ? "default" : a.name);
  if (o.json) return print_json(json::object{{"name", k.name}, {"address", bc::ledger::address_text(k.address)}, {"file", k.file.string()}}), 0;
  std::cout << fmt::format("created key \"{}\" in {} (mode 0600)\naddress {}\n", k.name, k.file.string(),
                           bc::ledger::address_text(k.address));
  return 0;
}

int cmd_wallet_list(const Options& o, const LedgerArgs& a) {
  const auto keys = bc::cli::wallet_list(wallet_dir(a));
  json::array arr;
  std::vector<std::vector<std::string>> rows{{"NAME", "ADDRESS"}};
  for (const auto& k : keys) {
    arr.push_back(json::object{{"name", k.name}, {"address", bc::ledger::address_text(k.address)}});
    rows.push_back({k.name, bc::ledger::address_text(k.address)});
  }
  if (o.json) return print_json(arr), 0;
  std::cout << table(rows) << fmt::format("{} key(s) in {}\n", keys.size(), wallet_dir(a).string());
  return 0;
}

int cmd_balance(const Options& o, const bc::Endpoint& ep, const LedgerArgs& a) {
  std::string addr = a.address;
  if (addr.empty()) addr = bc::ledger::address_text(bc::cli::wallet_get(wallet_dir(a), a.from).address);
  const auto r = call(o, ep, "get_account", {{"address", addr}}, ms(o.timeout_s));
  if (o.json) return print_json(r), 0;
  const auto& s = r.as_object();
  std::cout << table({{"address", str(s.at("address"))},
                      {"balance", str(s.at("balance"))},
                      {"bonded", str(s.at("bonded"))},
                      {"nonce", str(s.at("nonce"))},
                      {"at height", str(s.at("height"))},
                      {"state root", str(s.at("state_root"))}});
  return 0;
}

// The nonce a tx from the wallet key is signed with: --nonce, else the account's committed nonce.
std::uint64_t tx_nonce(const Options& o, const bc::Endpoint& ep, const LedgerArgs& a) {
  if (a.nonce >= 0) return static_cast<std::uint64_t>(a.nonce);
  const auto k = bc::cli::wallet_get(wallet_dir(a), a.from);
  const auto acc = call(o, ep, "get_account", {{"address", bc::ledger::address_text(k.address)}}, ms(o.timeout_s));
  return acc.as_object().at("nonce").to_number<std::uint64_t>();
}

// Signs a tx from the wallet key, sends it, and optionally waits for its commit.
int send_payload(const Options& o, const bc::Endpoint& ep, const LedgerArgs& a, bc::ledger::TxPayload payload) {
  const auto k = bc::cli::wallet_get(wallet_dir(a), a.from);
  const auto head = call(o, ep, "head", {}, ms(o.timeout_s)).as_object();
  const std::uint64_t nonce = tx_nonce(o, ep, a);
  bc::ledger::TxBody body;
  body.chain_id = std::string(head.at("chain_id").as_string());
  body.sender = k.key.public_key();
  body.nonce = nonce;
  body.fee = need_amount(a.fee, "--fee");
  body.payload = std::move(payload);
  const auto tx = bc::ledger::sign_tx(std::move(body), k.key);
  const auto r = call(o, ep, "send_tx", {{"tx", bc::to_hex(bc::ledger::encode_tx(tx))}}, ms(o.timeout_s));
  const std::string id = tx.id.hex();
  if (a.wait_s <= 0) {
    if (o.json) return print_json(r), 0;
    std::cout << fmt::format("sent {} (nonce {}); pending. Follow it with `blockcloud-cli tx {}`\n", id, nonce, id);
    return 0;
  }
  const auto deadline = std::chrono::steady_clock::now() + ms(a.wait_s);
  while (std::chrono::steady_clock::now() < deadline) {
    const auto t = call(o, ep, "get_tx", {{"id", id}}, ms(o.timeout_s));
    const auto status = str(t.as_object().at("status"));
    if (status == "committed") {
      if (o.json) return print_json(t), 0;
      std::cout << fmt::format("committed {} at height {}\n", id, str(t.as_object().at("height")));
      return 0;
    }
    if (status == "dropped")
      throw Failure{"transaction " + id + " was dropped by the block producer: " + str(t.as_object().at("reason"))};
    if (status == "unknown")
      throw Failure{"transaction " + id + " left the mempool without being committed (replaced or evicted); check the nonce and balance"};
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  throw Failure{fmt::format("transaction {} still pending after {} s; is a producer running? (`blockcloud-cli head` should advance)", id, a.wait_s)};
}

int cmd_send(const Options& o, const bc::Endpoint& ep, const LedgerArgs& a) {
  auto to = bc::apps::parse_address(a.address);
  if (!to) throw Failure{"ADDRESS: \"" + a.address + "\" is not an account address (a... with a valid checksum, or 64 hex digits)"};
  return send_payload(o, ep, a, bc::ledger::Transfer{*to, need_amount(a.amount, "AMOUNT")});
}

// A bond that registers the node key in FILE as the account's vote key,
// with its proof of possession: the account validates from the next epoch.
bc::ledger::Bond bond_registering_key(const Options& o, const bc::Endpoint& ep, const LedgerArgs& a,
                                      bc::ledger::Amount amount) {
  if (!std::filesystem::is_regular_file(a.consensus_key))
    throw Failure{"--consensus-key: " + a.consensus_key + " is not a key file; give the validator node's key (DATADIR/node.key)"};
  const auto consensus = bc::load_or_create_key_file(a.consensus_key);
  const auto account = bc::cli::wallet_get(wallet_dir(a), a.from).address;
  const auto head = call(o, ep, "head", {}, ms(o.timeout_s)).as_object();
  return bc::ledger::bond_with_key(amount, consensus, std::string(head.at("chain_id").as_string()), account);
}

int cmd_stake(const Options& o, const bc::Endpoint& ep, const LedgerArgs& a) {
  const auto amount = need_amount(a.amount, "AMOUNT");
  if (a.which == "unbond") {
    if (!a.consensus_key.empty()) throw Failure{"--consensus-key goes with `stake bond`, not `stake unbond`"};
    return send_payload(o, ep, a, bc::ledger::Unbond{amount});
  }
  if (a.consensus_key.empty()) return send_payload(o, ep, a, bc::ledger::Bond{amount});
  return send_payload(o, ep, a, bond_registering_key(o, ep, a, amount));
}

int cmd_tx(const Options& o, const bc::Endpoint& ep, const LedgerArgs& a) {
  const auto r = call(o, ep, "get_tx", {{"id", a.id}}, ms(o.timeout_s));
  const auto& s = r.as_object();
  const auto status = str(s.at("status"));
  if (o.json) return print_json(r), status == "unknown" ? 1 : 0;
  if (status == "unknown") {
    std::cerr << "transaction " << a.id
              << " is unknown to this node (never received, or dropped from its mempool); check the ID, or send it again\n";
    return 1;
  }
  std::vector<std::vector<std::string>> rows{{"id", str(s.at("id"))}, {"status", status}};
  if (status == "dropped") rows.push_back({"reason", str(s.at("reason"))});
  if (status == "committed") {
    rows.push_back({"height", str(s.at("height"))});
    rows.push_back({"block", str(s.at("block_hash"))});
    rows.push_back({"confirmations", str(s.at("confirmations"))});
    if (auto* t = s.if_contains("tx"))
      for (const auto& [k, v] : t->as_object())
        if (k != "id") rows.push_back({std::string(k), str(v)});
  }
  std::cout << table(rows);
  return 0;
}

int cmd_block(const Options& o, const bc::Endpoint& ep, const LedgerArgs& a) {
  json::object p;
  if (a.which == "latest") p["height"] = "latest";
  else if (auto h = bc::apps::parse_amount(a.which)) p["height"] = *h;
  else if (a.which == "0") p["height"] = 0;
  else if (a.which.size() == 64) p["hash"] = a.which;
  else throw Failure{"block: expected a height, \"latest\" or a 64-hex block hash, got \"" + a.which + "\""};
  const auto r = call(o, ep, "get_block", p, ms(o.timeout_s));
  if (o.json) return print_json(r), 0;
  const auto& s = r.as_object();
  std::cout << table({{"height", str(s.at("height"))},
                      {"hash", str(s.at("hash"))},
                      {"prev", str(s.at("prev_hash"))},
                      {"time", bc::cli::local_time(s.at("time_ms").to_number<std::int64_t>())},
                      {"proposer", str(s.at("proposer"))},
                      {"state root", str(s.at("state_root"))},
                      {"txs", str(s.at("tx_count"))}});
  for (const auto& t : s.at("txs").as_array()) {
    const auto& x = t.as_object();
    std::cout << fmt::format("  {} {} from {} nonce {}{}\n", str(x.at("id")), str(x.at("kind")), str(x.at("sender")),
                             str(x.at("nonce")),
                             x.if_contains("amount") ? " amount " + str(x.at("amount")) + (x.if_contains("to") ? " to " + str(x.at("to")) : "") : "");
  }
  return 0;
}

int cmd_head(const Options& o, const bc::Endpoint& ep) {
  const auto r = call(o, ep, "head", {}, ms(o.timeout_s));
  if (o.json) return print_json(r), 0;
  const auto& s = r.as_object();
  std::cout << table({{"chain", str(s.at("chain_id"))}, {"height", str(s.at("height"))}, {"hash", str(s.at("hash"))},
                      {"state root", str(s.at("state_root"))}});
  return 0;
}

int cmd_validators(const Options& o, const bc::Endpoint& ep) {
  const auto r = call(o, ep, "validators", {}, ms(o.timeout_s));
  if (o.json) return print_json(r), 0;
  const auto& s = r.as_object();
  std::vector<std::vector<std::string>> rows{{"ADDRESS", "STATUS", "BONDED", "POWER", "MISSED", "CONSENSUS KEY"}};
  for (const auto& v : s.at("validators").as_array()) {
    const auto& x = v.as_object();
    rows.push_back({str(x.at("address")), str(x.at("status")), str(x.at("bonded")), str(x.at("power")),
                    str(x.at("missed")) + "/" + str(x.at("tracked")), str(x.at("consensus_key")).substr(0, 16) + "..."});
  }
  std::cout << table(rows);
  const auto& committee = s.at("committee").as_array();
  if (s.at("epoch").is_null())
    std::cout << fmt::format("{} validator(s); no committee is written for height {} yet\n", rows.size() - 1,
                             str(s.at("next_height")));
  else
    std::cout << fmt::format("{} validator(s); height {} is certified by the {} member(s) of epoch {} (total power {}){}\n",
                             rows.size() - 1, str(s.at("next_height")), committee.size(), str(s.at("epoch")),
                             str(s.at("total_power")),
                             s.at("certified").as_bool() ? "" : "; this chain has no genesis committee: one producer makes blocks");
  return 0;
}

int cmd_unjail(const Options& o, const bc::Endpoint& ep, const LedgerArgs& a) {
  return send_payload(o, ep, a, bc::ledger::Unjail{});
}

// ---- command line ----

// The top-level options every command reads, and the rule that one command is given.
void add_global_options(CLI::App& app, Options& o) {
  app.require_subcommand(1);
  app.fallthrough();  // global flags may also follow the command
  if (const char* env = std::getenv("BLOCKCLOUD_RPC")) o.rpc = env;
  else o.rpc = kDefaultRpc;
  app.add_option("--rpc", o.rpc, "the daemon's RPC address IP:PORT (default $BLOCKCLOUD_RPC or 127.0.0.1:10000)");
  app.add_flag("--json", o.json, "print the raw JSON result (one object per line) for scripts");
  app.add_option("--rpc-timeout", o.timeout_s, "seconds to wait for the daemon (default 30)")
      ->check(CLI::PositiveNumber);
  bc::cli::add_credential_options(app, o);
}

void add_node_commands(CLI::App& app, CommandTable& commands) {
  commands.add(&app, "status", "node id, addresses, contacts, stored values", cmd_status);
  commands.add(&app, "peers", "the routing table: node ids, endpoints, RTT, cluster level", cmd_peers);
}

void add_key_argument(CLI::App* c, std::string& key) {
  c->add_option("KEY", key, "any text, 64 hex digits, or a k... id")->required();
}

void add_dht_commands(CLI::App& app, DhtArgs& a, CommandTable& commands) {
  auto* dht = bc::cli::add_command_group(app, "dht", "store, find and watch values in the DHT");
  auto* put = commands.add(dht, "put", "sign VALUE with the node's key and store it under KEY",
                          [&a](const Options& o, const bc::Endpoint& ep) { return cmd_put(o, ep, a); });
  add_key_argument(put, a.key);
  put->add_option("VALUE", a.value, "the value (at most 1024 bytes)")->required();
  put->add_option("--ttl", a.ttl, "seconds until it expires (default: the daemon's default_ttl_ms)")
      ->check(CLI::PositiveNumber);
  put->add_option("--encoding", a.encoding, "how VALUE is written: text, hex or base64")
      ->check(CLI::IsMember({"text", "hex", "base64"}));
  auto* get = commands.add(dht, "get", "find the values stored under KEY",
                          [&a](const Options& o, const bc::Endpoint& ep) { return cmd_get(o, ep, a); });
  add_key_argument(get, a.key);
  auto* watch = commands.add(dht, "watch", "print values added to / expiring from KEY as they happen",
                            [&a](const Options& o, const bc::Endpoint& ep) { return cmd_watch(o, ep, a); });
  add_key_argument(watch, a.key);
  watch->add_option("--timeout", a.watch_timeout, "stop after this many seconds (0: until Ctrl-C; default 60)")
      ->check(CLI::NonNegativeNumber);
}

// Binds a ledger command to the arguments it reads.
CommandFn with_ledger_args(int (*cmd)(const Options&, const bc::Endpoint&, const LedgerArgs&), const LedgerArgs& a) {
  return [cmd, &a](const Options& o, const bc::Endpoint& ep) { return cmd(o, ep, a); };
}

void add_wallet_commands(CLI::App& app, LedgerArgs& a, CommandTable& commands) {
  app.add_option("--wallet-dir", a.wallet_dir, "where account keys live (default ~/.blockcloud/wallet)");
  auto* wallet = bc::cli::add_command_group(app, "wallet", "account keys on this machine");
  auto* wnew = commands.add(wallet, "new", "create a key (file NAME.key, mode 0600)",
                           [&a](const Options& o, const bc::Endpoint&) { return cmd_wallet_new(o, a); });
  wnew->add_option("--name", a.name, "name of the key (default \"default\")");
  commands.add(wallet, "list", "names and addresses of the keys",
              [&a](const Options& o, const bc::Endpoint&) { return cmd_wallet_list(o, a); });
}

// The options of a command that signs and sends a transaction.
void add_tx_options(CLI::App* c, LedgerArgs& a) {
  c->add_option("--from", a.from, "wallet key that signs (default: the only one)");
  c->add_option("--fee", a.fee, "fee in base units (default 1)");
  c->add_option("--nonce", a.nonce, "nonce to use (default: the account's committed nonce)");
  c->add_option("--wait", a.wait_s, "wait up to this many seconds for the commit")->check(CLI::NonNegativeNumber);
}

void add_account_commands(CLI::App& app, LedgerArgs& a, CommandTable& commands) {
  auto* balance = commands.add(&app, "balance", "balance, stake and nonce of ADDRESS (default: your key)",
                              with_ledger_args(cmd_balance, a));
  balance->add_option("ADDRESS", a.address, "account address a...");
  balance->add_option("--from", a.from, "wallet key to show when ADDRESS is omitted");
  auto* send =
      commands.add(&app, "send", "transfer AMOUNT base units to ADDRESS", with_ledger_args(cmd_send, a));
  send->add_option("ADDRESS", a.address, "recipient a...")->required();
  send->add_option("AMOUNT", a.amount, "base units (whole number)")->required();
  add_tx_options(send, a);
  auto* stake = commands.add(&app, "stake", "bond or unbond stake", with_ledger_args(cmd_stake, a));
  stake->add_option("ACTION", a.which, "bond or unbond")->required()->check(CLI::IsMember({"bond", "unbond"}));
  stake->add_option("AMOUNT", a.amount, "base units (whole number)")->required();
  stake->add_option("--consensus-key", a.consensus_key,
                    "bond: register this node key file (DATADIR/node.key) as the account's vote key; "
                    "the node validates once the account is in an epoch's committee");
  add_tx_options(stake, a);
  auto* unjail = commands.add(&app, "unjail", "return your jailed validator to the set (from its jailed_until height)",
                             with_ledger_args(cmd_unjail, a));
  add_tx_options(unjail, a);
}

void add_chain_commands(CLI::App& app, LedgerArgs& a, CommandTable& commands) {
  auto* tx = commands.add(&app, "tx", "status of a transaction: pending, committed (height) or unknown",
                         with_ledger_args(cmd_tx, a));
  tx->add_option("ID", a.id, "transaction id (64 hex digits)")->required();
  auto* block =
      commands.add(&app, "block", "a block by height, \"latest\" or hash", with_ledger_args(cmd_block, a));
  block->add_option("HEIGHT", a.which, "height, latest, or block hash")->required();
  commands.add(&app, "head", "the node's head: height, hash, state root", cmd_head);
  commands.add(&app, "validators", "registered validators, their stake and status, and the next block's committee",
               cmd_validators);
}

// "blockcloud-cli dht put" when parsing stopped inside `dht put`: where --help
// shows the usage that was broken.
std::string parsed_command_path(const CLI::App& app) {
  std::string path = "blockcloud-cli";
  for (auto subs = app.get_subcommands(); !subs.empty(); subs = subs.front()->get_subcommands())
    path += " " + subs.front()->get_name();
  return path;
}

// CLI11 reports a misspelt command (or an unknown option in its place) as a
// missing command; name the word it did not know.
std::string parse_error_text(const CLI::App& app, const CLI::ParseError& e) {
  const std::string what = e.what();
  const auto unknown = app.remaining(true);
  if (what.find("subcommand is required") == std::string::npos || unknown.empty()) return what;
  const std::string& word = unknown.front();
  return word.starts_with('-') ? "unknown option \"" + word + "\"" : "\"" + word + "\" is not a command";
}

// Parses argv; an exit code if the program ends here (help shown, or a usage error).
std::optional<int> parse_command_line(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
    return std::nullopt;
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "blockcloud-cli: " << parse_error_text(app, e) << "\nrun `" << parsed_command_path(app)
              << " --help` for usage\n";
    return 2;
  }
}

// Runs the parsed command; each failure becomes one line on stderr and exit code 1.
int run_command(const CommandTable& commands, const Options& o) {
  const auto ep = bc::Endpoint::parse(o.rpc);
  if (!ep) {
    std::cerr << "blockcloud-cli: --rpc: expected IP:PORT such as 127.0.0.1:10000, got \"" << o.rpc << "\"\n";
    return 2;
  }
  try {
    if (auto rc = commands.run_parsed(o, *ep)) return *rc;
  } catch (const Failure& f) {
    std::cerr << "blockcloud-cli: " << f.message << "\n";
    return 1;
  } catch (const bc::cli::WalletError& e) {
    std::cerr << "blockcloud-cli: " << e.what() << "\n";
    return 1;
  } catch (const std::filesystem::filesystem_error& e) {
    std::cerr << "blockcloud-cli: " << e.what() << " (check the path and its permissions, or pass --wallet-dir / --key-dir)\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "blockcloud-cli: unexpected answer from blockcloudd at " << o.rpc << ": " << e.what()
              << " — are the CLI and the daemon the same version?\n";
    return 1;
  }
  // CLI11 has required exactly one command, and every command is in the table.
  BC_UNREACHABLE("a parsed command that is not in the command table");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"blockcloud-cli: talk to a running blockcloudd"};
  Options o;
  DhtArgs dht;
  LedgerArgs ledger;
  CommandTable commands;
  add_global_options(app, o);
  add_node_commands(app, commands);
  add_dht_commands(app, dht, commands);
  add_wallet_commands(app, ledger, commands);
  add_account_commands(app, ledger, commands);
  add_chain_commands(app, ledger, commands);
  bc::cli::add_validator_commands(app, commands);
  bc::cli::add_miner_commands(app, commands);
  bc::cli::ServiceCommands services(app, commands);
  const bc::cli::ProviderHooks tx_hooks{
      [&ledger](const Options& o, const bc::Endpoint& ep, bc::ledger::TxPayload p) { return send_payload(o, ep, ledger, std::move(p)); },
      [&ledger] { return bc::cli::wallet_get(wallet_dir(ledger), ledger.from); },
      [&ledger](CLI::App* c) { add_tx_options(c, ledger); },
      [&ledger](CLI::App* c) { c->add_option("--from", ledger.from, "wallet key (default: the only one)"); },
      [&ledger] { return ledger.wait_s; },
      [&ledger](const Options& o, const bc::Endpoint& ep) { return tx_nonce(o, ep, ledger); }};
  bc::cli::ProviderCommands providers(app, commands, tx_hooks);
  bc::cli::EscrowCommands escrows(app, commands, tx_hooks);
  bc::cli::StorageCommands storage(
      app, commands,
      {[&ledger] { return bc::cli::wallet_get(wallet_dir(ledger), ledger.from); },
       [&ledger](CLI::App* c) { c->add_option("--from", ledger.from, "wallet key that pays for storage (default: the only one)"); }});
  bc::cli::RpcAuthArgs rpcauth;
  bc::cli::add_rpcauth_command(app, rpcauth, commands);
  if (auto rc = parse_command_line(app, argc, argv)) return *rc;
  return run_command(commands, o);
}
