#include "simulations/dht_scenario.hpp"


#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>

#include "layers/crypto.hpp"
#include "layers/metrics.hpp"
#include "routing/dht.hpp"
#include "routing/messages.hpp"
#include "simulations/latency_model.hpp"
#include "simulations/proc_stats.hpp"
#include "simulations/sim_net.hpp"
#include "simulations/sim_report.hpp"

namespace bc::sim {
namespace {

namespace json = boost::json;
using routing::DhtNode;

constexpr TimeMs kEpochMs = 1'767'225'600'000;  // 2026-01-01T00:00:00Z: virtual time 0
constexpr TimeMs kRecordTtlMs = 3600 * 1000;    // outlives the run: no republish noise
constexpr std::int64_t kUs = 1'000'000;
constexpr double kDrainS = 15;                  // after the last get: lets lookups finish

std::int64_t to_us(double s) { return static_cast<std::int64_t>(std::llround(s * 1e6)); }

KeyPair key_from(SimRng& rng) {
  for (;;) {
    std::uint8_t secret[32];
    for (int k = 0; k < 4; ++k) {
      std::uint64_t w = rng.next();
      std::memcpy(secret + 8 * k, &w, 8);
    }
    if (auto kp = KeyPair::from_secret(ByteView(secret, 32))) return *kp;
  }
}

Hash256 key_of(const std::string& text) { return sha256(as_bytes(text)); }

// Everything one run of one mode needs.
class Scenario {
 public:
  Scenario(const DhtOptions& opt, routing::Mode mode, std::string mode_name)
      : opt_(opt),
        mode_name_(std::move(mode_name)),
        model_(opt.seed, opt.regions, opt.continents),
        net_(model_, opt.seed, kEpochMs),
        rng_(opt.seed ^ 0x7363656e6172696full) {
    cfg_.mode = mode;
    // One process, many nodes: a signature one node verified is not verified
    // again by the next (same outcome, a fraction of the CPU; see
    // DhtConfig::shared_signature_cache).
    cfg_.shared_signature_cache = &verified_sigs_;
    net_.set_threads(opt.threads > 0 ? opt.threads
                                     : std::max(1, static_cast<int>(std::thread::hardware_concurrency())));
    if (opt.churn != "none") {
      churn_mean_s_ = std::stod(opt.churn);
      if (!(churn_mean_s_ > 0)) throw std::invalid_argument("--churn must be a positive mean session time in seconds, or none");
    }
    join_s_ = opt.join_s > 0 ? opt.join_s : std::max(20.0, opt.nodes / 250.0);
    t0_s_ = join_s_ + opt.warmup_s;
    end_s_ = t0_s_ + opt.duration_s + kDrainS;
    uniform_ = opt.workload == "uniform" || opt.workload == "both";
    hot_ = opt.workload == "hotkey" || opt.workload == "both";
    hot_key_ = key_of("blockcloud-sim/hot-key/" + std::to_string(opt.seed));
  }

  json::object run(const char* argv0) {
    WallTimer wall;
    schedule_joins();
    if (uniform_) schedule_uniform();
    if (hot_) schedule_hot();
    net_.at(to_us(t0_s_), [this] { counting_hot_ = true; });
    schedule_progress(opt_.progress_s, wall);
    net_.at(to_us(end_s_), [this] { net_.stop(); });
    net_.on_deliver = [this](NodeIndex, NodeIndex to, ByteView payload) { inspect(to, payload); };
    net_.run(argv0);
    return summary(wall.seconds());
  }

  void write_files(const std::string& dir) {
    write_lookups_csv(dir + "/lookups.csv", rows_);
    write_load_csv(dir + "/load.csv", final_loads());
  }

 private:
  DhtNode& node(NodeIndex i) { return *static_cast<DhtNode*>(net_.core(i)); }

  // ---- membership ----

  void schedule_joins() {
    for (std::uint32_t k = 0; k < opt_.nodes; ++k) {
      net_.at(to_us(join_s_ * k / opt_.nodes), [this] { join(); });
    }
  }

