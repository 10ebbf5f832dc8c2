#include "apps/daemon/rpc_service.hpp"

#include <chrono>
#include <deque>
#include <fstream>
#include <map>
#include <unistd.h>

#include <boost/asio/steady_timer.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include "apps/common/dht_config.hpp"
#include "apps/common/encoding.hpp"
#include "layers/ids.hpp"

namespace bc::apps {
namespace {
namespace asio = boost::asio;
namespace http = boost::beast::http;
namespace json = boost::json;

// JSON-RPC 2.0 error codes.
constexpr int kParseError = -32700;
constexpr int kInvalidRequest = -32600;
constexpr int kMethodNotFound = -32601;
constexpr int kInvalidParams = -32602;
constexpr int kDhtFailure = -32000;   // the DHT operation ran and failed
constexpr int kLimitReached = -32001; // a bound of this daemon was hit

constexpr std::size_t kMaxWatchedKeys = 256;
constexpr std::size_t kMaxWaitersPerKey = 64;
constexpr std::size_t kMaxEventsPerKey = 256;
constexpr TimeMs kWatchIdleMs = 120'000;  // a watch nobody polls is dropped after this

struct RpcFailure {
  int code;
  std::string message;
};

const std::vector<std::string> kMethods = {"status", "peers", "dht_put", "dht_get", "dht_watch"};

std::int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

const json::value* param(const json::object& p, const char* name) { return p.if_contains(name); }

std::string need_string(const json::object& p, const char* name, const char* what) {
  const auto* v = param(p, name);
  if (!v) throw RpcFailure{kInvalidParams, std::string("params.") + name + " is missing: expected " + what};
  if (!v->is_string())
    throw RpcFailure{kInvalidParams, std::string("params.") + name + ": expected " + what};
  return std::string(v->as_string());
}

// A non-negative number (integer or not), or nullopt if absent.
std::optional<double> opt_number(const json::object& p, const char* name, const char* what) {
  const auto* v = param(p, name);
  if (!v || v->is_null()) return std::nullopt;
  double d;
  if (v->is_int64()) d = static_cast<double>(v->as_int64());
  else if (v->is_uint64()) d = static_cast<double>(v->as_uint64());
  else if (v->is_double()) d = v->as_double();
  else throw RpcFailure{kInvalidParams, std::string("params.") + name + ": expected " + what};
  if (!(d >= 0)) throw RpcFailure{kInvalidParams, std::string("params.") + name + ": expected " + what};
  return d;
}

routing::Key need_key(const json::object& p) {
  const auto text = need_string(p, "key", "the key as a string (any text, 64 hex digits or a k... id)");
  if (text.empty() || text.size() > 1024)
    throw RpcFailure{kInvalidParams, "params.key: expected 1 to 1024 characters, got " +
                                         std::to_string(text.size())};
  return routing::key_from_text(text);
}

// The DHT's own message, plus what to check when it does not say already.
std::string with_hint(const std::string& error) {
  if (error.find("bootstrap") != std::string::npos) return error;
  return error + " (check `blockcloud-cli status`: the node needs contacts; is --bootstrap set?)";
}

json::object record_json(const routing::Record& r, TimeMs now) {
  json::object o;
  o["owner"] = id_to_text('n', node_id_of(r.owner));
  o["owner_key"] = to_hex(r.owner.view());
  o["seq"] = r.seq;
  o["expires_at_ms"] = r.expires_at;
  o["ttl_remaining_s"] = std::max<TimeMs>(0, (r.expires_at - now) / 1000);
  o["size"] = r.payload.size();
  if (is_printable_utf8(r.payload))
    o["value"] = std::string(r.payload.begin(), r.payload.end());
  else
    o["value"] = nullptr;
  o["value_base64"] = base64_encode(r.payload);
  return o;
}

// Prometheus: resident memory from /proc/self/statm (pages).
double resident_bytes() {
  std::ifstream f("/proc/self/statm");
  long size = 0, resident = 0;
  f >> size >> resident;
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE));
}

}  // namespace

