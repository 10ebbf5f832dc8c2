#include "sal/node/sal_module.hpp"

#include <stdexcept>

#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include "layers/asio_endpoint.hpp"
#include "layers/config.hpp"
#include "layers/ids.hpp"
#include "layers/local_addresses.hpp"
#include "routing/record_codec.hpp"
#include "sal/records/delegation.hpp"
#include "sal/records/service_id.hpp"
#include "sal/table/rule_text.hpp"

namespace bc::sal {
namespace json = boost::json;
using node::Params;
using node::Reply;
using node::RpcError;

namespace {
constexpr const char* kServiceExpect = "give a service ID (s... or s....bc)";
constexpr const char* kDelegationExpect =
    "give the delegation certificate in hex, as `blockcloud-cli service delegate` printed it";

ServiceId need_service(const Params& p) {
  auto parsed = parse_service_id(p.string("service", kServiceExpect));
  if (!parsed) p.fail("service", parsed.status().message, kServiceExpect);
  return *parsed;
}

Endpoint need_endpoint(const Params& p, const char* name, const char* expect) {
  const std::string text = p.string(name, expect);
  auto ep = Endpoint::parse(text);
  if (!ep) p.fail(name, "\"" + text + "\" is not IP:PORT", expect);
  return *ep;
}

json::object endpoint_json(const ResolvedEndpoint& e, TimeMs now) {
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

json::object rule_json(const Rule& r) { return json::object{{"id", r.id}, {"rule", format_rule(r)}}; }
}  // namespace

SalModule::SalModule(NodeStack& stack, SalModuleConfig config) : stack_(stack), config_(std::move(config)) {
  for (const auto& line : config_.rules) {
    auto added = add_rule_text(table_, line);
    if (!added) throw std::invalid_argument("service table rule \"" + line + "\": " + added.status().message);
  }
}

SalModule::~SalModule() { stop(); }

void SalModule::start() {
  if (config_.socks) {
    SocksGatewayOptions so;
    so.listen = *config_.socks;
    so.allow_non_loopback = config_.socks_allow_remote;
    so.username = config_.socks_username;
    so.password = config_.socks_password;
    so.metrics = &stack_.metrics();
    socks_ = std::make_unique<SocksGateway>(stack_.io(), stack_.host(), so);
    socks_->start();
    config_.socks = socks_->local_endpoint();
  }
  if (config_.address_check_ms > 0) {
    address_timer_ = std::make_unique<boost::asio::steady_timer>(stack_.io());
    watch_local_address();
  }
}

void SalModule::stop() {
  if (address_timer_) address_timer_->cancel();
  for (auto& [id, f] : forwards_) f->stop();
  for (auto& [id, b] : backends_) b->stop();
  if (socks_) socks_->stop();
}

void SalModule::watch_local_address() {
  address_timer_->expires_after(std::chrono::milliseconds(config_.address_check_ms));
  address_timer_->async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    on_address_check();
    watch_local_address();
  });
}

void SalModule::on_address_check() {
  const Endpoint bound = stack_.dht().endpoint();
  // An unspecified bind follows the host by itself.
  if (to_asio_address(bound).is_unspecified() || is_local_address(bound)) return;
  if (auto to = replacement_address(bound, local_ip_addresses(), config_.fallback_addresses)) {
    spdlog::warn("address {} disappeared from this host: moving to {}", bound.ip_string(), to->ip_string());
    if (Status s = rebind(*to); !s.ok())
      spdlog::warn("moving to {} failed: {}; trying again in {} ms", to->ip_string(), s.message, config_.address_check_ms);
    warned_no_address_ = false;
  } else if (!warned_no_address_) {
    spdlog::warn("address {} disappeared from this host and no other address of its kind is up; flows wait "
                 "detached until one appears (or add one with --address-fallback)",
                 bound.ip_string());
    warned_no_address_ = true;
  }
}

