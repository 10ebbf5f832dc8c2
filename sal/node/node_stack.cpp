#include "sal/node/node_stack.hpp"

#include <stdexcept>

#include "layers/assert.hpp"
#include "sal/errc.hpp"
#include "sal/records/delegation.hpp"

namespace bc::sal {

namespace {
// The flow listener's address: given, or the DHT's bound IP one port up.
Endpoint flow_listen_for(const NodeStackConfig& cfg, const AsioUdpDriver& driver) {
  if (cfg.flow_listen) return *cfg.flow_listen;
  Endpoint ep = driver.local_endpoint();
  if (ep.port == 65535)
    throw std::runtime_error("--listen port 65535 leaves no port for flows (listen port + 1); choose a lower port");
  ep.port = static_cast<std::uint16_t>(ep.port + 1);
  return ep;
}
}  // namespace

NodeStack::NodeStack(boost::asio::io_context& io, const KeyPair& key, NodeStackConfig config,
                     metrics::Registry& metrics)
    : io_(io),
      key_(key),
      cfg_(std::move(config)),
      metrics_(metrics),
      dht_(key_, cfg_.dht_listen, cfg_.dht, random_u64(), metrics_),
      core_(dht_, key_.public_key(), metrics_),
      driver_(io_, core_, cfg_.dht_listen,
              {.max_datagram_bytes = cfg_.dht.max_datagram_bytes, .metrics = &metrics_}) {
  HostHooks hooks = host_hooks(driver_, core_);
  hooks.proof_for = [this](const ServiceId& id) -> std::optional<Bytes> {
    auto it = served_.find(id);
    if (it == served_.end() || !it->second.accepting) return std::nullopt;
    return it->second.delegation;
  };
  hooks.log = cfg_.log;
  hooks.accept_flow = cfg_.accept_flow;
  host_ = std::make_unique<Host>(io_, key_, flow_listen_for(cfg_, driver_), cfg_.host, std::move(hooks), metrics_);
}

NodeStack::~NodeStack() {
  *alive_ = false;
  stop();
}

void NodeStack::start() {
  BC_ASSERT(!started_);
  started_ = true;
  host_->start();
  driver_.start();
  driver_.call([&](TimeMs now, Outbox& out) {
    // The socket may have picked its port (port 0): the node signs that one.
    if (driver_.local_endpoint() != dht_.endpoint()) dht_.set_endpoint(driver_.local_endpoint(), now, out);
    if (!cfg_.bootstrap.empty()) dht_.bootstrap(cfg_.bootstrap, now, out);
  });
}

void NodeStack::stop() {
  host_->stop();
  driver_.stop();
}

Result<ServiceId> NodeStack::serve(const Bytes& delegation, AcceptHandler on_accept, ServeOptions options,
                                   Publisher::Done done) {
  Result<Delegation> d = decode_delegation(delegation);
  if (!d) return fail(make_error_code(Errc::kMalformedRecord), "the delegation does not decode: " + d.status().message);
  const ServiceId service = d->service();
  if (auto e = check_delegation_for(*d, service, key_.public_key(), AsioUdpDriver::now_ms());
      e != DelegationError::kNone)
    return fail(make_error_code(bc::Errc::kPermissionDenied),
                std::string("the delegation cannot be used by this node: ") + to_string(e));
  const std::uint64_t generation = next_generation_++;
  served_[service] = Served{delegation, on_accept != nullptr, generation};
  host_->unlisten(service);
  if (on_accept) host_->listen(service, std::move(on_accept));
  driver_.call([&](TimeMs now, Outbox& out) {
    core_.publisher().serve(*d, {host_->local_endpoint()}, options.weight, options.ttl_ms, now, out,
                            [this, alive = std::weak_ptr<bool>(alive_), service, generation,
                             done = std::move(done)](const routing::PutResult& r) {
                              if (!r.ok() && !alive.expired()) roll_back(service, generation);
                              if (done) done(r);
                            });
  });
  return service;
}

void NodeStack::roll_back(const ServiceId& service, std::uint64_t generation) {
  auto it = served_.find(service);
  if (it == served_.end() || it->second.generation != generation) return;  // replaced or stopped since
  served_.erase(it);
  host_->unlisten(service);
  // Stops republishing (the withdrawal may not be stored either; it expires).
  // Posted: this may run inside the publisher's own serve().
  driver_.post([this, alive = std::weak_ptr<bool>(alive_), service](TimeMs now, Outbox& out) {
    if (alive.expired() || served_.count(service) || !core_.publisher().serving(service)) return;
    core_.publisher().stop(service, now, out, nullptr);
  });
}

void NodeStack::stop_serving(const ServiceId& service, Publisher::Done done) {
  served_.erase(service);
  host_->unlisten(service);
  driver_.call([&](TimeMs now, Outbox& out) { core_.publisher().stop(service, now, out, std::move(done)); });
}

Status NodeStack::rebind(const Endpoint& ip) { return move_node(driver_, *host_, core_, ip); }

}  // namespace bc::sal
