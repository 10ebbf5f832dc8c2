// blockcloud-cli: talks to a blockcloudd over its JSON-RPC.
// Exit codes: 0 ok, 1 failure (daemon unreachable, operation failed, not
// found), 2 usage error.
#include <cstdlib>
#include <iostream>
#include <thread>

#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <fmt/format.h>

#include "apps/cli/format.hpp"
#include "apps/cli/rpc.hpp"
#include "apps/cli/service_cmds.hpp"
#include "apps/cli/wallet.hpp"
#include "apps/common/http_client.hpp"
#include "apps/common/ledger_json.hpp"
#include "ledger/tx.hpp"

namespace {
namespace json = boost::json;
using bc::cli::str;
using bc::cli::table;

constexpr const char* kDefaultRpc = "127.0.0.1:10000";

using bc::cli::call;
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

int cmd_put(const Options& o, const bc::Endpoint& ep, const std::string& key, const std::string& value,
            const std::string& encoding, double ttl) {
  json::object p{{"key", key}};
  p[encoding == "text" ? "value" : encoding == "hex" ? "value_hex" : "value_base64"] = value;
  if (ttl > 0) p["ttl"] = ttl;
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

int cmd_get(const Options& o, const bc::Endpoint& ep, const std::string& key) {
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

int cmd_watch(const Options& o, const bc::Endpoint& ep, const std::string& key, double timeout_s) {
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
  std::string wallet_dir, from, name, address, amount, fee = "1", id, which;
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

// Signs a tx from the wallet key, sends it, and optionally waits for its commit.
int send_payload(const Options& o, const bc::Endpoint& ep, const LedgerArgs& a, bc::ledger::TxPayload payload) {
  const auto k = bc::cli::wallet_get(wallet_dir(a), a.from);
  const auto head = call(o, ep, "head", {}, ms(o.timeout_s)).as_object();
  std::uint64_t nonce;
  if (a.nonce >= 0) {
    nonce = static_cast<std::uint64_t>(a.nonce);
  } else {
    const auto acc = call(o, ep, "get_account", {{"address", bc::ledger::address_text(k.address)}}, ms(o.timeout_s));
    nonce = acc.as_object().at("nonce").to_number<std::uint64_t>();
  }
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

int cmd_stake(const Options& o, const bc::Endpoint& ep, const LedgerArgs& a) {
  const auto amount = need_amount(a.amount, "AMOUNT");
  if (a.which == "bond") return send_payload(o, ep, a, bc::ledger::Bond{amount});
  return send_payload(o, ep, a, bc::ledger::Unbond{amount});
}

int cmd_tx(const Options& o, const bc::Endpoint& ep, const LedgerArgs& a) {
  const auto r = call(o, ep, "get_tx", {{"id", a.id}}, ms(o.timeout_s));
  const auto& s = r.as_object();
  const auto status = str(s.at("status"));
  if (o.json) return print_json(r), status == "unknown" ? 1 : 0;
  if (status == "unknown") {
    std::cerr << "transaction " << a.id << " is unknown to this node (never received, or dropped from its mempool)\n";
    return 1;
  }
  std::vector<std::vector<std::string>> rows{{"id", str(s.at("id"))}, {"status", status}};
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

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"blockcloud-cli: talk to a running blockcloudd"};
  app.require_subcommand(1);
  app.fallthrough();  // global flags may also follow the command
  Options o;
  if (const char* env = std::getenv("BLOCKCLOUD_RPC")) o.rpc = env;
  else o.rpc = kDefaultRpc;
  app.add_option("--rpc", o.rpc, "the daemon's RPC address IP:PORT (default $BLOCKCLOUD_RPC or 127.0.0.1:10000)");
  app.add_flag("--json", o.json, "print the raw JSON result (one object per line) for scripts");
  app.add_option("--rpc-timeout", o.timeout_s, "seconds to wait for the daemon (default 30)")
      ->check(CLI::PositiveNumber);

  auto* status = app.add_subcommand("status", "node id, addresses, contacts, stored values");
  auto* peers = app.add_subcommand("peers", "the routing table: node ids, endpoints, RTT, cluster level");
  auto* dht = app.add_subcommand("dht", "store, find and watch values in the DHT");
  dht->require_subcommand(1);
  dht->fallthrough();
  std::string key, value, encoding = "text";
  double ttl = 0, watch_timeout = 60;
  auto* put = dht->add_subcommand("put", "sign VALUE with the node's key and store it under KEY");
  put->add_option("KEY", key, "any text, 64 hex digits, or a k... id")->required();
  put->add_option("VALUE", value, "the value (at most 1024 bytes)")->required();
  put->add_option("--ttl", ttl, "seconds until it expires (default: the daemon's default_ttl_ms)")
      ->check(CLI::PositiveNumber);
  put->add_option("--encoding", encoding, "how VALUE is written: text, hex or base64")
      ->check(CLI::IsMember({"text", "hex", "base64"}));
  put->fallthrough();
  auto* get = dht->add_subcommand("get", "find the values stored under KEY");
  get->add_option("KEY", key, "any text, 64 hex digits, or a k... id")->required();
  get->fallthrough();
  auto* watch = dht->add_subcommand("watch", "print values added to / expiring from KEY as they happen");
  watch->add_option("KEY", key, "any text, 64 hex digits, or a k... id")->required();
  watch->add_option("--timeout", watch_timeout, "stop after this many seconds (0: until Ctrl-C; default 60)")
      ->check(CLI::NonNegativeNumber);
  watch->fallthrough();
  status->fallthrough();
  peers->fallthrough();

  LedgerArgs la;
  app.add_option("--wallet-dir", la.wallet_dir, "where account keys live (default ~/.blockcloud/wallet)");
  auto* wallet = app.add_subcommand("wallet", "account keys on this machine");
  wallet->require_subcommand(1);
  wallet->fallthrough();
  auto* wnew = wallet->add_subcommand("new", "create a key (file NAME.key, mode 0600)");
  wnew->add_option("--name", la.name, "name of the key (default \"default\")");
  wnew->fallthrough();
  auto* wlist = wallet->add_subcommand("list", "names and addresses of the keys");
  wlist->fallthrough();
  auto* balance = app.add_subcommand("balance", "balance, stake and nonce of ADDRESS (default: your key)");
  balance->add_option("ADDRESS", la.address, "account address a...");
  balance->add_option("--from", la.from, "wallet key to show when ADDRESS is omitted");
  balance->fallthrough();
  auto add_tx_opts = [&](CLI::App* c) {
    c->add_option("--from", la.from, "wallet key that signs (default: the only one)");
    c->add_option("--fee", la.fee, "fee in base units (default 1)");
    c->add_option("--nonce", la.nonce, "nonce to use (default: the account's committed nonce)");
    c->add_option("--wait", la.wait_s, "wait up to this many seconds for the commit")->check(CLI::NonNegativeNumber);
    c->fallthrough();
  };
  auto* send = app.add_subcommand("send", "transfer AMOUNT base units to ADDRESS");
  send->add_option("ADDRESS", la.address, "recipient a...")->required();
  send->add_option("AMOUNT", la.amount, "base units (whole number)")->required();
  add_tx_opts(send);
  auto* stake = app.add_subcommand("stake", "bond or unbond stake");
  stake->add_option("ACTION", la.which, "bond or unbond")->required()->check(CLI::IsMember({"bond", "unbond"}));
  stake->add_option("AMOUNT", la.amount, "base units (whole number)")->required();
  add_tx_opts(stake);
  auto* txc = app.add_subcommand("tx", "status of a transaction: pending, committed (height) or unknown");
  txc->add_option("ID", la.id, "transaction id (64 hex digits)")->required();
  txc->fallthrough();
  auto* block = app.add_subcommand("block", "a block by height, \"latest\" or hash");
  block->add_option("HEIGHT", la.which, "height, latest, or block hash")->required();
  block->fallthrough();
  auto* head = app.add_subcommand("head", "the node's head: height, hash, state root");
  head->fallthrough();
  bc::cli::ServiceCommands services(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "blockcloud-cli: " << e.what() << "\nrun `blockcloud-cli --help` for usage\n";
    return 2;
  }
  auto ep = bc::Endpoint::parse(o.rpc);
  if (!ep) {
    std::cerr << "blockcloud-cli: --rpc: expected IP:PORT such as 127.0.0.1:10000, got \"" << o.rpc << "\"\n";
    return 2;
  }
  try {
    if (*status) return cmd_status(o, *ep);
    if (*peers) return cmd_peers(o, *ep);
    if (*put) return cmd_put(o, *ep, key, value, encoding, ttl);
    if (*get) return cmd_get(o, *ep, key);
    if (*watch) return cmd_watch(o, *ep, key, watch_timeout);
    if (*wnew) return cmd_wallet_new(o, la);
    if (*wlist) return cmd_wallet_list(o, la);
    if (*balance) return cmd_balance(o, *ep, la);
    if (*send) return cmd_send(o, *ep, la);
    if (*stake) return cmd_stake(o, *ep, la);
    if (*txc) return cmd_tx(o, *ep, la);
    if (*block) return cmd_block(o, *ep, la);
    if (*head) return cmd_head(o, *ep);
    if (auto rc = services.run(o, *ep)) return *rc;
  } catch (const Failure& f) {
    std::cerr << "blockcloud-cli: " << f.message << "\n";
    return 1;
  } catch (const bc::cli::WalletError& e) {
    std::cerr << "blockcloud-cli: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "blockcloud-cli: unexpected answer from blockcloudd at " << o.rpc << ": " << e.what()
              << " — are the CLI and the daemon the same version?\n";
    return 1;
  }
  return 2;
}
