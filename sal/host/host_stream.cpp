// FlowStream: one SAL flow as a ByteStream (sal/host/stream.hpp), driven by the
// session's events through sal::Host (docs/sal-host.md).
#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>

#include "sal/host/detail/host_internal.hpp"

namespace bc::sal {

FlowStream::FlowStream(std::shared_ptr<HostImpl> host, std::shared_ptr<Peer> peer, FlowId flow)
    : host_(std::move(host)), peer_(std::move(peer)), flow_(flow) {}

FlowStream::~FlowStream() { close(); }

Session* FlowStream::session() const {
  if (gone_ || !peer_->session) return nullptr;
  return peer_->session.get();
}

void FlowStream::complete(Handler& h, const error_code& ec, std::size_t n) {
  // Never inline: the app may call back into the stream from its handler.
  asio::post(host_->io, [h = std::move(h), ec, n] { h(ec, n); });
  h = nullptr;
}

void FlowStream::pump() {
  if (!gone_ && peer_->session) host_->pump(peer_);
}

void FlowStream::async_read_some(std::span<std::uint8_t> buf, Handler handler) {
  if (closed_) {
    complete(handler, asio::error::operation_aborted, 0);
    return;
  }
  if (rh_) {
    complete(handler, asio::error::in_progress, 0);  // one read at a time (sal/host/stream.hpp)
    return;
  }
  rbuf_ = buf;
  rh_ = std::move(handler);
  if (try_read()) pump();
}

bool FlowStream::try_read() {
  if (!rh_) return false;
  if (rbuf_.empty()) {
    complete(rh_, {}, 0);
    return false;
  }
  if (Session* s = session()) {
    const std::size_t n = s->read(HostImpl::now(), flow_, rbuf_);
    if (n > 0) {
      complete(rh_, {}, n);
      return true;
    }
    if (s->at_eof(flow_)) complete(rh_, asio::error::eof, 0);
    return false;
  }
  if (gone_clean_) complete(rh_, asio::error::eof, 0);
  else complete(rh_, gone_ec_ ? gone_ec_ : make_error_code(HostError::kStopped), 0);
  return false;
}

void FlowStream::async_write(ByteView data, Handler handler) {
  if (closed_) {
    complete(handler, asio::error::operation_aborted, 0);
    return;
  }
  if (wh_) {
    complete(handler, asio::error::in_progress, 0);
    return;
  }
  if (shut_ || shutdown_pending_) {
    complete(handler, asio::error::broken_pipe, 0);
    return;
  }
  wdata_ = data;
  woff_ = 0;
  wh_ = std::move(handler);
  if (try_write()) pump();
}

bool FlowStream::try_write() {
  if (!wh_) return false;
  Session* s = session();
  if (!s) {
    complete(wh_, gone_clean_ ? error_code(asio::error::broken_pipe)
                              : (gone_ec_ ? gone_ec_ : make_error_code(HostError::kStopped)),
             woff_);
    return false;
  }
  const std::size_t n = woff_ < wdata_.size() ? s->write(HostImpl::now(), flow_, wdata_.subspan(woff_)) : 0;
  woff_ += n;
  if (woff_ == wdata_.size()) {
    complete(wh_, {}, woff_);
    if (shutdown_pending_) {
      shutdown_pending_ = false;
      shut_ = true;
      s->shutdown(HostImpl::now(), flow_);
    }
    return true;
  }
  return n > 0;
}

void FlowStream::shutdown_send() {
  if (closed_ || shut_ || shutdown_pending_) return;
  if (wh_) {
    shutdown_pending_ = true;  // FIN after the write in progress
    return;
  }
  shut_ = true;
  if (Session* s = session()) {
    s->shutdown(HostImpl::now(), flow_);
    pump();
  }
}

void FlowStream::close() {
  if (closed_) return;
  closed_ = true;
  if (rh_) complete(rh_, asio::error::operation_aborted, 0);
  if (wh_) complete(wh_, asio::error::operation_aborted, woff_);
  if (Session* s = session()) {
    // Graceful for what was already written (the peer still gets it and a
    // FIN); whatever arrives from now on is discarded.
    peer_->streams.erase(flow_);
    s->close(HostImpl::now(), flow_);
    pump();
  }
}

void FlowStream::on_readable() {
  if (!closed_) try_read();
}

void FlowStream::on_writable() {
  if (!closed_) try_write();
}

void FlowStream::on_gone(const error_code& ec, bool clean) {
  gone_ = true;
  gone_clean_ = clean;
  gone_ec_ = ec;
  if (closed_) return;
  try_read();
  try_write();
}

}  // namespace bc::sal