  void join() {
    const NodeIndex i = net_.reserve();
    loads_.resize(net_.size());
    live_pos_.resize(net_.size(), kNoNode);
    loads_[i].node = i;
    loads_[i].region = net_.placement(i).region;
    net_.attach(i, std::make_unique<DhtNode>(key_from(rng_), SimNet::endpoint_of(i), cfg_,
                                             rng_.fork(), registry_));
    std::vector<Endpoint> seeds;
    for (int s = 0; s < 3 && !live_.empty(); ++s) seeds.push_back(SimNet::endpoint_of(random_live()));
    net_.call(i, [&seeds](DatagramProtocol& p, TimeMs now, Outbox& out) {
      static_cast<DhtNode&>(p).bootstrap(seeds, now, out);
    });
    live_pos_[i] = static_cast<std::uint32_t>(live_.size());
    live_.push_back(i);
    ++joins_;
    if (churn_mean_s_ > 0) {
      const std::int64_t leave = net_.now_us() + to_us(rng_.exponential(churn_mean_s_));
      if (leave < to_us(end_s_)) net_.at(leave, [this, i] { leave_now(i); });
    }
  }

  void leave_now(NodeIndex i) {
    if (!net_.alive(i)) return;
    loads_[i].stores = node(i).status().stores_received;
    const std::uint32_t pos = live_pos_[i];
    live_[pos] = live_.back();
    live_pos_[live_[pos]] = pos;
    live_.pop_back();
    live_pos_[i] = kNoNode;
    net_.remove(i);
    ++leaves_;
    // A newcomer takes its place within a second, so the population stays ~N.
    net_.at(net_.now_us() + to_us(rng_.unit()), [this] { join(); });
  }

  NodeIndex random_live() { return live_[rng_.uniform(live_.size())]; }

  // ---- workloads ----

  void schedule_uniform() {
    const std::uint32_t puts = opt_.puts ? opt_.puts : std::max<std::uint32_t>(50, opt_.nodes / 10);
    const std::uint32_t gets = opt_.gets ? opt_.gets : std::max<std::uint32_t>(200, opt_.nodes / 5);
    for (std::uint32_t k = 0; k < puts; ++k) {
      UniformKey u;
      u.key = key_of("blockcloud-sim/uniform/" + std::to_string(opt_.seed) + "/" + std::to_string(k));
      const std::string v = "value-" + std::to_string(k);
      u.payload.assign(v.begin(), v.end());
      ukeys_.push_back(std::move(u));
      net_.at(to_us(t0_s_ + rng_.unit() * 0.3 * opt_.duration_s), [this, k] { uniform_put(k); });
    }
    for (std::uint32_t g = 0; g < gets; ++g) {
      net_.at(to_us(t0_s_ + (0.4 + 0.55 * rng_.unit()) * opt_.duration_s), [this] { uniform_get(); });
    }
  }

  void uniform_put(std::uint32_t k) {
    ++uniform_puts_;
    const NodeIndex r = random_live();
    net_.call(r, [this, k](DatagramProtocol& p, TimeMs now, Outbox& out) {
      static_cast<DhtNode&>(p).publish(ukeys_[k].key, ukeys_[k].payload, kRecordTtlMs, now, out,
                                       [this, k](const routing::PutResult& res) {
                                         // May run on a worker thread (sim_net.hpp).
                                         if (res.ok()) ukeys_[k].stored = true;
                                       });
    });
  }

  void uniform_get() {
    // Keys in index order, not completion order: the same on any thread count.
    std::vector<std::uint32_t> stored;
    for (std::uint32_t k = 0; k < ukeys_.size(); ++k) {
      if (ukeys_[k].stored) stored.push_back(k);
    }
    if (stored.empty()) {
      ++gets_skipped_;
      return;
    }
    const std::uint32_t k = stored[rng_.uniform(stored.size())];
    start_get(ukeys_[k].key, false, [this, k](const routing::GetResult& res) {
      if (!res.ok()) return false;
      return std::any_of(res.values.begin(), res.values.end(),
                         [&](const routing::Record& r) { return r.payload == ukeys_[k].payload; });
    });
  }