struct RpcService::Impl : std::enable_shared_from_this<Impl> {
  // One JSON-RPC call in progress: answers exactly once.
  struct Call {
    json::value id;
    Respond respond;
    bool done = false;
    void ok(json::value result) {
      if (done) return;
      done = true;
      json::object o{{"jsonrpc", "2.0"}, {"id", id}, {"result", std::move(result)}};
      respond(make_json_response(200, json::serialize(o)));
    }
    void fail(int code, const std::string& message) {
      if (done) return;
      done = true;
      json::object o{{"jsonrpc", "2.0"},
                     {"id", id},
                     {"error", json::object{{"code", code}, {"message", message}}}};
      respond(make_json_response(200, json::serialize(o)));
    }
  };
  using CallPtr = std::shared_ptr<Call>;

  struct Waiter {
    std::uint64_t cursor;
    CallPtr call;
    std::shared_ptr<asio::steady_timer> timer;
  };
  struct WatchEntry {
    routing::Key key;
    std::uint64_t watch_id = 0;
    std::deque<std::pair<std::uint64_t, json::object>> events;  // (seq, event)
    std::uint64_t next_seq = 1;
    TimeMs last_poll = 0;
    std::vector<Waiter> waiters;
  };

  Impl(asio::io_context& io, routing::DhtNode& node, AsioUdpDriver& driver,
       metrics::Registry& metrics, NodeInfo info, RpcLimits limits)
      : io(io), node(node), driver(driver), metrics(metrics), info(std::move(info)),
        limits(limits), cleanup_timer(io),
        m_uptime(metrics.gauge("bc_process_uptime_seconds", "Seconds since blockcloudd started")),
        m_start(metrics.gauge("bc_process_start_time_seconds", "Unix time blockcloudd started")),
        m_rss(metrics.gauge("bc_process_resident_memory_bytes", "Resident memory of blockcloudd")),
        m_watched(metrics.gauge("bc_rpc_watched_keys", "Keys watched on behalf of RPC clients")) {
    m_start.set(static_cast<double>(this->info.started_at_ms) / 1000.0);
    for (const auto& m : kMethods)
      m_requests[m] = &metrics.counter("bc_rpc_requests_total", "JSON-RPC requests by method",
                                       {{"method", m}});
    m_requests["invalid"] = &metrics.counter("bc_rpc_requests_total", "JSON-RPC requests by method",
                                             {{"method", "invalid"}});
    m_errors = &metrics.counter("bc_rpc_errors_total", "JSON-RPC requests answered with an error");
  }

  asio::io_context& io;
  routing::DhtNode& node;
  AsioUdpDriver& driver;
  metrics::Registry& metrics;
  NodeInfo info;
  RpcLimits limits;
  asio::steady_timer cleanup_timer;
  std::map<routing::Key, std::shared_ptr<WatchEntry>> watches;
  bool stopped = false;
  metrics::Gauge& m_uptime;
  metrics::Gauge& m_start;
  metrics::Gauge& m_rss;
  metrics::Gauge& m_watched;
  std::map<std::string, metrics::Counter*> m_requests;
  metrics::Counter* m_errors;
  std::map<std::string, RpcMethod> extra;
  std::map<std::string, AsyncRpcMethod> extra_async;

  std::string method_list() const {
    std::string s;
    for (const auto& m : kMethods) s += (s.empty() ? "" : ", ") + m;
    for (const auto& [m, f] : extra) s += ", " + m;
    for (const auto& [m, f] : extra_async) s += ", " + m;
    return s;
  }

  void start_cleanup() {
    cleanup_timer.expires_after(std::chrono::seconds(15));
    cleanup_timer.async_wait([w = weak_from_this()](const boost::system::error_code& ec) {
      auto self = w.lock();
      if (ec || !self || self->stopped) return;
      self->drop_idle_watches();
      self->start_cleanup();
    });
  }

  void drop_idle_watches() {
    const TimeMs now = AsioUdpDriver::now_ms();
    for (auto it = watches.begin(); it != watches.end();) {
      if (it->second->waiters.empty() && now - it->second->last_poll > kWatchIdleMs) {
        node.unwatch(it->second->watch_id);
        it = watches.erase(it);
      } else {
        ++it;
      }
    }
    m_watched.set(static_cast<double>(watches.size()));
  }

