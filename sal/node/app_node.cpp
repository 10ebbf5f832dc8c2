#include "sal/node/app_node.hpp"

#include <stdexcept>

#include <boost/asio/steady_timer.hpp>

namespace bc::sal {

AppNode::AppNode(boost::asio::io_context& io, KeyPair key, AppNodeConfig config, metrics::Registry* metrics)
    : io_(io),
      key_(key),
      id_(node_id_of(key.public_key())),
      cfg_(std::move(config)),
      own_metrics_(metrics ? nullptr : std::make_unique<metrics::Registry>()),
      metrics_(metrics ? *metrics : *own_metrics_) {}

AppNode::~AppNode() { stop(); }

void AppNode::start() {
  if (stack_) return;
  NodeStackConfig sc;
  sc.dht_listen = cfg_.dht_listen;
  sc.flow_listen = cfg_.flow_listen;
  sc.bootstrap = cfg_.bootstrap;
  sc.dht = cfg_.dht;
  sc.host = cfg_.host;
  stack_ = std::make_unique<NodeStack>(io_, key_, std::move(sc), metrics_);
  stack_->start();
}

void AppNode::stop() {
  if (stack_) stack_->stop();
}

std::size_t AppNode::contacts() const {
  if (!stack_) return 0;
  const auto st = stack_->dht().status();
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

Status AppNode::provide(const Bytes& delegation, AcceptHandler on_accept, std::uint16_t weight) {
  if (!on_accept) return fail(bc::Errc::kInvalidArgument, "give an accept handler (flows of a provided service go to the app)");
  auto served = stack().serve(delegation, std::move(on_accept), ServeOptions{.weight = weight}, nullptr);
  return served ? Status::success() : std::move(served).take_status();
}

void AppNode::stop_providing(const ServiceId& service) {
  if (!stack_ || !stack_->serving(service)) return;
  stack_->stop_serving(service, nullptr);
}

Status AppNode::rebind(const Endpoint& ip) {
  if (!stack_) return fail(bc::Errc::kFailedPrecondition, "call start() first");
  return stack_->rebind(ip);
}

const NodeId& AppNode::node_id() const { return id_; }
XOnlyPubKey AppNode::node_key() const { return key_.public_key(); }
Endpoint AppNode::dht_endpoint() const {
  return stack_ ? stack_->driver().local_endpoint() : cfg_.dht_listen;
}
Endpoint AppNode::flow_endpoint() const { return stack_ ? stack_->flow_endpoint() : cfg_.flow_listen; }

Host& AppNode::host() { return stack().host(); }

NodeStack& AppNode::stack() {
  if (!stack_) throw std::logic_error("sal::AppNode: call start() first");
  return *stack_;
}

}  // namespace bc::sal