Status SalModule::rebind(const Endpoint& ip) {
  const Endpoint dht_old = stack_.dht().endpoint();
  if (Status s = stack_.rebind(ip); !s.ok()) return s;
  spdlog::info("node moved: udp {} -> {}, flows on {}", dht_old.to_string(), stack_.dht().endpoint().to_string(),
               stack_.flow_endpoint().to_string());
  return Status::success();
}

void SalModule::drop_backend(const ServiceId& id) {
  auto it = backends_.find(id);
  if (it == backends_.end()) return;
  it->second->stop();
  backends_.erase(it);
}

void SalModule::register_rpc(node::RpcRegistry& rpc) {
  register_services(rpc);
  register_forwards(rpc);
  register_node(rpc);
}

void SalModule::register_services(node::RpcRegistry& rpc) {
  rpc.add_async("resolve", [this](const Params& p, Reply r) { resolve(p, r); });
  rpc.add_async("service_serve", [this](const Params& p, Reply r) { serve(p, r); });
  rpc.add_async("service_stop", [this](const Params& p, Reply r) { stop_serving(p, r); });
  rpc.add_async("service_revoke", [this](const Params& p, Reply r) { revoke(p, r); });
  rpc.add("service_list", [this](const Params&) -> json::value {
    const TimeMs now = AsioUdpDriver::now_ms();
    auto& publisher = stack_.core().publisher();
    json::array arr;
    for (const auto& id : publisher.services()) {
      json::object o;
      o["service"] = service_id_to_text(id);
      o["host"] = service_host_name(id);
      if (auto exp = publisher.delegation_expires_at(id)) o["delegation_expires_in_s"] = (*exp - now) / 1000;
      arr.push_back(std::move(o));
    }
    return json::object{{"address", stack_.flow_endpoint().to_string()}, {"services", std::move(arr)}};
  });
}

void SalModule::resolve(const Params& p, const Reply& reply) {
  const ServiceId id = need_service(p);
  stack_.driver().call([&](TimeMs now, Outbox& out) {
    stack_.core().resolver().resolve(id, now, out, [reply](const Resolution& r) {
      if (!r.ok()) return reply.fail(node::kOperationFailed, "resolve failed: " + r.status.message);
      const TimeMs now = AsioUdpDriver::now_ms();
      json::array eps;
      for (const auto& e : r.endpoints) eps.push_back(endpoint_json(e, now));
      json::object o;
      o["service"] = service_id_to_text(r.service);
      o["host"] = service_host_name(r.service);
      o["found"] = r.endpoints.size();
      o["from_cache"] = r.from_cache;
      o["endpoints"] = std::move(eps);
      reply.ok(std::move(o));
    });
  });
}