  void schedule_hot() {
    const std::uint32_t providers = std::min(opt_.hot_providers, std::max<std::uint32_t>(1, opt_.nodes / 2));
    const std::uint32_t gets = opt_.hot_gets ? opt_.hot_gets : std::max<std::uint32_t>(200, opt_.nodes / 5);
    for (std::uint32_t k = 0; k < providers; ++k) {
      net_.at(to_us(t0_s_ + rng_.unit() * 0.3 * opt_.duration_s), [this] { hot_put(); });
    }
    for (std::uint32_t g = 0; g < gets; ++g) {
      net_.at(to_us(t0_s_ + (0.4 + 0.55 * rng_.unit()) * opt_.duration_s), [this] {
        start_get(hot_key_, true, [](const routing::GetResult& res) { return res.ok() && !res.values.empty(); });
      });
    }
  }

  void hot_put() {
    // A provider that has not published the hot key yet.
    NodeIndex r = kNoNode;
    for (int tries = 0; tries < 64 && r == kNoNode; ++tries) {
      NodeIndex c = random_live();
      if (!providers_.count(c)) r = c;
    }
    if (r == kNoNode) return;
    providers_.insert(r);
    ++hot_puts_;
    const std::string v = "provider-" + std::to_string(r);
    net_.call(r, [this, v](DatagramProtocol& p, TimeMs now, Outbox& out) {
      static_cast<DhtNode&>(p).publish(hot_key_, Bytes(v.begin(), v.end()), kRecordTtlMs, now, out,
                                       [this](const routing::PutResult& res) {
                                         if (res.ok()) hot_puts_ok_.fetch_add(1);
                                       });
    });
  }

  template <class Check>
  void start_get(const routing::Key& key, bool hot, Check check) {
    const NodeIndex r = random_live();
    const std::size_t row = rows_.size();
    LookupRow lr;
    lr.start_s = static_cast<double>(net_.now_us()) / kUs;
    lr.requester = r;
    lr.hot = hot;
    rows_.push_back(lr);
    const std::int64_t start_us = net_.now_us();
    const std::uint32_t io0 = net_.io_count(r);
    net_.call(r, [&](DatagramProtocol& p, TimeMs now, Outbox& out) {
      static_cast<DhtNode&>(p).get(key, now, out, [this, row, r, start_us, io0, check](const routing::GetResult& res) {
        LookupRow& x = rows_[row];
        x.done = true;
        x.ok = check(res);
        x.latency_ms = static_cast<double>(net_.now_us() - start_us) / 1000.0;
        x.hops = res.hops;
        x.level = res.level;
        x.messages = net_.io_count(r) - io0;
      });
    });
  }

  // Counts hot-key STOREs and FIND_VALUEs per receiving node, and with
  // --message-stats every datagram by type. Without it only datagrams that
  // contain the hot key's bytes are decoded.
  void inspect(NodeIndex to, ByteView payload) {
    const bool hot = counting_hot_ && hot_;
    if (!opt_.message_stats) {
      if (!hot) return;
      auto it = std::search(payload.begin(), payload.end(),
                            std::boyer_moore_horspool_searcher(hot_key_.bytes.begin(), hot_key_.bytes.end()));
      if (it == payload.end()) return;
    }
    routing::DecodeResult res = routing::decode(payload, limits_);
    if (!res.ok()) {
      if (opt_.message_stats) {
        std::lock_guard lock(by_type_mu_);
        ++by_type_["undecodable"];
      }
      return;
    }
    const routing::Body& body = res.envelope->body;
    if (opt_.message_stats) {
      std::lock_guard lock(by_type_mu_);
      ++by_type_[routing::body_name(body)];
    }
    if (!hot) return;
    if (auto* s = std::get_if<routing::msg::Store>(&body)) {
      if (s->record.key == hot_key_) ++loads_[to].hot_stores;
    } else if (auto* f = std::get_if<routing::msg::FindValue>(&body)) {
      if (f->key == hot_key_) ++loads_[to].hot_finds;
    }
  }

