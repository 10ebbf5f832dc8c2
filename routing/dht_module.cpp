#include "routing/dht_module.hpp"

#include <chrono>
#include <deque>
#include <map>

#include <boost/asio/steady_timer.hpp>
#include <boost/json.hpp>

#include "layers/assert.hpp"
#include "layers/encoding.hpp"
#include "layers/ids.hpp"

namespace bc::routing {
namespace {
namespace asio = boost::asio;
namespace json = boost::json;
using node::Params;
using node::Reply;
using node::RpcError;

constexpr std::size_t kMaxWatchedKeys = 256;
constexpr std::size_t kMaxWaitersPerKey = 64;
constexpr std::size_t kMaxEventsPerKey = 256;
constexpr TimeMs kWatchIdleMs = 120'000;  // a watch nobody polls is dropped after this

constexpr const char* kKeyExpect = "give the key as a string (any text, 64 hex digits or a k... id)";

std::int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

Key need_key(const Params& p) {
  const auto text = p.string("key", kKeyExpect);
  if (text.empty() || text.size() > 1024)
    p.fail("key", std::to_string(text.size()) + " characters", "give 1 to 1024 characters");
  return key_from_text(text);
}

// The value of dht_put: exactly one of value, value_base64, value_hex.
Bytes need_value(const Params& p) {
  const int given = p.has("value") + p.has("value_base64") + p.has("value_hex");
  if (given != 1)
    p.fail("value", given == 0 ? "missing" : "more than one form given",
           "give exactly one of value (UTF-8 text), value_base64 or value_hex");
  Bytes payload;
  if (auto s = p.opt_string("value", "give the value as UTF-8 text")) {
    payload.assign(s->begin(), s->end());
  } else if (auto b64 = p.opt_string("value_base64", "give the value in base64")) {
    auto b = base64_decode(*b64);
    if (!b) p.fail("value_base64", "not valid base64", "use the alphabet A-Z a-z 0-9 + / =");
    payload = std::move(*b);
  } else {
    payload = p.hex("value_hex", "give the value as hex");
  }
  if (payload.size() > kMaxPayloadBytes)
    p.fail("value", std::to_string(payload.size()) + " bytes; the DHT stores at most " +
                        std::to_string(kMaxPayloadBytes) + " bytes per value",
           "store larger data elsewhere and put its hash");
  return payload;
}

// The DHT's own message, plus what to check when it does not say already.
std::string with_hint(const std::string& error) {
  if (error.find("bootstrap") != std::string::npos) return error;
  return error + " (check `blockcloud-cli status`: the node needs contacts; is --bootstrap set?)";
}

json::object record_json(const Record& r, TimeMs now) {
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
}  // namespace

struct DhtModule::Impl : std::enable_shared_from_this<Impl> {
  struct Waiter {
    std::uint64_t cursor;
    std::shared_ptr<Reply> reply;  // shared: the timer and the event race to answer
    std::shared_ptr<asio::steady_timer> timer;
  };
  struct WatchEntry {
    Key key;
    std::uint64_t watch_id = 0;
    std::deque<std::pair<std::uint64_t, json::object>> events;  // (seq, event)
    std::uint64_t next_seq = 1;
    TimeMs last_poll = 0;
    std::vector<Waiter> waiters;
  };

  Impl(asio::io_context& io, DhtNode& node, AsioUdpDriver& driver, metrics::Registry& metrics, DhtModuleInfo info)
      : io(io), node(node), driver(driver), info(std::move(info)), cleanup_timer(io),
        m_watched(metrics.gauge("bc_rpc_watched_keys", "Keys watched on behalf of RPC clients")) {}

  asio::io_context& io;
  DhtNode& node;
  AsioUdpDriver& driver;
  DhtModuleInfo info;
  asio::steady_timer cleanup_timer;
  std::map<Key, std::shared_ptr<WatchEntry>> watches;
  bool stopped = false;
  metrics::Gauge& m_watched;

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