// Flows for the service go to the backend; without one they are refused.
// The serving itself (checks, listen, publish, rollback) is NodeStack::serve.
void SalModule::serve(const Params& p, const Reply& reply) {
  const Bytes delegation = p.hex("delegation", kDelegationExpect);
  Result<Delegation> d = decode_delegation(delegation);
  if (!d) p.fail("delegation", "not a valid certificate: " + d.status().message, kDelegationExpect);
  const ServiceId id = d->service();
  if (p.has("service") && need_service(p) != id)
    p.fail("service", "the delegation is for service " + service_id_to_text(id) + ", not this one",
           "give the delegation's service or leave service out");
  const auto weight = p.opt_u64("weight", "give a weight from 0 to 65535", 0, 65535).value_or(1);
  const auto ttl_s = p.opt_u64("ttl_s", "give a record TTL in seconds, at most a day", 0, 24 * 3600).value_or(0);
  std::optional<Endpoint> backend;
  if (p.has("backend")) backend = need_endpoint(p, "backend", "give the local server's IP:PORT, e.g. 127.0.0.1:8000");
  drop_backend(id);
  AcceptHandler on_accept;
  BackendConnector* conn = nullptr;
  if (backend) {
    BackendOptions bo;
    bo.backend = *backend;
    bo.metrics = &stack_.metrics();
    conn = (backends_[id] = std::make_unique<BackendConnector>(stack_.io(), bo)).get();
    on_accept = [conn](std::unique_ptr<ByteStream> flow, const XOnlyPubKey&) { conn->serve(std::move(flow)); };
  }
  const ServeOptions opts{static_cast<std::uint16_t>(weight), static_cast<TimeMs>(ttl_s) * 1000};
  auto served = stack_.serve(delegation, std::move(on_accept), opts, [this, reply, id, conn](const routing::PutResult& r) {
    if (!r.ok()) {
      // The stack rolled this serve back: its backend goes too (unless a later serve replaced it).
      if (auto it = backends_.find(id); conn && it != backends_.end() && it->second.get() == conn) drop_backend(id);
      return reply.fail(node::kOperationFailed, "serve failed: " + r.status.message);
    }
    json::object o;
    o["service"] = service_id_to_text(id);
    o["host"] = service_host_name(id);
    o["address"] = stack_.flow_endpoint().to_string();
    o["stored"] = r.stored;
    o["backend"] = backends_.count(id) ? "yes" : "none";
    reply.ok(std::move(o));
  });
  if (!served) {
    drop_backend(id);
    p.fail("delegation", served.status().message, kDelegationExpect);
  }
}

void SalModule::stop_serving(const Params& p, const Reply& reply) {
  const ServiceId id = need_service(p);
  if (!stack_.serving(id))
    p.fail("service", "this node does not serve " + service_id_to_text(id), "see service_list");
  drop_backend(id);
  stack_.stop_serving(id, [reply, id](const routing::PutResult& r) {
    if (!r.ok()) return reply.fail(node::kOperationFailed, "withdrawal not stored: " + r.status.message);
    reply.ok(json::object{{"service", service_id_to_text(id)}, {"withdrawn", true}});
  });
}

void SalModule::revoke(const Params& p, const Reply& reply) {
  constexpr const char* kExpect = "give the owner statement record in hex, as `blockcloud-cli service revoke` built it";
  const Bytes bytes = p.hex("record", kExpect);
  routing::RecordDecodeError why{};
  auto rec = routing::decode_record(bytes, &why);
  if (!rec) p.fail("record", std::string("does not decode: ") + routing::to_string(why), kExpect);
  stack_.driver().call([&](TimeMs now, Outbox& out) {
    const ServiceId id = rec->key;
    Status st = stack_.core().publisher().keep_signed_statement(
        *rec, now, out, [reply, id](const routing::PutResult& r) {
          if (!r.ok()) return reply.fail(node::kOperationFailed, "statement not stored: " + r.status.message);
          reply.ok(json::object{{"service", service_id_to_text(id)}, {"stored", r.stored}});
        });
    if (!st.ok())
      reply.fail(node::kInvalidParams, node::invalid_params_text("record", "statement refused: " + st.message, kExpect));
  });
}

void SalModule::register_forwards(node::RpcRegistry& rpc) {
  rpc.add("forward_add", [this](const Params& p) { return forward_add(p); });
  rpc.add("forward_list", [this](const Params&) { return forward_list(); });
  rpc.add("forward_remove", [this](const Params& p) -> json::value {
    const auto fid = p.u64("id", "give a forward id from forward_list", 1);
    auto it = forwards_.find(fid);
    if (it == forwards_.end()) p.fail("id", "no forward " + std::to_string(fid), "see forward_list");
    it->second->stop();
    forwards_.erase(it);
    forward_services_.erase(fid);
    return json::object{{"removed", fid}};
  });
}

