// blockcloud-sal-connect: an app that uses the SAL's C++ API directly, with
// no daemon. It embeds a node (sal::AppNode) that joins the network through
// --bootstrap, connects to SERVICE by ID, sends its standard input, half-
// closes, and copies the reply to standard output (one request, one reply:
// e.g. an HTTP/1.0 GET). Read it as the example of the API (docs/sal.md).
#include <cstdio>
#include <iostream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>

#include "sal/node/app_node.hpp"
#include "sal/records/service_id.hpp"

namespace {

struct Exchange : std::enable_shared_from_this<Exchange> {
  std::unique_ptr<bc::sal::ByteStream> stream;
  std::vector<std::uint8_t> buf = std::vector<std::uint8_t>(64 * 1024);
  std::string error;
  std::size_t received = 0;
  bool done = false;

  void read_reply() {
    stream->async_read_some(buf, [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
      if (ec) {
        if (ec != boost::asio::error::eof) self->error = "reading the reply: " + ec.message();
        self->done = true;
        return;
      }
      std::fwrite(self->buf.data(), 1, n, stdout);
      self->received += n;
      self->read_reply();
    });
  }
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"connect to a service by ID with the embedded SAL (no daemon): stdin is sent, the reply printed"};
  std::string service_text, bind_ip = "127.0.0.1";
  std::vector<std::string> seeds;
  double timeout_s = 20;
  app.add_option("SERVICE", service_text, "the service ID (s... or s....bc)")->required();
  app.add_option("--bootstrap", seeds, "IP:PORT of any node of the network (repeatable)")->required();
  app.add_option("--bind", bind_ip, "local IP for this node's UDP and TCP sockets (default 127.0.0.1)");
  app.add_option("--timeout", timeout_s, "seconds for joining and for connecting (default 20)")
      ->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);

  auto parsed = bc::sal::parse_service_id(service_text);
  if (!parsed.id) {
    std::cerr << "blockcloud-sal-connect: SERVICE: " << parsed.error << "\n";
    return 2;
  }
  bc::sal::AppNodeConfig cfg;
  for (const auto& s : seeds) {
    auto ep = bc::Endpoint::parse(s);
    if (!ep) {
      std::cerr << "blockcloud-sal-connect: --bootstrap \"" << s << "\": expected IP:PORT, e.g. 127.0.0.2:9000\n";
      return 2;
    }
    cfg.bootstrap.push_back(*ep);
  }
  auto dht = bc::Endpoint::parse_ip(bind_ip, 0);
  if (!dht) {
    std::cerr << "blockcloud-sal-connect: --bind \"" << bind_ip << "\": expected an IP address\n";
    return 2;
  }
  cfg.dht_listen = cfg.flow_listen = *dht;
  const std::string request{std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>()};

  boost::asio::io_context io;
  bc::sal::AppNode node(io, bc::KeyPair::generate(), cfg);
  try {
    node.start();
  } catch (const std::exception& e) {
    std::cerr << "blockcloud-sal-connect: " << e.what() << "\n";
    return 1;
  }
  auto ex = std::make_shared<Exchange>();
  const auto timeout_ms = static_cast<bc::TimeMs>(timeout_s * 1000);
  node.when_joined(timeout_ms, [&](bool joined) {
    if (!joined) {
      ex->error = "no bootstrap node answered within the timeout; check --bootstrap";
      ex->done = true;
      return;
    }
    node.async_connect(*parsed.id, [&, ex](const boost::system::error_code& ec, std::unique_ptr<bc::sal::ByteStream> s) {
      if (ec) {
        ex->error = "connecting to " + service_text + ": " + ec.message();
        ex->done = true;
        return;
      }
      ex->stream = std::move(s);
      ex->stream->async_write(bc::as_bytes(request), [ex](const boost::system::error_code& wec, std::size_t) {
        if (wec) {
          ex->error = "sending the request: " + wec.message();
          ex->done = true;
          return;
        }
        ex->stream->shutdown_send();  // the reply ends at the provider's EOF
      });
      ex->read_reply();
    });
  });
  while (!ex->done && io.run_one()) {
  }
  std::fflush(stdout);
  if (ex->stream) ex->stream->close();
  node.stop();
  io.poll();
  if (!ex->error.empty()) {
    std::cerr << "blockcloud-sal-connect: " << ex->error << "\n";
    return 1;
  }
  return 0;
}