  void schedule_progress(double every_s, const WallTimer& wall) {
    if (every_s <= 0) return;
    for (double t = every_s; t < end_s_; t += every_s) {
      net_.at(to_us(t), [this, &wall, t] {
        std::size_t done = 0;
        for (const auto& r : rows_) done += r.done;
        std::fprintf(stderr,
                     "[%s] t=%5.0fs/%.0fs live=%zu joins=%llu leaves=%llu datagrams=%llu gets=%zu/%zu wall=%.1fs\n",
                     mode_name_.c_str(), t, end_s_, net_.live(),
                     static_cast<unsigned long long>(joins_), static_cast<unsigned long long>(leaves_),
                     static_cast<unsigned long long>(net_.counters().delivered), done, rows_.size(),
                     wall.seconds());
      });
    }
  }

  // ---- summary ----

  std::vector<NodeLoad> final_loads() {
    std::vector<NodeLoad> out = loads_;
    for (auto& l : out) {
      if (net_.alive(l.node)) {
        l.alive_at_end = true;
        l.stores = node(l.node).status().stores_received;
      }
    }
    return out;
  }

  json::object summary(double wall_s) {
    json::object o = run_summary(wall_s);
    json::object all = lookup_summary(rows_);
    for (const char* k : {"success_rate", "hops", "latency_ms", "messages_per_lookup", "found_in_level"}) {
      o[k] = all[k];
    }
    o["lookups"] = std::move(all);
    if (uniform_) o["uniform"] = uniform_summary();
    const auto loads = final_loads();
    o["load"] = load_summary(loads);
    if (hot_) {
      json::object ho = hot_summary(loads);
      o["hot_key_share_of_most_loaded"] = ho["most_loaded_node_store_share"];
      o["hotkey"] = std::move(ho);
    }
    json::object ch;
    ch["joins"] = joins_;
    ch["leaves"] = leaves_;
    ch["live_at_end"] = net_.live();
    o["churn"] = std::move(ch);
    o["network"] = network_summary();
    o["dht_dropped"] = drop_summary();
    if (opt_.message_stats) {
      json::object t;
      for (const auto& [name, count] : by_type_) t[name] = count;
      o["datagrams_by_type"] = std::move(t);
    }
    return o;
  }

  // What was run, on what, for how long.
  json::object run_summary(double wall_s) const {
    json::object o;
    o["nodes"] = opt_.nodes;
    o["seed"] = opt_.seed;
    o["mode"] = mode_name_;
    o["churn_mean_session_s"] = churn_mean_s_ > 0 ? json::value(churn_mean_s_) : json::value("none");
    o["workload"] = opt_.workload;
    o["regions"] = opt_.regions;
    o["continents"] = opt_.continents;
    o["join_s"] = join_s_;
    o["warmup_s"] = opt_.warmup_s;
    o["duration_s"] = opt_.duration_s;
    o["sim_time_s"] = static_cast<double>(net_.now_us()) / kUs;
    o["wall_s"] = std::round(wall_s * 1000) / 1000;
    o["threads"] = net_.threads();
    o["peak_rss_mib"] = std::round(peak_rss_mib() * 10) / 10;
    return o;
  }

  json::object uniform_summary() const {
    std::vector<LookupRow> u;
    std::copy_if(rows_.begin(), rows_.end(), std::back_inserter(u), [](const LookupRow& r) { return !r.hot; });
    json::object uo = lookup_summary(u);
    uo["puts"] = uniform_puts_;
    uo["puts_ok"] = static_cast<std::uint64_t>(
        std::count_if(ukeys_.begin(), ukeys_.end(), [](const UniformKey& u) { return u.stored.load(); }));
    uo["gets_skipped_no_key"] = gets_skipped_;
    return uo;
  }

  static json::object load_summary(const std::vector<NodeLoad>& loads) {
    std::vector<double> stores;
    double sum = 0;
    for (const auto& l : loads) {
      stores.push_back(static_cast<double>(l.stores));
      sum += static_cast<double>(l.stores);
    }
    json::object lo;
    lo["nodes_ever"] = loads.size();
    lo["stores_received_max"] = percentile(stores, 100);
    lo["stores_received_p99"] = percentile(stores, 99);
    lo["stores_received_mean"] = loads.empty() ? 0.0 : std::round(sum / loads.size() * 1000) / 1000;
    return lo;
  }

