#include "sal/host/tcp_stream.hpp"

#include <algorithm>

#include <boost/asio/buffer.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

namespace bc::sal {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

TcpStream::TcpStream(tcp::socket socket) : socket_(std::move(socket)) {
  boost::system::error_code ec;
  socket_.set_option(tcp::no_delay(true), ec);  // best effort
}

TcpStream::~TcpStream() { close(); }

void TcpStream::async_read_some(std::span<std::uint8_t> buf, Handler handler) {
  socket_.async_read_some(asio::buffer(buf.data(), buf.size()), std::move(handler));
}

void TcpStream::async_write(ByteView data, Handler handler) {
  asio::async_write(socket_, asio::buffer(data.data(), data.size()), std::move(handler));
}

void TcpStream::shutdown_send() {
  boost::system::error_code ec;
  socket_.shutdown(tcp::socket::shutdown_send, ec);  // a dead socket has nothing to shut
}

void TcpStream::close() {
  boost::system::error_code ec;
  if (socket_.is_open()) socket_.close(ec);
}

namespace {

// Shared by the connect and its timer; whichever finishes first reports.
struct ConnectOp {
  ConnectOp(asio::io_context& io, TcpStream::ConnectHandler h)
      : socket(io), timer(io), handler(std::move(h)) {}
  tcp::socket socket;
  asio::steady_timer timer;
  TcpStream::ConnectHandler handler;
  bool done = false;

  void finish(const boost::system::error_code& ec) {
    if (done) return;
    done = true;
    timer.cancel();
    auto h = std::move(handler);
    if (ec) {
      boost::system::error_code ignored;
      socket.close(ignored);
      h(ec, nullptr);
    } else {
      h(ec, std::make_unique<TcpStream>(std::move(socket)));
    }
  }
};

}  // namespace

void TcpStream::async_connect(asio::io_context& io, const Endpoint& remote,
                              std::optional<Endpoint> local_bind,
                              std::chrono::milliseconds timeout, ConnectHandler handler) {
  auto op = std::make_shared<ConnectOp>(io, std::move(handler));
  const auto to = to_tcp(remote);
  boost::system::error_code ec;
  op->socket.open(to.protocol(), ec);
  if (!ec && local_bind) {
    auto from = to_tcp(*local_bind);
    if (from.protocol() != to.protocol()) {
      ec = asio::error::address_family_not_supported;
    } else {
      op->socket.bind(from, ec);
    }
  }
  if (ec) {
    // Report on the io thread, never from inside the caller.
    asio::post(io, [op, ec] { op->finish(ec); });
    return;
  }
  op->timer.expires_after(timeout);
  op->timer.async_wait([op](const boost::system::error_code& e) {
    if (!e) op->finish(asio::error::timed_out);
  });
  op->socket.async_connect(to, [op](const boost::system::error_code& e) { op->finish(e); });
}

}  // namespace bc::sal