json::value SalModule::forward_add(const Params& p) {
  const ServiceId id = need_service(p);
  ForwardOptions fo;
  fo.listen = need_endpoint(p, "listen", "give IP:PORT to accept connections on, e.g. 127.0.0.1:8080");
  // Anyone who reaches a forward opens flows as this node: off loopback only
  // when the operator said so at start-up.
  if (!config_.forward_allow_remote && !is_loopback(fo.listen))
    p.fail("listen", fo.listen.to_string() + " is not a loopback address",
           "use 127.0.0.1 (or another 127.x address), or start blockcloudd with --forward-allow-remote");
  fo.service = id;
  fo.metrics = &stack_.metrics();
  std::unique_ptr<ForwardListener> f;
  try {
    f = std::make_unique<ForwardListener>(stack_.io(), stack_.host(), fo);
    f->start();
  } catch (const std::exception& e) {
    p.fail("listen", e.what(), "choose a free local address");
  }
  const std::uint64_t fid = next_forward_++;
  const std::string at = f->local_endpoint().to_string();
  forwards_[fid] = std::move(f);
  forward_services_[fid] = id;
  return json::object{{"id", fid}, {"listen", at}, {"service", service_id_to_text(id)}};
}

json::value SalModule::forward_list() const {
  json::array arr;
  for (const auto& [fid, f] : forwards_) {
    const auto st = f->stats();
    arr.push_back(json::object{{"id", fid},
                               {"listen", f->local_endpoint().to_string()},
                               {"service", service_id_to_text(forward_services_.at(fid))},
                               {"connections", st.accepted},
                               {"active", st.active}});
  }
  return json::object{{"forwards", std::move(arr)}};
}

void SalModule::register_node(node::RpcRegistry& rpc) {
  rpc.add("node_rebind", [this](const Params& p) -> json::value {
    constexpr const char* kExpect = "give the node's new local IP, e.g. 127.0.0.3";
    const std::string text = p.string("address", kExpect);
    auto ip = Endpoint::parse_ip(text, 0);
    if (!ip) p.fail("address", "\"" + text + "\" is not an IP address", kExpect);
    if (Status s = rebind(*ip); !s.ok()) throw RpcError(node::kOperationFailed, "rebind failed: " + s.message);
    return json::object{{"listen", stack_.dht().endpoint().to_string()},
                        {"flow_listen", stack_.flow_endpoint().to_string()}};
  });
  rpc.add("rules_add", [this](const Params& p) -> json::value {
    const std::string line = p.string("rule", std::string("give a rule: ") + kRuleSyntax);
    auto added = add_rule_text(table_, line);
    if (!added) p.fail("rule", added.status().message, std::string("give a rule: ") + kRuleSyntax);
    return rule_json(*table_.get(*added));  // just added: present
  });
  rpc.add("rules_list", [this](const Params&) -> json::value {
    json::array arr;
    for (const auto& r : table_.list()) arr.push_back(rule_json(r));
    return json::object{{"rules", std::move(arr)}, {"default", format_rule(table_.default_rule())}};
  });
  rpc.add("rules_remove", [this](const Params& p) -> json::value {
    const auto id = p.u64("id", "give a rule id from rules_list", 1);
    if (!table_.remove(static_cast<RuleId>(id))) p.fail("id", "no rule " + std::to_string(id), "see rules_list");
    return json::object{{"removed", id}};
  });
  rpc.add("sal_status", [this](const Params&) { return status(); });
}

json::value SalModule::status() const {
  json::object o;
  o["flow_listen"] = stack_.flow_endpoint().to_string();
  o["socks"] = config_.socks ? json::value(config_.socks->to_string()) : json::value(nullptr);
  o["served"] = stack_.core().publisher().services().size();
  o["forwards"] = forwards_.size();
  const auto h = stack_.host().stats();
  o["sessions"] = h.sessions;
  o["sessions_attached"] = h.attached_sessions;
  o["connections"] = h.connections;
  o["dials"] = h.dials;
  o["redials"] = h.redials;
  o["resolver_cache"] = stack_.core().resolver().cache_size();
  o["resolver_watches"] = stack_.core().resolver().watch_count();
  o["rules"] = table_.size();
  return o;
}

}  // namespace bc::sal
