#include "sal/node/app_node.hpp"

#include <stdexcept>

#include <boost/asio/steady_timer.hpp>

#include "sal/records/delegation.hpp"

namespace bc::sal {

AppNode::AppNode(boost::asio::io_context& io, KeyPair key, AppNodeConfig config, metrics::Registry* metrics)
    : io_(io),
      key_(key),
      cfg_(std::move(config)),
      own_metrics_(metrics ? nullptr : std::make_unique<metrics::Registry>()),
      metrics_(metrics ? *metrics : *own_metrics_),
      dht_(key, cfg_.dht_listen, cfg_.dht, random_u64(), metrics_),
      core_(dht_, key.public_key(), metrics_) {}

AppNode::~AppNode() { stop(); }

void AppNode::start() {
  if (driver_) return;
  driver_ = std::make_unique<AsioUdpDriver>(io_, core_, cfg_.dht_listen);
  HostHooks hooks = host_hooks(*driver_, core_);
  hooks.proof_for = [this](const ServiceId& id) -> std::optional<Bytes> {
    auto it = provided_.find(id);
    if (it == provided_.end()) return std::nullopt;
    return it->second;
  };
  host_ = std::make_unique<Host>(io_, key_, cfg_.flow_listen, cfg_.host, std::move(hooks), metrics_);
  host_->start();
  driver_->start();
  driver_->call([&](TimeMs now, Outbox& out) {
    // The socket may have picked its port (port 0): the node signs that one.
    if (driver_->local_endpoint() != dht_.endpoint()) dht_.set_endpoint(driver_->local_endpoint(), now, out);
    if (!cfg_.bootstrap.empty()) dht_.bootstrap(cfg_.bootstrap, now, out);
  });
}

void AppNode::stop() {
  if (host_) host_->stop();
  if (driver_) driver_->stop();
}

std::size_t AppNode::contacts() const {
  const auto st = dht_.status();
  return st.contacts[0] + st.contacts[1] + st.contacts[2];
}

void AppNode::when_joined(TimeMs timeout_ms, std::function<void(bool)> done) {
  auto timer = std::make_shared<boost::asio::steady_timer>(io_);
  const TimeMs deadline = AsioUdpDriver::now_ms() + timeout_ms;
  auto poll = std::make_shared<std::function<void()>>();
  *poll = [this, alive = std::weak_ptr<bool>(alive_), timer, deadline, done = std::move(done),
           weak = std::weak_ptr<std::function<void()>>(poll)] {
    if (alive.expired()) return;  // the node is gone: nobody to tell
    if (contacts() > 0 || AsioUdpDriver::now_ms() >= deadline) {
      done(contacts() > 0);
      return;
    }
    // The pending handler holds the only strong reference between polls.
    timer->expires_after(std::chrono::milliseconds(20));
    timer->async_wait([p = weak.lock()](const boost::system::error_code& ec) {
      if (!ec) (*p)();
    });
  };
  (*poll)();
}

void AppNode::async_connect(const ServiceId& service, ConnectHandler handler) {
  host().async_connect(service, std::move(handler));
}

std::string AppNode::provide(const Bytes& delegation, AcceptHandler on_accept, std::uint16_t weight) {
  const char* why = nullptr;
  auto d = decode_delegation(delegation, &why);
  if (!d) return std::string("the delegation does not decode: ") + (why ? why : "malformed");
  const ServiceId service = d->service();
  if (auto e = check_delegation_for(*d, service, key_.public_key(), AsioUdpDriver::now_ms());
      e != DelegationError::kNone)
    return std::string("the delegation cannot be used by this node: ") + to_string(e);
  provided_[service] = delegation;
  host().unlisten(service);
  host().listen(service, std::move(on_accept));
  driver_->call([&](TimeMs now, Outbox& out) {
    core_.publisher().serve(*d, {host().local_endpoint()}, weight, 0, now, out, nullptr);
  });
  return "";
}

void AppNode::stop_providing(const ServiceId& service) {
  if (!provided_.erase(service)) return;
  host().unlisten(service);
  driver_->call([&](TimeMs now, Outbox& out) {
    core_.publisher().stop(service, now, out, nullptr);
  });
}

std::string AppNode::rebind(const Endpoint& ip) {
  if (!driver_) return "call start() first";
  return move_node(*driver_, *host_, core_, ip);
}

const NodeId& AppNode::node_id() const { return dht_.id(); }
XOnlyPubKey AppNode::node_key() const { return key_.public_key(); }
Endpoint AppNode::dht_endpoint() const { return driver_ ? driver_->local_endpoint() : dht_.endpoint(); }
Endpoint AppNode::flow_endpoint() const { return host_ ? host_->local_endpoint() : cfg_.flow_listen; }

Host& AppNode::host() {
  if (!host_) throw std::logic_error("sal::AppNode: call start() first");
  return *host_;
}

}  // namespace bc::sal