  void handle(const HttpRequest& req, Respond respond) {
    std::string path(req.target());
    if (auto q = path.find('?'); q != std::string::npos) path.resize(q);
    if (path == "/health") {
      if (req.method() != http::verb::get && req.method() != http::verb::head)
        return respond(make_json_response(405, R"({"error":"use GET /health"})"));
      json::object o{{"status", "ok"},
                     {"node_id", id_to_text('n', node.id())},
                     {"uptime_s", (AsioUdpDriver::now_ms() - info.started_at_ms) / 1000}};
      return respond(make_json_response(200, json::serialize(o)));
    }
    if (path == "/metrics") {
      if (req.method() != http::verb::get)
        return respond(make_json_response(405, R"({"error":"use GET /metrics"})"));
      m_uptime.set(static_cast<double>(AsioUdpDriver::now_ms() - info.started_at_ms) / 1000.0);
      m_rss.set(resident_bytes());
      m_watched.set(static_cast<double>(watches.size()));
      HttpResponseMsg res{http::status::ok, 11};
      res.set(http::field::server, "blockcloudd");
      res.set(http::field::content_type, "text/plain; version=0.0.4");
      res.body() = metrics.render_prometheus();
      res.prepare_payload();
      return respond(std::move(res));
    }
    if (path == "/rpc") {
      if (req.method() != http::verb::post)
        return respond(make_json_response(
            405, R"({"error":"use POST /rpc with a JSON-RPC 2.0 request body"})"));
      return rpc(req.body(), std::move(respond));
    }
    respond(make_json_response(
        404, R"({"error":"unknown path; endpoints: POST /rpc, GET /metrics, GET /health"})"));
  }

  void rpc(const std::string& body, Respond respond) {
    auto call = std::make_shared<Call>();
    call->respond = std::move(respond);
    json::error_code ec;
    json::value v = json::parse(body, ec);
    if (ec) {
      m_requests["invalid"]->inc();
      m_errors->inc();
      return call->fail(kParseError, "request body is not valid JSON (" + ec.message() +
                                         "); send {\"jsonrpc\":\"2.0\",\"id\":1,\"method\":...}");
    }
    if (v.is_array()) {
      m_requests["invalid"]->inc();
      m_errors->inc();
      return call->fail(kInvalidRequest, "batch requests are not supported; send one request per POST");
    }
    if (!v.is_object()) {
      m_requests["invalid"]->inc();
      m_errors->inc();
      return call->fail(kInvalidRequest, "request must be a JSON object");
    }
    auto& o = v.as_object();
    if (auto* id = o.if_contains("id")) call->id = *id;
    const auto* ver = o.if_contains("jsonrpc");
    const auto* method = o.if_contains("method");
    if (!ver || !ver->is_string() || ver->as_string() != "2.0" || !method || !method->is_string()) {
      m_requests["invalid"]->inc();
      m_errors->inc();
      return call->fail(kInvalidRequest,
                        "expected {\"jsonrpc\":\"2.0\",\"id\":...,\"method\":\"<name>\",\"params\":{...}}");
    }
    json::object params;
    if (auto* p = o.if_contains("params"); p && !p->is_null()) {
      if (!p->is_object()) {
        m_errors->inc();
        return call->fail(kInvalidParams, "params must be an object with named fields");
      }
      params = p->as_object();
    }
    const std::string name(method->as_string());
    auto counter = m_requests.find(name);
    if (counter == m_requests.end() || name == "invalid") {
      m_requests["invalid"]->inc();
      m_errors->inc();
      return call->fail(kMethodNotFound,
                        "unknown method \"" + name + "\"; methods: " + method_list());
    }
    counter->second->inc();
    try {
      if (name == "status") return call->ok(status());
      if (name == "peers") return call->ok(peers());
      if (name == "dht_put") return dht_put(params, call);
      if (name == "dht_get") return dht_get(params, call);
      if (name == "dht_watch") return dht_watch(params, call);
      if (auto it = extra.find(name); it != extra.end()) return call->ok(it->second(params));
      if (auto it = extra_async.find(name); it != extra_async.end()) {
        auto errors = m_errors;
        return it->second(params, RpcReply{[call](json::value v) { call->ok(std::move(v)); },
                                           [call, errors](int code, const std::string& msg) {
                                             errors->inc();
                                             call->fail(code, msg);
                                           }});
      }
    } catch (const RpcMethodError& f) {
      m_errors->inc();
      return call->fail(f.code, f.what());
    } catch (const RpcFailure& f) {
      m_errors->inc();
      return call->fail(f.code, f.message);
    } catch (const std::exception& e) {
      m_errors->inc();
      spdlog::error("rpc {} failed: {}", name, e.what());
      return call->fail(-32603, std::string("internal error: ") + e.what());
    }
  }

