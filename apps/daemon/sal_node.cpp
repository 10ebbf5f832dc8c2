#include "apps/daemon/sal_node.hpp"

#include <algorithm>
#include <stdexcept>

#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include "layers/asio_endpoint.hpp"
#include "layers/ids.hpp"
#include "layers/local_addresses.hpp"
#include "routing/record_codec.hpp"
#include "sal/records/delegation.hpp"
#include "sal/table/rule_text.hpp"
#include "sal/records/service_id.hpp"

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
    : node_(node), config_(std::move(config)), core_(node, key.public_key(), metrics) {
  for (const auto& line : config_.rules) {
    auto added = sal::add_rule_text(table_, line);
    if (!added) throw std::invalid_argument("service table rule \"" + line + "\": " + added.error);
  }
}

void SalNode::on_datagram(const Endpoint& from, ByteView data, TimeMs now, Outbox& out) {
  core_.on_datagram(from, data, now, out);
}

void SalNode::on_tick(TimeMs now, Outbox& out) { core_.on_tick(now, out); }

TimeMs SalNode::next_wakeup() const { return core_.next_wakeup(); }

void SalNode::start(boost::asio::io_context& io, AsioUdpDriver& driver, const KeyPair& key,
                    metrics::Registry& metrics) {
  io_ = &io;
  driver_ = &driver;
  metrics_ = &metrics;
  sal::HostHooks hooks = sal::host_hooks(driver, core_);
  hooks.proof_for = [this](const sal::ServiceId& id) -> std::optional<Bytes> {
    auto it = served_.find(id);
    if (it == served_.end() || !it->second.backend) return std::nullopt;
    return it->second.delegation;
  };
  hooks.log = [](sal::HostLogLevel level, const std::string& line) {
    if (level == sal::HostLogLevel::kWarn) spdlog::warn("sal: {}", line);
    else if (level == sal::HostLogLevel::kInfo) spdlog::info("sal: {}", line);
    else spdlog::debug("sal: {}", line);
  };
  host_ = std::make_unique<sal::Host>(io, key, config_.flow_listen, sal::HostConfig{}, std::move(hooks), metrics);
  host_->start();
  config_.flow_listen = host_->local_endpoint();
  if (config_.socks) {
    sal::SocksGatewayOptions so;
    so.listen = *config_.socks;
    so.metrics = &metrics;
    socks_ = std::make_unique<sal::SocksGateway>(io, *host_, so);
    socks_->start();
    config_.socks = socks_->local_endpoint();
  }
  if (config_.address_check_ms > 0) {
    address_timer_ = std::make_unique<boost::asio::steady_timer>(io);
    watch_local_address();
  }
}

void SalNode::watch_local_address() {
  address_timer_->expires_after(std::chrono::milliseconds(config_.address_check_ms));
  address_timer_->async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    const Endpoint bound = node_.endpoint();
    // An unspecified bind follows the host by itself.
    if (!to_asio_address(bound).is_unspecified() && !is_local_address(bound)) {
      if (auto to = replacement_address(bound, local_ip_addresses(), config_.fallback_addresses)) {
        spdlog::warn("address {} disappeared from this host: moving to {}", bound.ip_string(), to->ip_string());
        if (std::string err = rebind(to->ip_string()); !err.empty())
          spdlog::warn("moving to {} failed: {}; trying again in {} ms", to->ip_string(), err, config_.address_check_ms);
        warned_no_address_ = false;
      } else if (!warned_no_address_) {
        spdlog::warn("address {} disappeared from this host and no other address of its kind is up; flows wait "
                     "detached until one appears (or add one with --address-fallback)",
                     bound.ip_string());
        warned_no_address_ = true;
      }
    }
    watch_local_address();
  });
}

void SalNode::stop() {
  if (address_timer_) address_timer_->cancel();
  for (auto& [id, f] : forwards_) f->stop();
  for (auto& [id, s] : served_) {
    if (s.backend) s.backend->stop();
  }
  if (socks_) socks_->stop();
  if (host_) host_->stop();
}

