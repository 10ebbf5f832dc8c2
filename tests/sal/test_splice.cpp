// Splice: bytes both ways, and buffers sized to the traffic (an idle
// connection holds two small buffers; bulk grows them, light traffic shrinks
// them back).
#include <doctest/doctest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include "sal/host/splice.hpp"
#include "sal/host/tcp_stream.hpp"

using namespace bc;
using namespace bc::sal;
namespace asio = boost::asio;
using asio::ip::tcp;

namespace {
// A connected loopback pair: {the app's end, the end handed to the splice}.
std::pair<tcp::socket, tcp::socket> socket_pair(asio::io_context& io) {
  tcp::acceptor acc(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  tcp::socket app(io), inner(io);
  app.connect(acc.local_endpoint());
  acc.accept(inner);
  return {std::move(app), std::move(inner)};
}
}  // namespace

TEST_CASE("splice: buffers start small, grow with bulk traffic and shrink when it is light") {
  asio::io_context io;
  auto [a_app, a_inner] = socket_pair(io);
  auto [b_app, b_inner] = socket_pair(io);
  SpliceOptions o;
  o.buffer_bytes = 64 * 1024;
  o.min_buffer_bytes = 2 * 1024;
  bool done = false;
  auto sp = Splice::start(std::make_unique<TcpStream>(std::move(a_inner)), std::make_unique<TcpStream>(std::move(b_inner)),
                          [&](const SpliceResult&) { done = true; }, o);
  CHECK(sp->buffer_bytes() == 4 * 1024);  // idle: two minimum buffers

  // Bulk one way: 4 MiB written at once, read at the far end.
  std::vector<std::uint8_t> bulk(4 << 20, 0x5a), got(bulk.size());
  std::size_t peak = 0;
  bool wrote = false, read_all = false;
  asio::async_write(a_app, asio::buffer(bulk), [&](auto ec, std::size_t) { wrote = !ec; });
  asio::async_read(b_app, asio::buffer(got), [&](auto ec, std::size_t) { read_all = !ec; });
  while (!(wrote && read_all)) {
    io.run_one();
    peak = std::max(peak, sp->buffer_bytes());
  }
  CHECK(got == bulk);
  CHECK(peak >= 64 * 1024);  // the busy direction reached the full size
  CHECK(peak <= 64 * 1024 + 2 * 1024);

  // Light traffic: small messages one at a time shrink it back.
  for (int i = 0; i < 8; ++i) {
    std::array<std::uint8_t, 10> msg{}, back{};
    asio::write(a_app, asio::buffer(msg));
    bool in = false;
    asio::async_read(b_app, asio::buffer(back), [&](auto, std::size_t) { in = true; });
    while (!in) io.run_one();
  }
  CHECK(sp->buffer_bytes() == 4 * 1024);
  sp->stop();
  while (!done) io.run_one();
}