  json::value status() {
    const auto s = node.status();
    json::object o;
    o["node_id"] = id_to_text('n', s.id);
    o["node_key"] = to_hex(info.node_key.view());
    o["listen"] = s.endpoint.to_string();  // current: the node may have moved
    o["rpc"] = info.rpc.to_string();
    o["mode"] = mode_name(info.dht.mode);
    o["version"] = info.version;
    o["uptime_s"] = (AsioUdpDriver::now_ms() - info.started_at_ms) / 1000;
    o["contacts"] = json::array{s.contacts[0], s.contacts[1], s.contacts[2]};
    o["cluster_ids"] = json::array{s.cluster_ids[0].hex(), s.cluster_ids[1].hex(), s.cluster_ids[2].hex()};
    o["stored_keys"] = s.stored_keys;
    o["stored_values"] = s.stored_values;
    o["stored_bytes"] = s.stored_bytes;
    o["watches_held"] = s.watches;
    o["rpc_watches"] = watches.size();
    o["lookups_in_flight"] = s.lookups_in_flight;
    const auto st = driver.stats();
    o["udp"] = json::object{{"received", st.received},
                            {"sent", st.sent},
                            {"oversized_dropped", st.oversized_dropped},
                            {"send_errors", st.send_errors}};
    return o;
  }

  json::value peers() {
    const TimeMs now = AsioUdpDriver::now_ms();
    json::array a;
    for (const auto& c : node.contacts()) {
      json::object o;
      o["id"] = id_to_text('n', c.id);
      o["endpoint"] = c.endpoint.to_string();
      o["rtt_ms"] = c.rtt_ms;
      o["last_seen_ms_ago"] = c.last_seen > 0 ? now - c.last_seen : -1;
      o["level"] = c.level;
      a.push_back(std::move(o));
    }
    return a;
  }

  void dht_put(const json::object& p, const CallPtr& call) {
    const auto key = need_key(p);
    const char* fields[] = {"value", "value_base64", "value_hex"};
    int given = 0;
    for (auto* f : fields) given += param(p, f) != nullptr;
    if (given != 1)
      throw RpcFailure{kInvalidParams,
                       "give exactly one of params.value (UTF-8 text), params.value_base64 or "
                       "params.value_hex"};
    Bytes payload;
    if (param(p, "value")) {
      const auto s = need_string(p, "value", "a UTF-8 string");
      payload.assign(s.begin(), s.end());
    } else if (param(p, "value_base64")) {
      auto b = base64_decode(need_string(p, "value_base64", "a base64 string"));
      if (!b) throw RpcFailure{kInvalidParams, "params.value_base64: not valid base64 (A-Z a-z 0-9 + / =)"};
      payload = std::move(*b);
    } else {
      auto b = from_hex(need_string(p, "value_hex", "a hex string"));
      if (!b) throw RpcFailure{kInvalidParams, "params.value_hex: not valid hex (an even number of 0-9 a-f)"};
      payload = std::move(*b);
    }
    if (payload.size() > routing::kMaxPayloadBytes)
      throw RpcFailure{kInvalidParams, "value is " + std::to_string(payload.size()) +
                                           " bytes; the DHT stores at most " +
                                           std::to_string(routing::kMaxPayloadBytes) +
                                           " bytes per value (store larger data elsewhere and put its hash)"};
    const double max_s = static_cast<double>(info.dht.max_ttl_ms) / 1000.0;
    TimeMs ttl_ms = info.dht.default_ttl_ms;
    if (auto t = opt_number(p, "ttl", "a number of seconds > 0")) {
      if (*t < 1 || *t > max_s)
        throw RpcFailure{kInvalidParams, "params.ttl: expected 1 to " + std::to_string(static_cast<long>(max_s)) +
                                             " seconds, got " + std::to_string(*t)};
      ttl_ms = static_cast<TimeMs>(*t * 1000.0);
    }
    const auto t0 = steady_ms();
    const std::size_t size = payload.size();
    auto self = shared_from_this();
    driver.call([&](TimeMs now, Outbox& out) {
      node.publish(key, std::move(payload), ttl_ms, now, out,
                   [self, call, key, t0, ttl_ms, size](const routing::PutResult& r) {
                     if (!r.ok) {
                       self->m_errors->inc();
                       return call->fail(kDhtFailure, "put failed: " + with_hint(r.error));
                     }
                     json::object o;
                     o["key"] = key.hex();
                     o["key_text"] = id_to_text('k', key);
                     o["owner"] = id_to_text('n', self->node.id());
                     o["stored"] = r.stored;
                     o["hops"] = r.hops;
                     o["latency_ms"] = steady_ms() - t0;
                     o["ttl_s"] = ttl_ms / 1000;
                     o["size"] = size;
                     call->ok(std::move(o));
                   });
    });
  }

