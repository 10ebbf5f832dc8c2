#include "sal/gateways/gateways.hpp"

#include <array>
#include <string>

#include "sal/gateways/detail/gateway_core.hpp"
#include "sal/host/splice.hpp"
#include "sal/host/tcp_stream.hpp"

namespace bc::sal {

using namespace gateway_detail;

// --------------------------------------------------------------- forward

struct ForwardListener::Impl : GatewayCore {
  Impl(asio::io_context& io, ServiceConnector& c, ForwardOptions o)
      : GatewayCore(io, o.metrics, "forward", o.max_connections), connector(c), options(o) {}
  void on_accepted(tcp::socket socket) override;
  ServiceConnector& connector;
  ForwardOptions options;
};

namespace {

// A connection whose other side is being opened; then a splice. Used by
// `forward` (TCP client -> service flow) and by backends (flow -> TCP).
class SpliceConn final : public Conn, public std::enable_shared_from_this<SpliceConn> {
 public:
  SpliceConn(std::shared_ptr<GatewayCore> gw, std::unique_ptr<ByteStream> first,
             std::chrono::milliseconds timeout, std::size_t buffer_bytes)
      : gw_(std::move(gw)), first_(std::move(first)), timer_(gw_->io), timeout_(timeout),
        buffer_bytes_(buffer_bytes) {}

  // Call with a function that starts the connect and calls back connected().
  void begin(std::uint64_t id) {
    id_ = id;
    timer_.expires_after(timeout_);
    timer_.async_wait([self = shared_from_this()](const error_code& ec) {
      if (!ec) self->connected(asio::error::timed_out, nullptr);
    });
  }

  void connected(const error_code& ec, std::unique_ptr<ByteStream> second) {
    if (closed_ || splice_ || connect_done_) {
      if (second) second->close();
      return;
    }
    connect_done_ = true;
    timer_.cancel();
    if (ec || !second) {
      gw_->count_connect_failed();
      return end();
    }
    gw_->count_connected();
    splice_ = Splice::start(
        std::move(first_), std::move(second),
        [self = shared_from_this()](const SpliceResult& r) {
          self->gw_->count_bytes(r);
          self->closed_ = true;
          self->gw_->remove(self->id_);
        },
        SpliceOptions{buffer_bytes_});
  }

  void abort() override {
    if (closed_) return;
    closed_ = true;
    timer_.cancel();
    if (first_) first_->close();
    if (splice_) splice_->stop();
  }

 private:
  void end() {
    if (closed_) return;
    closed_ = true;
    if (first_) first_->close();
    gw_->remove(id_);
  }

  std::shared_ptr<GatewayCore> gw_;
  std::uint64_t id_ = 0;
  std::unique_ptr<ByteStream> first_;
  std::shared_ptr<Splice> splice_;
  asio::steady_timer timer_;
  std::chrono::milliseconds timeout_;
  std::size_t buffer_bytes_;
  bool connect_done_ = false;
  bool closed_ = false;
};

}  // namespace

void ForwardListener::Impl::on_accepted(tcp::socket socket) {
  if (at_capacity()) {
    count_rejected("capacity");
    error_code ec;
    socket.close(ec);
    return;
  }
  auto c = std::make_shared<SpliceConn>(shared_from_this(),
                                        std::make_unique<TcpStream>(std::move(socket)),
                                        options.connect_timeout, options.splice_buffer_bytes);
  c->begin(add(c));
  connector.async_connect(options.service,
                          [c](const error_code& ec, std::unique_ptr<ByteStream> flow) {
                            c->connected(ec, std::move(flow));
                          });
}

ForwardListener::ForwardListener(asio::io_context& io, ServiceConnector& connector,
                                 ForwardOptions options)
    : impl_(std::make_shared<Impl>(io, connector, options)) {
  impl_->listen(options.listen);
}
ForwardListener::~ForwardListener() { stop(); }
void ForwardListener::start() { impl_->accept_loop(); }
void ForwardListener::stop() { impl_->stop(); }
Endpoint ForwardListener::local_endpoint() const { return impl_->local_endpoint(); }
GatewayStats ForwardListener::stats() const { return impl_->stats; }

// --------------------------------------------------------------- backend

struct BackendConnector::Impl : GatewayCore {
  Impl(asio::io_context& io, BackendOptions o)
      : GatewayCore(io, o.metrics, "backend", o.max_connections), options(o) {}
  void on_accepted(tcp::socket) override {}  // does not listen
  BackendOptions options;
};

BackendConnector::BackendConnector(asio::io_context& io, BackendOptions options)
    : impl_(std::make_shared<Impl>(io, options)) {}
BackendConnector::~BackendConnector() { stop(); }

void BackendConnector::serve(std::unique_ptr<ByteStream> flow) {
  if (!flow) return;
  if (impl_->stopped || impl_->at_capacity()) {
    impl_->count_rejected(impl_->stopped ? "stopped" : "capacity");
    flow->close();
    return;
  }
  auto c = std::make_shared<SpliceConn>(impl_, std::move(flow), impl_->options.connect_timeout,
                                        impl_->options.splice_buffer_bytes);
  c->begin(impl_->add(c));
  // The connect has its own timeout too; SpliceConn reports whichever comes first.
  TcpStream::async_connect(impl_->io, impl_->options.backend, impl_->options.local_bind,
                           impl_->options.connect_timeout,
                           [c](const error_code& ec, std::unique_ptr<TcpStream> s) {
                             c->connected(ec, std::move(s));
                           });
}

void BackendConnector::stop() { impl_->stop(); }
GatewayStats BackendConnector::stats() const { return impl_->stats; }

}  // namespace bc::sal
