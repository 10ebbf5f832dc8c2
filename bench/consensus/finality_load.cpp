// bc-bench-finality: an open-loop load of signed transfers on a running
// devnet, and the finality latency of each one (bench/consensus/run.py
// drives it; see docs/benchmarks.md).
//
// All transfers are signed before the clock starts, so signing costs the
// measured machine nothing during the window. Transfer i is due at
// t0 + i / rate; sender threads (each with a keep-alive RPC connection to
// one node, each owning a fixed set of accounts so one account's nonces
// arrive in order) send it at its due time or, when behind, at once; with
// --batch B > 1 a sender sends every transfer that is due by then, up to B,
// in one send_txs call (a client with many transactions batches them).
// A watcher polls the observed node's head every --poll-ms and reads each
// new block: a transfer's latency is the time from its send_tx call to the
// watcher's first sight of it in a committed block (the poll interval adds
// at most --poll-ms). On a certified chain a committed block is final.
// Prints one JSON line (see Report).
#include <CLI/CLI.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <boost/json.hpp>

#include "apps/common/http_client.hpp"
#include "apps/common/rpc_auth.hpp"
#include "bench/common/raw_verify.hpp"
#include "layers/crypto.hpp"
#include "ledger/genesis.hpp"
#include "ledger/tx.hpp"
#include "ledger/workers.hpp"

namespace fs = std::filesystem;
namespace json = boost::json;
using namespace bc;
using namespace bc::ledger;
using Clock = std::chrono::steady_clock;

namespace {

[[noreturn]] void die(const std::string& msg) {
  std::fprintf(stderr, "bc-bench-finality: %s\n", msg.c_str());
  std::exit(1);
}

struct Node {
  Endpoint rpc;
  fs::path datadir;
};

struct Devnet {
  std::vector<Node> nodes;
  std::string genesis;
  std::vector<std::string> key_files;
};

Devnet read_devnet(const fs::path& dir) {
  std::ifstream f(dir / "devnet.json");
  if (!f) die((dir / "devnet.json").string() + " not found; start one with blockcloud-devnet up --dir " + dir.string());
  const std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  Devnet d;
  try {
    const auto o = json::parse(text).as_object();
    for (const auto& n : o.at("nodes").as_array())
      d.nodes.push_back({*Endpoint::parse(n.at("rpc").as_string()), std::string(n.at("datadir").as_string())});
    d.genesis = std::string(o.at("genesis").as_string());
    for (const auto& a : o.at("accounts").as_array()) d.key_files.emplace_back(a.at("key_file").as_string());
  } catch (const std::exception& e) {
    die((dir / "devnet.json").string() + " is not a devnet file: " + e.what());
  }
  if (d.genesis.empty()) die("the devnet has no ledger (it was started with --no-ledger)");
  return d;
}

apps::RpcSession session_to(const Node& n) {
  auto cookie = apps::read_cookie_file(n.datadir);
  if (!cookie.ok()) die(cookie.status().text());
  return apps::RpcSession(n.rpc, *cookie, std::chrono::seconds(10));
}

// The load, signed in advance: transfer i comes from account i % accounts
// with that account's next nonce.
struct Load {
  std::vector<std::string> hex;  // signed transfers
  std::vector<std::string> ids;  // tx ids (hex)
  std::size_t accounts = 0;
};

Load sign_load(const Devnet& d, const std::string& chain_id, apps::RpcSession& node0, std::size_t n) {
  std::vector<KeyPair> keys;
  std::vector<Address> addrs;
  std::vector<std::uint64_t> nonce;
  for (const auto& file : d.key_files) {
    keys.push_back(load_or_create_key_file(file));
    addrs.push_back(address_of(keys.back().public_key()));
    const auto acc = node0.call("get_account", json::object{{"address", address_text(addrs.back())}});
    nonce.push_back(acc.at("nonce").to_number<std::uint64_t>());
  }
  const std::size_t na = keys.size();
  Load load;
  load.accounts = na;
  load.hex.resize(n);
  load.ids.resize(n);
  std::vector<std::uint64_t> nonce_of(n);
  for (std::size_t i = 0; i < n; ++i) nonce_of[i] = nonce[i % na]++;
  WorkerPool pool;
  pool.run(n, [&](std::size_t i) {
    const std::size_t from = i % na;
    TxBody body;
    body.chain_id = chain_id;
    body.sender = keys[from].public_key();
    body.nonce = nonce_of[i];
    body.fee = 1;
    body.payload = Transfer{addrs[(from + 1) % na], 1};
    const Tx tx = sign_tx(std::move(body), keys[from]);
    load.ids[i] = tx.id.hex();
    load.hex[i] = to_hex(encode_tx(tx));
  });
  return load;
}

struct Timeline {
  Clock::time_point t0;
  std::vector<std::atomic<std::int64_t>> sent_us;       // -1: not sent or refused
  std::vector<std::atomic<std::int64_t>> committed_us;  // -1: not seen committed
  std::atomic<std::size_t> refused{0};
  std::atomic<std::size_t> calls{0};  // send_tx and send_txs calls made
  std::mutex mu;
  std::string first_refusal;
  explicit Timeline(std::size_t n) : t0(Clock::now()), sent_us(n), committed_us(n) {
    for (std::size_t i = 0; i < n; ++i) sent_us[i] = committed_us[i] = -1;
  }
  std::int64_t now_us() const {
    return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0).count();
  }
};