  void dht_get(const json::object& p, const CallPtr& call) {
    const auto key = need_key(p);
    const auto t0 = steady_ms();
    auto self = shared_from_this();
    driver.call([&](TimeMs now, Outbox& out) {
      node.get(key, now, out, [self, call, key, t0](const routing::GetResult& r) {
        if (!r.ok) {
          self->m_errors->inc();
          return call->fail(kDhtFailure, "get failed: " + with_hint(r.error));
        }
        const TimeMs now = AsioUdpDriver::now_ms();
        json::array values;
        for (const auto& rec : r.values) values.push_back(record_json(rec, now));
        json::object o;
        o["key"] = key.hex();
        o["key_text"] = id_to_text('k', key);
        o["found"] = r.values.size();
        o["values"] = std::move(values);
        o["hops"] = r.hops;
        o["level"] = r.level;
        o["latency_ms"] = steady_ms() - t0;
        call->ok(std::move(o));
      });
    });
  }

  std::shared_ptr<WatchEntry> watch_entry(const routing::Key& key) {
    if (auto it = watches.find(key); it != watches.end()) return it->second;
    if (watches.size() >= kMaxWatchedKeys)
      throw RpcFailure{kLimitReached, "this daemon already watches " + std::to_string(kMaxWatchedKeys) +
                                          " keys for RPC clients; stop other watches or wait " +
                                          std::to_string(kWatchIdleMs / 1000) + " s for idle ones to expire"};
    auto e = std::make_shared<WatchEntry>();
    e->key = key;
    std::weak_ptr<Impl> weak = weak_from_this();
    std::weak_ptr<WatchEntry> weak_entry = e;
    driver.call([&](TimeMs now, Outbox& out) {
      e->watch_id = node.watch(key, now, out, [weak, weak_entry](const routing::WatchEvent& ev) {
        auto self = weak.lock();
        auto entry = weak_entry.lock();
        if (self && entry) self->on_event(*entry, ev);
      });
    });
    watches[key] = e;
    m_watched.set(static_cast<double>(watches.size()));
    return e;
  }

  void on_event(WatchEntry& e, const routing::WatchEvent& ev) {
    const TimeMs now = AsioUdpDriver::now_ms();
    json::object o;
    o["seq"] = e.next_seq;
    o["kind"] = ev.kind == routing::WatchEvent::Kind::kAdded ? "added" : "expired";
    o["at_ms"] = now;
    o["record"] = record_json(ev.record, now);
    e.events.emplace_back(e.next_seq++, std::move(o));
    if (e.events.size() > kMaxEventsPerKey) e.events.pop_front();
    auto waiters = std::move(e.waiters);
    e.waiters.clear();
    for (auto& w : waiters) {
      w.timer->cancel();
      answer_watch(e, w.cursor, w.call);
    }
  }

