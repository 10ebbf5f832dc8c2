// `blockcloud-devnet demo`: the DHT, the SAL, storage and the committee at work on a local network, explained.
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "apps/common/http_client.hpp"
#include "apps/devnet/demo_ledger.hpp"
#include "apps/devnet/demo_pos.hpp"
#include "apps/devnet/demo_service.hpp"
#include "apps/devnet/demo_storage.hpp"
#include "apps/devnet/devnet.hpp"
#include "layers/assert.hpp"

namespace bc::devnet {
namespace fs = std::filesystem;
namespace json = boost::json;

namespace {


std::string short_id(const std::string& id) { return id.size() > 12 ? id.substr(0, 12) + "…" : id; }
std::string who(const NodeEntry& n) { return fmt::format("node {} ({})", n.index, short_id(n.node_id)); }
std::string s(const json::value& v) { return v.is_string() ? std::string(v.as_string()) : json::serialize(v); }

// Waits until every node knows min(needed, N-1) contacts, at most `limit`.
void wait_for_routing(const Devnet& net, std::chrono::seconds limit) {
  const std::size_t needed = std::min<std::size_t>(net.nodes.size() - 1, 3);
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    std::size_t ready = 0;
    for (const auto& n : net.nodes) {
      try {
        const auto st = node_rpc(n, "status", {});
        if (st.at("contacts").as_array()[0].to_number<std::size_t>() >= needed) ++ready;
      } catch (const std::exception&) {
      }
    }
    if (ready == net.nodes.size()) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

using Record = std::pair<std::string, std::string>;  // key, value

const std::vector<Record>& demo_records() {
  static const std::vector<Record> records = {
      {"greeting", "hello, service-centric world"},
      {"service/web.example", "127.0.0.2:8080"},
      {"service/mail.example", "127.0.0.3:2525"},
      {"sensor/42/temperature", "21.5 C"},
      {"file/readme.txt", "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"},
  };
  return records;
}

// With no --dir the demo runs in a fresh temporary directory; returns whether it made one.
bool use_temp_dir_if_none(UpOptions& o) {
  if (!o.dir.empty()) return false;
  std::string tmpl = (fs::temp_directory_path() / "blockcloud-demo-XXXXXX").string();
  if (!::mkdtemp(tmpl.data())) throw std::runtime_error("cannot create a temporary directory");
  o.dir = tmpl;
  return true;
}

// Step 2: the routing tables fill; prints how many peers each node knows.
void show_routing(const Devnet& net, const std::string& mode) {
  std::cout << "\n== 2. Letting the nodes find each other\n";
  wait_for_routing(net, std::chrono::seconds(15));
  std::int64_t lo = INT64_MAX, hi = 0, all = 0, in_l2 = 0;
  for (const auto& n : net.nodes) {
    const auto c = node_rpc(n, "status", {}).at("contacts").as_array();
    lo = std::min(lo, c[0].to_number<std::int64_t>());
    hi = std::max(hi, c[0].to_number<std::int64_t>());
    all += c[0].to_number<std::int64_t>();
    in_l2 += c[2].to_number<std::int64_t>();
  }
  if (mode == "kademlia")
    std::cout << fmt::format("   every node knows {}-{} peers (kademlia mode: one global level, no clusters)\n", lo, hi);
  else
    std::cout << fmt::format("   every node knows {}-{} peers; {:.0f}% of those share its level-2 cluster "
                             "(RTT < 20 ms, as everything on loopback should)\n",
                             lo, hi, all > 0 ? 100.0 * static_cast<double>(in_l2) / static_cast<double>(all) : 0.0);
}

// Step 3: record i is put from node i; returns the puts that failed.
int publish_records(const Devnet& net) {
  std::cout << "\n== 3. Publishing records from different nodes (each signed by its node's key)\n";
  const auto& records = demo_records();
  int failures = 0;
  for (std::size_t i = 0; i < records.size(); ++i) {
    const auto& node = net.nodes[i % net.nodes.size()];
    const auto& [key, value] = records[i];
    try {
      const auto r = node_rpc(node, "dht_put", {{"key", key}, {"value", value}, {"ttl", 600}});
      std::cout << fmt::format("   {} put \"{}\" = \"{}\"\n      -> stored on {} nodes (the closest to the key) after {} lookup hop(s) in {} ms\n",
                               who(node), key, value, s(r.at("stored")), s(r.at("hops")), s(r.at("latency_ms")));
    } catch (const std::exception& e) {
      ++failures;
      std::cout << fmt::format("   {} could not put \"{}\": {}\n", who(node), key, e.what());
    }
  }
  return failures;
}

// The owner of the record holding `value` among `values`; nullopt if none holds it.
std::optional<std::string> owner_of_value(const json::array& values, const std::string& value) {
  std::optional<std::string> owner;
  for (const auto& v : values) {
    const auto& rec = v.as_object();
    if (rec.at("value").is_string() && rec.at("value").as_string() == value) owner = s(rec.at("owner"));
  }
  return owner;
}

// Looks `record` up from `node`; returns whether it was found with its value.
bool find_record(const Devnet& net, const NodeEntry& node, const Record& record) {
  const auto& [key, value] = record;
  const auto r = node_rpc(node, "dht_get", {{"key", key}});
  const auto owner = owner_of_value(r.at("values").as_array(), value);
  std::string owner_node = owner.value_or("");
  for (const auto& m : net.nodes)
    if (m.node_id == owner.value_or("")) owner_node = who(m);
  const auto hops = r.at("hops").to_number<std::int64_t>();
  const std::string where = hops == 0 ? "in its own store (it is one of the key's storage nodes)"
                                      : fmt::format("after {} lookup hop{}", hops, hops == 1 ? "" : "s");
  std::cout << fmt::format("   {} looked up \"{}\": {}\n      -> {}, cluster level {}, {} ms{}\n", who(node), key,
                           owner ? fmt::format("found \"{}\"", value) : "NOT FOUND", where, s(r.at("level")),
                           s(r.at("latency_ms")), owner ? fmt::format(", signed by {}", owner_node) : "");
  return owner.has_value();
}

// Step 4: each record is looked up from a node across the network from its
// publisher; returns the lookups that failed.
int find_records(const Devnet& net) {
  std::cout << "\n== 4. Finding each record from another node\n";
  const auto& records = demo_records();
  const std::size_t n = net.nodes.size();
  int failures = 0;
  for (std::size_t i = 0; i < records.size(); ++i) {
    const auto& node = net.nodes[(i + n / 2 + 1) % n];
    try {
      if (!find_record(net, node, records[i])) ++failures;
    } catch (const std::exception& e) {
      ++failures;
      std::cout << fmt::format("   {} could not get \"{}\": {}\n", who(node), records[i].first, e.what());
    }
  }
  return failures;
}
// Polls `watcher`'s watch from `cursor` for up to 10 s after t0 until the
// put of `value` arrives; returns whether it did, printing the delay.
bool await_watch_event(const NodeEntry& watcher, const std::string& key, const std::string& value,
                       json::value cursor, std::chrono::steady_clock::time_point t0) {
  while (std::chrono::steady_clock::now() - t0 < std::chrono::seconds(10)) {
    auto ev = node_rpc(watcher, "dht_watch", {{"key", key}, {"timeout_ms", 5000}, {"cursor", cursor}});
    cursor = ev.at("cursor");
    bool seen = false;
    for (const auto& e : ev.at("events").as_array()) {
      const auto& rec = e.as_object().at("record").as_object();
      if (!rec.at("value").is_string() || rec.at("value").as_string() != value) continue;
      seen = true;
      const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
      std::cout << fmt::format("   {} was notified: {} \"{}\" (seq {}) {} ms after the put\n", who(watcher),
                               s(e.as_object().at("kind")), s(rec.at("value")), s(rec.at("seq")), ms.count());
    }
    if (seen) return true;
  }
  return false;
}

// Step 5: the last node watches a key, node 1 changes it; returns 1 if the
// change did not arrive.
int watch_a_change(const Devnet& net) {
  std::cout << "\n== 5. Watching a key and seeing a change arrive\n";
  const auto& watcher = net.nodes.back();
  const auto& writer = net.nodes[1];
  const std::string key = "sensor/42/temperature";
  try {
    auto sub = node_rpc(watcher, "dht_watch", {{"key", key}, {"timeout_ms", 0}});
    std::cout << fmt::format("   {} subscribes to \"{}\" at the key's storage nodes\n", who(watcher), key);
    std::this_thread::sleep_for(std::chrono::milliseconds(700));  // let the subscription reach them
    const auto t0 = std::chrono::steady_clock::now();
    node_rpc(writer, "dht_put", {{"key", key}, {"value", "23.0 C"}, {"ttl", 600}});
    std::cout << fmt::format("   {} puts \"{}\" = \"23.0 C\"\n", who(writer), key);
    if (await_watch_event(watcher, key, "23.0 C", sub.at("cursor"), t0)) return 0;
    std::cout << "   the watch saw no change within 10 s\n";
  } catch (const std::exception& e) {
    std::cout << fmt::format("   watch failed: {}\n", e.what());
  }
  return 1;
}

// Step 10: node 0, the seed and publisher of "greeting" and a validator, is
// killed; another node still finds the record, and the other validators go
// on finalising blocks. Returns the number of checks that failed.
int survive_a_crash(const Devnet& net) {
  std::cout << "\n== 10. Surviving a crash\n";
  const auto& victim = net.nodes[0];
  ::kill(victim.pid, SIGKILL);
  std::cout << fmt::format("   SIGKILLed {}, the seed and publisher of \"greeting\"{}\n", who(victim),
                           net.genesis.empty() ? "" : ", and a validator");
  const auto& asker = net.nodes[net.nodes.size() / 2];
  try {
    const auto r = node_rpc(asker, "dht_get", {{"key", "greeting"}});
    const bool found = r.at("found").to_number<std::int64_t>() > 0;
    std::cout << fmt::format("   {} looked up \"greeting\": {} ({} hops, {} ms): the other replicas still hold it\n",
                             who(asker), found ? "found" : "NOT FOUND", s(r.at("hops")), s(r.at("latency_ms")));
    return (found ? 0 : 1) + chain_goes_on(net, victim, net.nodes[1]);
  } catch (const std::exception& e) {
    std::cout << fmt::format("   {} could not get \"greeting\": {}\n", who(asker), e.what());
    return 1;
  }
}

// Steps 2 to 10 on a running devnet; returns the number that failed.
int run_steps(const Devnet& net, const std::string& mode) {
  BC_ASSERT(net.nodes.size() >= 3);  // the steps pick nodes 0, 1, the middle and the last
  show_routing(net, mode);
  int failures = publish_records(net);
  failures += find_records(net);
  failures += watch_a_change(net);
  failures += demo_service(net);
  failures += demo_storage(net);
  failures += demo_committee(net);
  failures += demo_pos(net);
  failures += survive_a_crash(net);
  return failures;
}

// Steps 11 and 12: what worked, then the network stops unless --keep.
void summarize_and_stop(const UpOptions& o, Devnet& net, int failures, bool keep, bool temp_dir) {
  std::cout << "\n== 11. Summary\n";
  std::cout << (failures == 0 ? "   every put was found from another node, the watch saw the change, a service was reached by ID\n"
                                "   and followed to its new address, a file was stored and read back, a committee finalised a transfer,\n"
                                "   miners audited two providers (the honest one paid, the cheater slashed), and a crash lost nothing\n"
                              : fmt::format("   {} step(s) failed; node logs are in {}/node-*/log\n", failures,
                                            o.dir.string()));
  if (keep) {
    std::cout << fmt::format("   the network keeps running; try\n     blockcloud-cli --rpc {} --datadir {} dht get greeting\n"
                             "   stop it with: blockcloud-devnet down --dir {}\n",
                             net.nodes[0].rpc.to_string(), net.nodes[0].datadir, o.dir.string());
    return;
  }
  std::cout << "\n== 12. Shutting the network down\n   ";
  devnet_down(o.dir, net, 5, false);
  if (temp_dir && failures == 0) fs::remove_all(o.dir);
}

}  // namespace

int run_demo(UpOptions o, bool keep) {
  if (o.storage_providers == 0) o.storage_providers = std::min(o.nodes, 6);
  const bool temp_dir = use_temp_dir_if_none(o);
  if (o.nodes < 3) throw std::runtime_error("--nodes: the demo needs at least 3 nodes");
  std::cout << fmt::format("== 1. Starting {} blockcloudd nodes ({} mode) in {}\n", o.nodes, o.mode,
                           o.dir.string());
  Devnet net = devnet_up(o);
  int failures = 0;
  try {
    failures = run_steps(net, o.mode);
  } catch (...) {
    if (!keep) devnet_down(o.dir, net, 5, true);
    throw;
  }
  summarize_and_stop(o, net, failures, keep, temp_dir);
  return failures == 0 ? 0 : 1;
}

}  // namespace bc::devnet
