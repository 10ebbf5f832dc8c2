#include "apps/daemon/sal_node.hpp"

#include <algorithm>
#include <stdexcept>

#include <boost/json.hpp>

#include "layers/ids.hpp"
#include "sal/delegation.hpp"
#include "sal/record_validator.hpp"
#include "sal/rule_text.hpp"
#include "sal/service_id.hpp"

namespace bc::apps {
namespace json = boost::json;

namespace {
constexpr int kInvalidParams = -32602;
constexpr int kDhtFailure = -32000;

[[noreturn]] void bad_param(const std::string& msg) { throw RpcMethodError(kInvalidParams, msg); }

const json::value& need(const json::object& p, const char* field, const char* what) {
  const json::value* v = p.if_contains(field);
  if (!v) bad_param(std::string("missing \"") + field + "\": " + what);
  return *v;
}

std::string need_string(const json::object& p, const char* field, const char* what) {
  const json::value& v = need(p, field, what);
  if (!v.is_string()) bad_param(std::string("\"") + field + "\" must be a string: " + what);
  return std::string(v.as_string());
}

sal::ServiceId need_service(const json::object& p) {
  const std::string text = need_string(p, "service", "a service ID (s... or s....bc)");
  auto parsed = sal::parse_service_id(text);
  if (!parsed.id) bad_param("\"service\": " + parsed.error);
  return *parsed.id;
}

std::int64_t optional_int(const json::object& p, const char* field, std::int64_t fallback,
                          std::int64_t lo, std::int64_t hi) {
  const json::value* v = p.if_contains(field);
  if (!v || v->is_null()) return fallback;
  if (!v->is_int64() && !v->is_uint64())
    bad_param(std::string("\"") + field + "\" must be an integer");
  const std::int64_t x = v->is_int64() ? v->as_int64() : static_cast<std::int64_t>(v->as_uint64());
  if (x < lo || x > hi)
    bad_param(std::string("\"") + field + "\" must be in [" + std::to_string(lo) + ", " +
              std::to_string(hi) + "], got " + std::to_string(x));
  return x;
}

json::object endpoint_json(const sal::ResolvedEndpoint& e, TimeMs now) {
  json::array addrs;
  for (const auto& a : e.addresses) addrs.push_back(json::value(a.to_string()));
  json::object o;
  o["provider"] = id_to_text('n', e.provider_id);
  o["addresses"] = std::move(addrs);
  o["weight"] = e.weight;
  o["seq"] = e.seq;
  o["expires_in_s"] = (e.expires_at - now) / 1000;
  o["delegation_serial"] = e.delegation.serial;
  o["delegation_expires_in_s"] = (e.delegation.expires_at - now) / 1000;
  return o;
}

json::object rule_json(const sal::Rule& r) {
  return json::object{{"id", r.id}, {"rule", sal::format_rule(r)}};
}
}  // namespace

SalNode::SalNode(const KeyPair& key, routing::DhtNode& node, metrics::Registry& metrics,
                 SalNodeConfig config)
    : node_(node),
      config_(std::move(config)),
      resolver_(node, metrics),
      publisher_(node, key.public_key(), metrics) {
  // Generic DHT values (dht put/get) stay allowed; SAL records must carry a
  // valid delegation chain everywhere.
  node_.set_record_validator(sal::make_record_validator(&metrics));
  for (const auto& line : config_.rules) {
    auto added = sal::add_rule_text(table_, line);
    if (!added) throw std::invalid_argument("service table rule \"" + line + "\": " + added.error);
  }
}

void SalNode::on_datagram(const Endpoint& from, ByteView data, TimeMs now, Outbox& out) {
  node_.on_datagram(from, data, now, out);
}

void SalNode::on_tick(TimeMs now, Outbox& out) {
  if (now >= node_.next_wakeup()) node_.on_tick(now, out);
  if (now >= resolver_.next_wakeup()) resolver_.on_tick(now, out);
  if (now >= publisher_.next_wakeup()) publisher_.on_tick(now, out);
}

TimeMs SalNode::next_wakeup() const {
  return std::min({node_.next_wakeup(), resolver_.next_wakeup(), publisher_.next_wakeup()});
}

void SalNode::register_methods(RpcService& rpc, AsioUdpDriver& driver) {
  rpc.add_async_method("resolve", [this, &driver](const json::object& p, RpcReply reply) {
    const sal::ServiceId id = need_service(p);
    driver.call([&](TimeMs now, Outbox& out) {
      resolver_.resolve(id, now, out, [reply](const sal::Resolution& r) {
        if (!r.ok) return reply.fail(kDhtFailure, "resolve failed: " + r.error);
        const TimeMs now = AsioUdpDriver::now_ms();
        json::array eps;
        for (const auto& e : r.endpoints) eps.push_back(endpoint_json(e, now));
        json::object o;
        o["service"] = sal::service_id_to_text(r.service);
        o["host"] = sal::service_host_name(r.service);
        o["found"] = r.endpoints.size();
        o["from_cache"] = r.from_cache;
        o["endpoints"] = std::move(eps);
        reply.ok(std::move(o));
      });
    });
  });

  rpc.add_async_method("service_serve", [this, &driver](const json::object& p, RpcReply reply) {
    const std::string hex = need_string(p, "delegation", "the delegation certificate in hex (blockcloud-cli service delegate)");
    auto bytes = from_hex(hex);
    if (!bytes) bad_param("\"delegation\" is not hex; pass the certificate `service delegate` printed");
    const char* why = nullptr;
    auto d = sal::decode_delegation(*bytes, &why);
    if (!d) bad_param(std::string("\"delegation\" is not a valid certificate: ") + (why ? why : "malformed"));
    if (p.contains("service") && need_service(p) != d->service())
      bad_param("the delegation is for service " + sal::service_id_to_text(d->service()) +
                ", not the one given in \"service\"");
    const auto weight = static_cast<std::uint16_t>(optional_int(p, "weight", 1, 0, 65535));
    const TimeMs ttl_ms = optional_int(p, "ttl_s", 0, 0, 24 * 3600) * 1000;
    const sal::ServiceId id = d->service();
    driver.call([&](TimeMs now, Outbox& out) {
      publisher_.serve(*d, {config_.flow_listen}, weight, ttl_ms, now, out,
                       [reply, id, this](const routing::PutResult& r) {
                         if (!r.ok) return reply.fail(kDhtFailure, "serve failed: " + r.error);
                         json::object o;
                         o["service"] = sal::service_id_to_text(id);
                         o["host"] = sal::service_host_name(id);
                         o["address"] = config_.flow_listen.to_string();
                         o["stored"] = r.stored;
                         reply.ok(std::move(o));
                       });
    });
  });

  rpc.add_async_method("service_stop", [this, &driver](const json::object& p, RpcReply reply) {
    const sal::ServiceId id = need_service(p);
    if (!publisher_.serving(id)) bad_param("this node does not serve " + sal::service_id_to_text(id) + "; see service_list");
    driver.call([&](TimeMs now, Outbox& out) {
      publisher_.stop(id, now, out, [reply, id](const routing::PutResult& r) {
        if (!r.ok) return reply.fail(kDhtFailure, "withdrawal not stored: " + r.error);
        reply.ok(json::object{{"service", sal::service_id_to_text(id)}, {"withdrawn", true}});
      });
    });
  });

  rpc.add_method("service_list", [this](const json::object&) -> json::value {
    const TimeMs now = AsioUdpDriver::now_ms();
    json::array arr;
    for (const auto& id : publisher_.services()) {
      json::object o;
      o["service"] = sal::service_id_to_text(id);
      o["host"] = sal::service_host_name(id);
      if (auto exp = publisher_.delegation_expires_at(id)) o["delegation_expires_in_s"] = (*exp - now) / 1000;
      arr.push_back(std::move(o));
    }
    return json::object{{"address", config_.flow_listen.to_string()}, {"services", std::move(arr)}};
  });

  rpc.add_method("rules_add", [this](const json::object& p) -> json::value {
    const std::string line = need_string(p, "rule", sal::kRuleSyntax);
    auto added = sal::add_rule_text(table_, line);
    if (!added) bad_param(added.error);
    return rule_json(*table_.get(*added.id));  // just added: present
  });
  rpc.add_method("rules_list", [this](const json::object&) -> json::value {
    json::array arr;
    for (const auto& r : table_.list()) arr.push_back(rule_json(r));
    return json::object{{"rules", std::move(arr)}, {"default", sal::format_rule(table_.default_rule())}};
  });
  rpc.add_method("rules_remove", [this](const json::object& p) -> json::value {
    const auto id = static_cast<sal::RuleId>(optional_int(p, "id", -1, 1, INT64_MAX));
    if (!table_.remove(id)) bad_param("no rule " + std::to_string(id) + "; see rules_list");
    return json::object{{"removed", id}};
  });

  rpc.add_method("sal_status", [this](const json::object&) -> json::value {
    json::object o;
    o["flow_listen"] = config_.flow_listen.to_string();
    o["served"] = publisher_.services().size();
    o["resolver_cache"] = resolver_.cache_size();
    o["resolver_watches"] = resolver_.watch_count();
    o["rules"] = table_.size();
    return o;
  });
}

}  // namespace bc::apps