  void answer_watch(WatchEntry& e, std::uint64_t cursor, const CallPtr& call) {
    json::array events;
    std::uint64_t missed = 0;
    if (!e.events.empty() && e.events.front().first > cursor + 1)
      missed = e.events.front().first - cursor - 1;
    for (const auto& [seq, ev] : e.events)
      if (seq > cursor) events.push_back(ev);
    json::object o;
    o["key"] = e.key.hex();
    o["key_text"] = id_to_text('k', e.key);
    o["cursor"] = e.next_seq - 1;
    o["events"] = std::move(events);
    o["missed"] = missed;
    e.last_poll = AsioUdpDriver::now_ms();
    call->ok(std::move(o));
  }

  void dht_watch(const json::object& p, const CallPtr& call) {
    const auto key = need_key(p);
    const double max_timeout = static_cast<double>(limits.max_watch_timeout_ms);
    double timeout = std::min(30'000.0, max_timeout);
    if (auto t = opt_number(p, "timeout_ms", "milliseconds as a number >= 0")) {
      if (*t > max_timeout)
        throw RpcFailure{kInvalidParams, "params.timeout_ms: at most " +
                                             std::to_string(limits.max_watch_timeout_ms) +
                                             " ms per poll; poll again with the returned cursor"};
      timeout = *t;
    }
    auto cursor_opt = opt_number(p, "cursor", "the cursor returned by the previous dht_watch");
    auto entry = watch_entry(key);
    entry->last_poll = AsioUdpDriver::now_ms();
    std::uint64_t cursor = entry->next_seq - 1;
    if (cursor_opt) cursor = std::min<std::uint64_t>(static_cast<std::uint64_t>(*cursor_opt), cursor);
    if (cursor < entry->next_seq - 1 || timeout <= 0) return answer_watch(*entry, cursor, call);
    if (entry->waiters.size() >= kMaxWaitersPerKey)
      throw RpcFailure{kLimitReached, "too many clients are already long-polling this key (" +
                                          std::to_string(kMaxWaitersPerKey) + "); retry later"};
    auto timer = std::make_shared<asio::steady_timer>(io);
    timer->expires_after(std::chrono::milliseconds(static_cast<std::int64_t>(timeout)));
    entry->waiters.push_back({cursor, call, timer});
    std::weak_ptr<WatchEntry> weak_entry = entry;
    auto self = shared_from_this();
    timer->async_wait([self, weak_entry, call, cursor](const boost::system::error_code& ec) {
      if (ec || call->done) return;
      auto e = weak_entry.lock();
      if (!e) return;
      std::erase_if(e->waiters, [&](const Waiter& w) { return w.call == call; });
      self->answer_watch(*e, cursor, call);
    });
  }

  void stop() {
    if (stopped) return;
    stopped = true;
    cleanup_timer.cancel();
    for (auto& [k, e] : watches) {
      for (auto& w : e->waiters) {
        w.timer->cancel();
        w.call->fail(kLimitReached, "blockcloudd is shutting down");
      }
      e->waiters.clear();
      node.unwatch(e->watch_id);
    }
    watches.clear();
  }
};

RpcService::RpcService(asio::io_context& io, routing::DhtNode& node, AsioUdpDriver& driver,
                       metrics::Registry& metrics, NodeInfo info, RpcLimits limits)
    : impl_(std::make_shared<Impl>(io, node, driver, metrics, std::move(info), limits)) {
  impl_->start_cleanup();
}

RpcService::~RpcService() { stop(); }

void RpcService::handle(const HttpRequest& req, Respond respond) { impl_->handle(req, std::move(respond)); }

void RpcService::stop() { impl_->stop(); }

void RpcService::add_method(const std::string& name, RpcMethod method) {
  impl_->m_requests[name] = &impl_->metrics.counter("bc_rpc_requests_total", "JSON-RPC requests by method",
                                                    {{"method", name}});
  impl_->extra[name] = std::move(method);
}

void RpcService::add_async_method(const std::string& name, AsyncRpcMethod method) {
  impl_->m_requests[name] = &impl_->metrics.counter("bc_rpc_requests_total", "JSON-RPC requests by method",
                                                    {{"method", name}});
  impl_->extra_async[name] = std::move(method);
}

}  // namespace bc::apps