// The JSON-RPC request for transfers [first, last) of `mine`: send_tx for
// one, send_txs for more (serialised by hand: the hex needs no escaping).
std::string request_body(const Load& load, const std::vector<std::size_t>& mine, std::size_t first, std::size_t last) {
  if (last - first == 1) return apps::rpc_request_body("send_tx", json::object{{"tx", load.hex[mine[first]]}});
  std::string body = R"({"jsonrpc":"2.0","id":1,"method":"send_txs","params":{"txs":[)";
  for (std::size_t k = first; k < last; ++k) {
    if (k > first) body += ',';
    body += '"';
    body += load.hex[mine[k]];
    body += '"';
  }
  return body + "]}}";
}

void count_refusal(Timeline& tl, const std::string& why) {
  if (tl.refused++ == 0) {
    std::lock_guard lock(tl.mu);
    tl.first_refusal = why;
  }
}

// Sender t owns the accounts a with a % senders == t and sends their
// transfers, in order, to node t % nodes: each at its due time, or with
// every other transfer already due (up to `batch`) when it is behind.
void run_sender(std::size_t t, std::size_t senders, std::size_t batch, const Devnet& d, const Load& load, double rate,
                Timeline& tl) {
  auto rpc = session_to(d.nodes[t % d.nodes.size()]);  // refusals are counted; transport errors too
  std::vector<std::size_t> mine;
  for (std::size_t i = 0; i < load.hex.size(); ++i)
    if ((i % load.accounts) % senders == t) mine.push_back(i);
  const auto due = [&](std::size_t i) {
    return tl.t0 + std::chrono::microseconds(static_cast<std::int64_t>(static_cast<double>(i) * 1e6 / rate));
  };
  for (std::size_t k = 0; k < mine.size();) {
    std::this_thread::sleep_until(due(mine[k]));
    std::size_t end = k + 1;
    for (const auto now = Clock::now(); end < mine.size() && end - k < batch && due(mine[end]) <= now;) ++end;
    const std::int64_t at = tl.now_us();
    ++tl.calls;
    try {
      const auto result = rpc.call_raw(request_body(load, mine, k, end));
      const auto* results = end - k > 1 ? &result.at("results").as_array() : nullptr;
      for (std::size_t j = k; j < end; ++j) {
        const auto* error = results ? (*results)[j - k].as_object().if_contains("error") : nullptr;
        if (error) count_refusal(tl, std::string(error->as_string()));
        else tl.sent_us[mine[j]] = at;
      }
    } catch (const std::exception& e) {
      for (std::size_t j = k; j < end; ++j) count_refusal(tl, e.what());
    }
    k = end;
  }
}

struct BlockSeen {
  std::uint64_t height;
  std::size_t txs;
  std::int64_t seen_us;
};