  json::value status() {
    const auto s = node.status();
    json::object o;
    o["node_id"] = id_to_text('n', s.id);
    o["node_key"] = to_hex(info.node_key.view());
    o["listen"] = s.endpoint.to_string();  // current: the node may have moved
    o["rpc"] = info.rpc;
    o["mode"] = info.mode;
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

  TimeMs ttl_of(const Params& p) const {
    const double max_s = static_cast<double>(info.max_ttl_ms) / 1000.0;
    auto t = p.opt_number("ttl", "give a number of seconds > 0");
    if (!t) return info.default_ttl_ms;
    if (*t < 1 || *t > max_s)
      p.fail("ttl", std::to_string(*t) + " seconds",
             "give 1 to " + std::to_string(static_cast<long>(max_s)) + " seconds");
    return static_cast<TimeMs>(*t * 1000.0);
  }

  void dht_put(const Params& p, const Reply& reply) {
    const auto key = need_key(p);
    Bytes payload = need_value(p);
    const TimeMs ttl_ms = ttl_of(p);
    const auto t0 = steady_ms();
    const std::size_t size = payload.size();
    auto self = shared_from_this();
    driver.call([&](TimeMs now, Outbox& out) {
      node.publish(key, std::move(payload), ttl_ms, now, out, [self, reply, key, t0, ttl_ms, size](const PutResult& r) {
        if (!r.ok()) return reply.fail(node::kOperationFailed, "put failed: " + with_hint(r.status.message));
        json::object o;
        o["key"] = key.hex();
        o["key_text"] = id_to_text('k', key);
        o["owner"] = id_to_text('n', self->node.id());
        o["stored"] = r.stored;
        o["hops"] = r.hops;
        o["latency_ms"] = steady_ms() - t0;
        o["ttl_s"] = ttl_ms / 1000;
        o["size"] = size;
        reply.ok(std::move(o));
      });
    });
  }

  void dht_get(const Params& p, const Reply& reply) {
    const auto key = need_key(p);
    const auto t0 = steady_ms();
    driver.call([&](TimeMs now, Outbox& out) {
      node.get(key, now, out, [reply, key, t0](const GetResult& r) {
        if (!r.ok()) return reply.fail(node::kOperationFailed, "get failed: " + with_hint(r.status.message));
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
        reply.ok(std::move(o));
      });
    });
  }

  std::shared_ptr<WatchEntry> watch_entry(const Key& key) {
    if (auto it = watches.find(key); it != watches.end()) return it->second;
    if (watches.size() >= kMaxWatchedKeys)
      throw RpcError(node::kLimitReached, "this daemon already watches " + std::to_string(kMaxWatchedKeys) +
                                              " keys for RPC clients; stop other watches or wait " +
                                              std::to_string(kWatchIdleMs / 1000) + " s for idle ones to expire");
    auto e = std::make_shared<WatchEntry>();
    e->key = key;
    std::weak_ptr<Impl> weak = weak_from_this();
    std::weak_ptr<WatchEntry> weak_entry = e;
    driver.call([&](TimeMs now, Outbox& out) {
      e->watch_id = node.watch(key, now, out, [weak, weak_entry](const WatchEvent& ev) {
        auto self = weak.lock();
        auto entry = weak_entry.lock();
        if (self && entry) self->on_event(*entry, ev);
      });
    });
    watches[key] = e;
    m_watched.set(static_cast<double>(watches.size()));
    return e;
  }

  void on_event(WatchEntry& e, const WatchEvent& ev) {
    const TimeMs now = AsioUdpDriver::now_ms();
    json::object o;
    o["seq"] = e.next_seq;
    o["kind"] = ev.kind == WatchEvent::Kind::kAdded ? "added" : "expired";
    o["at_ms"] = now;
    o["record"] = record_json(ev.record, now);
    e.events.emplace_back(e.next_seq++, std::move(o));
    if (e.events.size() > kMaxEventsPerKey) e.events.pop_front();
    auto waiters = std::move(e.waiters);
    e.waiters.clear();
    for (auto& w : waiters) {
      w.timer->cancel();
      answer_watch(e, w.cursor, *w.reply);
    }
  }

  void answer_watch(WatchEntry& e, std::uint64_t cursor, const Reply& reply) {
    json::array events;
    std::uint64_t missed = 0;
    if (!e.events.empty() && e.events.front().first > cursor + 1) missed = e.events.front().first - cursor - 1;
    for (const auto& [seq, ev] : e.events)
      if (seq > cursor) events.push_back(ev);
    json::object o;
    o["key"] = e.key.hex();
    o["key_text"] = id_to_text('k', e.key);
    o["cursor"] = e.next_seq - 1;
    o["events"] = std::move(events);
    o["missed"] = missed;
    e.last_poll = AsioUdpDriver::now_ms();
    reply.ok(std::move(o));
  }

  double watch_timeout(const Params& p) const {
    const double max_timeout = static_cast<double>(info.max_watch_timeout_ms);
    auto t = p.opt_number("timeout_ms", "give milliseconds as a number >= 0");
    if (!t) return std::min(30'000.0, max_timeout);
    if (*t > max_timeout)
      p.fail("timeout_ms", "at most " + std::to_string(info.max_watch_timeout_ms) + " ms per poll",
             "poll again with the returned cursor");
    return *t;
  }

  void dht_watch(const Params& p, const Reply& reply) {
    const auto key = need_key(p);
    const double timeout = watch_timeout(p);
    auto cursor_opt = p.opt_number("cursor", "give the cursor returned by the previous dht_watch");
    auto entry = watch_entry(key);
    entry->last_poll = AsioUdpDriver::now_ms();
    std::uint64_t cursor = entry->next_seq - 1;
    if (cursor_opt) cursor = std::min<std::uint64_t>(static_cast<std::uint64_t>(*cursor_opt), cursor);
    if (cursor < entry->next_seq - 1 || timeout <= 0) return answer_watch(*entry, cursor, reply);
    if (entry->waiters.size() >= kMaxWaitersPerKey)
      throw RpcError(node::kLimitReached, "too many clients are already long-polling this key (" +
                                              std::to_string(kMaxWaitersPerKey) + "); retry later");
    auto timer = std::make_shared<asio::steady_timer>(io);
    timer->expires_after(std::chrono::milliseconds(static_cast<std::int64_t>(timeout)));
    auto shared_reply = std::make_shared<Reply>(reply);
    entry->waiters.push_back({cursor, shared_reply, timer});
    std::weak_ptr<WatchEntry> weak_entry = entry;
    // A caller that goes away frees its waiter slot at once.
    if (reply.on_cancel)
      reply.on_cancel([weak_entry, weak_reply = std::weak_ptr<Reply>(shared_reply)] {
        auto e = weak_entry.lock();
        auto r = weak_reply.lock();
        if (!e || !r) return;
        std::erase_if(e->waiters, [&](const Waiter& w) {
          if (w.reply != r) return false;
          w.timer->cancel();
          return true;
        });
      });
    auto self = shared_from_this();
    timer->async_wait([self, weak_entry, shared_reply, cursor](const boost::system::error_code& ec) {
      auto e = weak_entry.lock();
      if (ec || !e) return;
      const auto before = e->waiters.size();
      std::erase_if(e->waiters, [&](const Waiter& w) { return w.reply == shared_reply; });
      if (e->waiters.size() != before) self->answer_watch(*e, cursor, *shared_reply);
    });
  }

  void stop() {
    if (stopped) return;
    stopped = true;
    cleanup_timer.cancel();
    for (auto& [k, e] : watches) {
      for (auto& w : e->waiters) {
        w.timer->cancel();
        w.reply->fail(node::kLimitReached, "blockcloudd is shutting down");
      }
      e->waiters.clear();
      node.unwatch(e->watch_id);
    }
    watches.clear();
  }
};

DhtModule::DhtModule(asio::io_context& io, DhtNode& node, AsioUdpDriver& driver, metrics::Registry& metrics,
                     DhtModuleInfo info)
    : impl_(std::make_shared<Impl>(io, node, driver, metrics, std::move(info))) {}

DhtModule::~DhtModule() { stop(); }

void DhtModule::register_rpc(node::RpcRegistry& rpc) {
  auto* i = impl_.get();
  rpc.add("status", [i](const Params&) { return i->status(); });
  rpc.add("peers", [i](const Params&) { return i->peers(); });
  rpc.add_async("dht_put", [i](const Params& p, Reply r) { i->dht_put(p, r); });
  rpc.add_async("dht_get", [i](const Params& p, Reply r) { i->dht_get(p, r); });
  rpc.add_async("dht_watch", [i](const Params& p, Reply r) { i->dht_watch(p, r); });
}

void DhtModule::start() { impl_->start_cleanup(); }

void DhtModule::stop() { impl_->stop(); }

}  // namespace bc::routing
