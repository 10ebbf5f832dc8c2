// sal::Host: connecting to a service ID: resolve, pick an endpoint, reuse or
// dial a session, open a flow, fail over (docs/sal-host.md, "Connecting").
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>

#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

#include "layers/asio_endpoint.hpp"
#include "layers/assert.hpp"
#include "sal/host/detail/host_internal.hpp"

namespace bc::sal {

void HostImpl::connect(const ServiceId& service, ConnectHandler handler) {
  auto op = std::make_shared<ConnectOp>();
  op->service = service;
  op->handler = std::move(handler);
  if (stopped) {
    op->done = true;
    asio::post(io, [op] { op->handler(make_error_code(HostError::kStopped), nullptr); });
    return;
  }
  if (ops.size() >= cfg.limits.max_pending_connects) {
    op->done = true;
    asio::post(io, [op] { op->handler(make_error_code(HostError::kTooManyConnects), nullptr); });
    return;
  }
  ops.insert(op);
  std::weak_ptr<HostImpl> weak = shared_from_this();
  hooks.resolve(service, now(), [weak, op](std::vector<Candidate> cands) {
    auto self = weak.lock();
    if (!self || op->done) return;
    op->attempts = self->picker.order(cands, now(), self->rng);
    op->last_error = make_error_code(cands.empty() ? HostError::kNoProviders : HostError::kUnreachable);
    self->try_next(op);
  });
}

void HostImpl::try_next(const std::shared_ptr<ConnectOp>& op) {
  if (op->done) return;
  if (stopped) {
    finish(op, make_error_code(HostError::kStopped), nullptr);
    return;
  }
  if (op->next >= op->attempts.size()) {
    // (An empty answer stays negatively cached: no fresh lookup per connect.)
    if (!op->refreshed && !op->tried.empty() && hooks.resolve_fresh) {
      resolve_again(op);
      return;
    }
    finish(op, op->last_error ? op->last_error : make_error_code(HostError::kUnreachable), nullptr);
    return;
  }
  const Attempt a = op->attempts[op->next++];
  op->tried.push_back(a.endpoint);
  if (!a.provider.is_zero()) {
    if (auto p = find_peer(a.provider); p && p->conn && p->session) {
      open_on(p, op);  // cached connect: one OPEN round trip
      return;
    }
  }
  std::optional<NodeId> pin;
  if (!a.provider.is_zero()) pin = a.provider;
  dial(a.endpoint, pin, op->service, [self = shared_from_this(), op, ep = a.endpoint](const error_code& ec, std::shared_ptr<Peer> p) {
    if (op->done) return;
    if (ec) {
      if (ec != asio::error::operation_aborted) self->picker.mark_failed(ep, now());
      if (op->last_error.category() != sal_error_category() ||
          op->last_error == make_error_code(HostError::kUnreachable))
        op->last_error = make_error_code(HostError::kUnreachable);
      self->try_next(op);
      return;
    }
    self->open_on(p, op);
  });
}

void HostImpl::resolve_again(const std::shared_ptr<ConnectOp>& op) {
  // Every endpoint of the answer failed: it may be a stale copy of a provider
  // that moved, so ask once more past caches and try only what is new.
  op->refreshed = true;
  std::weak_ptr<HostImpl> weak = shared_from_this();
  hooks.resolve_fresh(op->service, now(), [weak, op](std::vector<Candidate> cands) {
    auto self = weak.lock();
    if (!self || op->done) return;
    auto attempts = self->picker.order(cands, now(), self->rng);
    std::erase_if(attempts, [&](const Attempt& a) {
      return std::find(op->tried.begin(), op->tried.end(), a.endpoint) != op->tried.end();
    });
    op->attempts = std::move(attempts);
    op->next = 0;
    self->try_next(op);
  });
}

void HostImpl::open_on(const std::shared_ptr<Peer>& p, const std::shared_ptr<ConnectOp>& op) {
  auto r = p->session->open_flow(now(), op->service);
  if (!r) {
    op->last_error = make_error_code(Reason::kFlowLimit);
    try_next(op);
    return;
  }
  p->last_service = op->service;
  p->opening[*r] = op;
  pump(p);
}

void HostImpl::finish(const std::shared_ptr<ConnectOp>& op, const error_code& ec,
                      std::unique_ptr<ByteStream> stream) {
  if (op->done) return;
  op->done = true;
  ops.erase(op);
  (ec ? m.connects_failed : m.connects_ok).inc();
  auto holder = std::make_shared<std::unique_ptr<ByteStream>>(std::move(stream));
  asio::post(io, [op, ec, holder] { op->handler(ec, std::move(*holder)); });
}

}  // namespace bc::sal