// Polls `node`'s head until every sent transfer is seen committed, or until
// drain_us after the senders stopped; marks each transfer's commit time and
// lists the blocks.
// `height` is the head before the first transfer was sent, so no block
// with one of them is missed however late this thread starts.
std::vector<BlockSeen> watch_commits(const Node& node, const Load& load, Timeline& tl, int poll_ms,
                                     const std::atomic<bool>& sending, std::int64_t drain_us, std::uint64_t height) {
  std::unordered_map<std::string, std::size_t> index;
  for (std::size_t i = 0; i < load.ids.size(); ++i) index.emplace(load.ids[i], i);
  auto rpc = session_to(node);
  std::vector<BlockSeen> blocks;
  std::size_t seen = 0;
  std::int64_t stop_at = -1;
  while (true) {
    const auto head = rpc.call("head", json::object{}).at("height").to_number<std::uint64_t>();
    const std::int64_t now = tl.now_us();
    for (; height < head; ++height) {
      const auto b = rpc.call("get_block", json::object{{"height", height + 1}});
      const auto& txs = b.at("txs").as_array();
      for (const auto& t : txs)
        if (auto it = index.find(std::string(t.at("id").as_string())); it != index.end() && tl.committed_us[it->second] < 0) {
          tl.committed_us[it->second] = now;
          ++seen;
        }
      blocks.push_back({height + 1, txs.size(), now});
    }
    if (!sending && stop_at < 0) stop_at = now + drain_us;
    if (!sending && (seen + tl.refused >= load.ids.size() || now > stop_at)) return blocks;
    std::this_thread::sleep_for(std::chrono::milliseconds(poll_ms));
  }
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return -1;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

// Report: what was offered and sent, how much finalised, how fast.
json::object report(const Load& load, const Timeline& tl, double rate, double seconds,
                    const std::vector<BlockSeen>& blocks) {
  std::vector<double> lat_ms;
  std::int64_t last_sent = 0, last_commit = 0;
  std::size_t in_window = 0;
  const auto window_us = static_cast<std::int64_t>(seconds * 1e6);
  for (std::size_t i = 0; i < load.ids.size(); ++i) {
    const std::int64_t s = tl.sent_us[i], c = tl.committed_us[i];
    last_sent = std::max(last_sent, s);
    if (s < 0 || c < 0) continue;
    lat_ms.push_back(static_cast<double>(c - s) / 1000.0);
    last_commit = std::max(last_commit, c);
    in_window += c <= window_us;
  }
  std::size_t nonempty = 0;
  for (const auto& b : blocks) nonempty += b.txs > 0;
  const std::size_t sent = load.ids.size() - tl.refused;
  return json::object{
      {"offered_tx_s", rate},
      {"seconds", seconds},
      {"sent", sent},
      {"refused", tl.refused.load()},
      {"calls", tl.calls.load()},
      {"first_refusal", tl.first_refusal},
      {"sent_tx_s", last_sent > 0 ? static_cast<double>(sent) / (static_cast<double>(last_sent) / 1e6) : 0.0},
      {"committed", lat_ms.size()},
      {"finalised_in_window_tx_s", static_cast<double>(in_window) / seconds},
      {"finalised_tx_s", last_commit > 0 ? static_cast<double>(lat_ms.size()) / (static_cast<double>(last_commit) / 1e6) : 0.0},
      {"latency_p50_ms", percentile(lat_ms, 0.50)},
      {"latency_p99_ms", percentile(lat_ms, 0.99)},
      {"latency_max_ms", percentile(lat_ms, 1.0)},
      {"blocks", blocks.size()},
      {"blocks_with_load", nonempty},
  };
}

// For up to 5 transfers that were accepted but never seen final: what the
// node they were sent to says of them now (get_tx), to tell a lost transfer
// from a late one.
json::array unfinalised_sample(const Devnet& d, const Load& load, const Timeline& tl, std::size_t senders) {
  json::array out;
  for (std::size_t i = 0; i < load.ids.size() && out.size() < 5; ++i) {
    if (tl.sent_us[i] < 0 || tl.committed_us[i] >= 0) continue;
    const std::size_t node = ((i % load.accounts) % senders) % d.nodes.size();
    json::object o{{"id", load.ids[i]}, {"sent_to", node}, {"account", i % load.accounts}};
    try {
      auto rpc = session_to(d.nodes[node]);
      o["get_tx"] = rpc.call("get_tx", json::object{{"id", load.ids[i]}});
    } catch (const std::exception& e) {
      o["get_tx"] = e.what();
    }
    out.push_back(std::move(o));
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Open-loop transfer load on a running devnet; finality latency per transfer"};
  std::string dir;
  double rate = 1000, seconds = 10, drain_s = 30;
  std::size_t senders = 0, observe = 0, limit_runs = 0, batch = 1;
  int poll_ms = 2;
  app.add_option("--devnet", dir, "the devnet's directory (blockcloud-devnet up --dir)")->required();
  app.add_option("--rate", rate, "offered transfers per second (default 1000)")->check(CLI::Range(1.0, 1e6));
  app.add_option("--seconds", seconds, "length of the load window (default 10)")->check(CLI::Range(0.1, 3600.0));
  app.add_option("--senders", senders, "sender threads, each with its own connection (default 2 per node)");
  app.add_option("--batch", batch,
                 "most transfers per call: those already due go together in one send_txs (default 1: send_tx each)")
      ->check(CLI::Range(1, 100));
  app.add_option("--observe", observe, "index of the node whose commits are timed (default 0)");
  app.add_option("--poll-ms", poll_ms, "head poll interval of the watcher (default 2)")->check(CLI::Range(1, 1000));
  app.add_option("--drain-s", drain_s, "how long to wait for the last transfers after the window (default 30)");
  app.add_option("--limit-runs", limit_runs,
                 "first measure raw BIP340 verifies/s on all cores this many times (median in the report)");
  CLI11_PARSE(app, argc, argv);

  const Devnet d = read_devnet(dir);
  if (observe >= d.nodes.size()) die("--observe " + std::to_string(observe) + ": the devnet has " + std::to_string(d.nodes.size()) + " nodes");
  if (senders == 0) senders = 2 * d.nodes.size();
  auto g = load_genesis_file(d.genesis);
  if (!g.ok()) die(d.genesis + ": " + g.status().text());
  json::object limit;
  if (limit_runs > 0) {
    std::vector<double> r;
    const std::size_t threads = std::max(1u, std::thread::hardware_concurrency());
    for (std::size_t i = 0; i < limit_runs; ++i) r.push_back(bench::raw_verify_rate(threads, 20000));
    limit = {{"raw_verify_s", bench::median(r)}, {"threads", threads}};
  }
  auto node0 = session_to(d.nodes[0]);
  const auto n = static_cast<std::size_t>(rate * seconds);
  const Load load = sign_load(d, g->params.chain_id, node0, n);
  std::fprintf(stderr, "bc-bench-finality: %zu transfers from %zu accounts signed; offering %.0f tx/s for %.1f s\n", n,
               load.accounts, rate, seconds);

  const auto start_height =
      session_to(d.nodes[observe]).call("head", json::object{}).at("height").to_number<std::uint64_t>();
  Timeline tl(n);
  std::atomic<bool> sending{true};
  std::vector<BlockSeen> blocks;
  std::thread watcher([&] {
    try {
      blocks = watch_commits(d.nodes[observe], load, tl, poll_ms, sending, static_cast<std::int64_t>(drain_s * 1e6),
                             start_height);
    } catch (const std::exception& e) {
      die(std::string("watching node ") + std::to_string(observe) + ": " + e.what());
    }
  });
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < senders; ++t) threads.emplace_back([&, t] { run_sender(t, senders, batch, d, load, rate, tl); });
  for (auto& t : threads) t.join();
  sending = false;
  watcher.join();
  auto out = report(load, tl, rate, seconds, blocks);
  out["unfinalised_sample"] = unfinalised_sample(d, load, tl, senders);
  out["batch"] = batch;
  if (!limit.empty()) out["limit"] = limit;
  std::printf("%s\n", json::serialize(out).c_str());
  return 0;
}