  // How the hot key's load spread: the most loaded node's share of its stores and finds.
  json::object hot_summary(const std::vector<NodeLoad>& loads) const {
    std::vector<LookupRow> h;
    std::copy_if(rows_.begin(), rows_.end(), std::back_inserter(h), [](const LookupRow& r) { return r.hot; });
    json::object ho = lookup_summary(h);
    std::uint64_t total = 0, top = 0, ftotal = 0, ftop = 0;
    for (const auto& l : loads) {
      total += l.hot_stores;
      top = std::max(top, l.hot_stores);
      ftotal += l.hot_finds;
      ftop = std::max(ftop, l.hot_finds);
    }
    ho["providers"] = hot_puts_;
    ho["puts_ok"] = hot_puts_ok_.load();
    ho["stores_total"] = total;
    ho["most_loaded_node_stores"] = top;
    ho["most_loaded_node_store_share"] = total ? std::round(1e4 * static_cast<double>(top) / total) / 1e4 : 0.0;
    ho["find_values_total"] = ftotal;
    ho["most_loaded_node_find_values"] = ftop;
    ho["most_loaded_node_find_value_share"] = ftotal ? std::round(1e4 * static_cast<double>(ftop) / ftotal) / 1e4 : 0.0;
    return ho;
  }

  json::object network_summary() const {
    const auto& c = net_.counters();
    json::object n;
    n["datagrams_sent"] = c.sent;
    n["delivered"] = c.delivered;
    n["dropped_receiver_left"] = c.dropped_dead;
    n["dropped_unknown_address"] = c.dropped_unknown;
    n["node_ticks"] = c.ticks;
    n["events"] = c.events;
    return n;
  }

  json::object drop_summary() const {
    json::object drops;
    for (int r = 0; r < routing::kDropReasonCount; ++r) {
      const char* name = routing::to_string(static_cast<routing::DropReason>(r));
      const auto v = registry_.counter_value("bc_dht_dropped_total", {{"reason", name}});
      if (v) drops[name] = v;
    }
    return drops;
  }

  struct UniformKey {
    routing::Key key;
    Bytes payload;
    std::atomic<bool> stored{false};  // its put succeeded (set on a worker)
    UniformKey() = default;
    UniformKey(UniformKey&& o) noexcept : key(o.key), payload(std::move(o.payload)), stored(o.stored.load()) {}
  };

  DhtOptions opt_;
  std::string mode_name_;
  LatencyModel model_;
  SimNet net_;
  SimRng rng_;
  metrics::Registry registry_;  // shared: counters are totals over all nodes
  SignatureCache verified_sigs_{1u << 18};
  routing::DhtConfig cfg_;
  routing::DecodeLimits limits_;
  double churn_mean_s_ = 0, join_s_ = 0, t0_s_ = 0, end_s_ = 0;
  bool uniform_ = false, hot_ = false, counting_hot_ = false;
  routing::Key hot_key_;

  std::vector<NodeIndex> live_;
  std::vector<std::uint32_t> live_pos_;
  std::vector<NodeLoad> loads_;
  std::vector<LookupRow> rows_;
  std::vector<UniformKey> ukeys_;
  std::set<NodeIndex> providers_;
  std::map<std::string, std::uint64_t> by_type_;
  std::uint64_t joins_ = 0, leaves_ = 0;
  std::uint64_t uniform_puts_ = 0, gets_skipped_ = 0;
  std::uint64_t hot_puts_ = 0;
  std::atomic<std::uint64_t> hot_puts_ok_{0};
  std::mutex by_type_mu_;  // inspect() runs on workers
};

}  // namespace

std::string run_dht_mode(const DhtOptions& opt, const std::string& mode, const std::string& dir,
                         const char* argv0) {
  Scenario sc(opt, mode == "coral" ? routing::Mode::kCoral : routing::Mode::kKademlia, mode);
  json::object summary = sc.run(argv0);
  if (!dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) throw std::runtime_error("cannot create directory " + dir + ": " + ec.message() + "; pass a writable --out");
    sc.write_files(dir);
    std::ofstream(dir + "/summary.json") << to_json(summary) << "\n";
  }
  return to_json(summary);
}

}  // namespace bc::sim