std::string SalNode::rebind(const std::string& ip) {
  auto to = Endpoint::parse_ip(ip, 0);
  if (!to) bad_param("\"address\": expected an IP address such as 127.0.0.3, got \"" + ip + "\"");
  const Endpoint dht_old = node_.endpoint();
  if (std::string err = sal::move_node(*driver_, *host_, core_, *to); !err.empty()) return err;
  config_.flow_listen = host_->local_endpoint();
  spdlog::info("node moved: udp {} -> {}, flows on {}", dht_old.to_string(), node_.endpoint().to_string(),
               config_.flow_listen.to_string());
  return "";
}

void SalNode::register_methods(RpcService& rpc, AsioUdpDriver& driver) {
  rpc.add_async_method("resolve", [this, &driver](const json::object& p, RpcReply reply) {
    const sal::ServiceId id = need_service(p);
    driver.call([&](TimeMs now, Outbox& out) {
      core_.resolver().resolve(id, now, out, [reply](const sal::Resolution& r) {
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
    std::optional<Endpoint> backend;
    if (p.contains("backend")) {
      backend = Endpoint::parse(need_string(p, "backend", "the local server's IP:PORT"));
      if (!backend) bad_param("\"backend\": expected IP:PORT of the local server, e.g. 127.0.0.1:8000");
    }
    // Flows for the service go to the backend; without one they are refused.
    Served& s = served_[id];
    s.delegation = *bytes;
    if (s.backend) s.backend->stop();
    s.backend.reset();
    host_->unlisten(id);
    if (backend) {
      sal::BackendOptions bo;
      bo.backend = *backend;
      bo.metrics = metrics_;
      s.backend = std::make_unique<sal::BackendConnector>(*io_, bo);
      host_->listen(id, [conn = s.backend.get()](std::unique_ptr<sal::ByteStream> flow, const XOnlyPubKey&) {
        conn->serve(std::move(flow));
      });
    }
    driver.call([&](TimeMs now, Outbox& out) {
      core_.publisher().serve(*d, {config_.flow_listen}, weight, ttl_ms, now, out,
                       [reply, id, this](const routing::PutResult& r) {
                         if (!r.ok) {
                           host_->unlisten(id);
                           if (auto it = served_.find(id); it != served_.end()) {
                             if (it->second.backend) it->second.backend->stop();
                             served_.erase(it);
                           }
                           return reply.fail(kDhtFailure, "serve failed: " + r.error);
                         }
                         json::object o;
                         o["service"] = sal::service_id_to_text(id);
                         o["host"] = sal::service_host_name(id);
                         o["address"] = config_.flow_listen.to_string();
                         o["stored"] = r.stored;
                         auto it = served_.find(id);
                         o["backend"] = it != served_.end() && it->second.backend ? "yes" : "none";
                         reply.ok(std::move(o));
                       });
    });
  });

  rpc.add_async_method("service_stop", [this, &driver](const json::object& p, RpcReply reply) {
    const sal::ServiceId id = need_service(p);
    if (!core_.publisher().serving(id)) bad_param("this node does not serve " + sal::service_id_to_text(id) + "; see service_list");
    host_->unlisten(id);
    if (auto it = served_.find(id); it != served_.end()) {
      if (it->second.backend) it->second.backend->stop();
      served_.erase(it);
    }
    driver.call([&](TimeMs now, Outbox& out) {
      core_.publisher().stop(id, now, out, [reply, id](const routing::PutResult& r) {
        if (!r.ok) return reply.fail(kDhtFailure, "withdrawal not stored: " + r.error);
        reply.ok(json::object{{"service", sal::service_id_to_text(id)}, {"withdrawn", true}});
      });
    });
  });

  rpc.add_async_method("service_revoke", [this, &driver](const json::object& p, RpcReply reply) {
    const std::string hex = need_string(p, "record", "the owner statement record in hex (blockcloud-cli service revoke)");
    auto bytes = from_hex(hex);
    if (!bytes) bad_param("\"record\" is not hex; let `blockcloud-cli service revoke` build it");
    routing::RecordDecodeError why{};
    auto rec = routing::decode_record(*bytes, &why);
    if (!rec) bad_param(std::string("\"record\" does not decode: ") + routing::to_string(why));
    driver.call([&](TimeMs now, Outbox& out) {
      const sal::ServiceId id = rec->key;
      std::string err = core_.publisher().keep_signed_statement(*rec, now, out, [reply, id](const routing::PutResult& r) {
        if (!r.ok) return reply.fail(kDhtFailure, "statement not stored: " + r.error);
        reply.ok(json::object{{"service", sal::service_id_to_text(id)}, {"stored", r.stored}});
      });
      if (!err.empty()) reply.fail(kInvalidParams, "statement refused: " + err);
    });
  });

  rpc.add_method("service_list", [this](const json::object&) -> json::value {
    const TimeMs now = AsioUdpDriver::now_ms();
    json::array arr;
    for (const auto& id : core_.publisher().services()) {
      json::object o;
      o["service"] = sal::service_id_to_text(id);
      o["host"] = sal::service_host_name(id);
      if (auto exp = core_.publisher().delegation_expires_at(id)) o["delegation_expires_in_s"] = (*exp - now) / 1000;
      arr.push_back(std::move(o));
    }
    return json::object{{"address", config_.flow_listen.to_string()}, {"services", std::move(arr)}};
  });

  rpc.add_method("forward_add", [this](const json::object& p) -> json::value {
    const sal::ServiceId id = need_service(p);
    auto listen = Endpoint::parse(need_string(p, "listen", "IP:PORT to accept connections on"));
    if (!listen) bad_param("\"listen\": expected IP:PORT such as 127.0.0.1:8080");
    sal::ForwardOptions fo;
    fo.listen = *listen;
    fo.service = id;
    fo.metrics = metrics_;
    std::unique_ptr<sal::ForwardListener> f;
    try {
      f = std::make_unique<sal::ForwardListener>(*io_, *host_, fo);
      f->start();
    } catch (const std::exception& e) {
      bad_param(e.what());
    }
    const std::uint64_t fid = next_forward_++;
    const std::string at = f->local_endpoint().to_string();
    forwards_[fid] = std::move(f);
    forward_services_[fid] = id;
    return json::object{{"id", fid}, {"listen", at}, {"service", sal::service_id_to_text(id)}};
  });
  rpc.add_method("forward_list", [this](const json::object&) -> json::value {
    json::array arr;
    for (const auto& [fid, f] : forwards_) {
      const auto st = f->stats();
      arr.push_back(json::object{{"id", fid},
                                 {"listen", f->local_endpoint().to_string()},
                                 {"service", sal::service_id_to_text(forward_services_[fid])},
                                 {"connections", st.accepted},
                                 {"active", st.active}});
    }
    return json::object{{"forwards", std::move(arr)}};
  });
  rpc.add_method("forward_remove", [this](const json::object& p) -> json::value {
    const auto fid = static_cast<std::uint64_t>(optional_int(p, "id", -1, 1, INT64_MAX));
    auto it = forwards_.find(fid);
    if (it == forwards_.end()) bad_param("no forward " + std::to_string(fid) + "; see forward_list");
    it->second->stop();
    forwards_.erase(it);
    forward_services_.erase(fid);
    return json::object{{"removed", fid}};
  });

  rpc.add_method("node_rebind", [this](const json::object& p) -> json::value {
    const std::string ip = need_string(p, "address", "the node's new local IP, e.g. 127.0.0.3");
    if (std::string err = rebind(ip); !err.empty()) throw RpcMethodError(kDhtFailure, "rebind failed: " + err);
    return json::object{{"listen", node_.endpoint().to_string()}, {"flow_listen", config_.flow_listen.to_string()}};
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
    o["socks"] = config_.socks ? json::value(config_.socks->to_string()) : json::value(nullptr);
    o["served"] = core_.publisher().services().size();
    o["forwards"] = forwards_.size();
    if (host_) {
      const auto h = host_->stats();
      o["sessions"] = h.sessions;
      o["sessions_attached"] = h.attached_sessions;
      o["connections"] = h.connections;
      o["dials"] = h.dials;
      o["redials"] = h.redials;
    }
    o["resolver_cache"] = core_.resolver().cache_size();
    o["resolver_watches"] = core_.resolver().watch_count();
    o["rules"] = table_.size();
    return o;
  });
}

}  // namespace bc::apps
