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

constexpr const char* kProgram = "blockcloud-sal-connect";

// A malformed command-line value; main prints it and exits 2.
struct UsageError {
  std::string message;
};

struct Args {
  std::string service_text;
  std::string bind_ip = "127.0.0.1";
  std::vector<std::string> seeds;
  double timeout_s = 20;
};

void add_options(CLI::App& app, Args& a) {
  app.add_option("SERVICE", a.service_text, "the service ID (s... or s....bc)")->required();
  app.add_option("--bootstrap", a.seeds, "IP:PORT of any node of the network (repeatable)")->required();
  app.add_option("--bind", a.bind_ip, "local IP for this node's UDP and TCP sockets (default 127.0.0.1)");
  app.add_option("--timeout", a.timeout_s, "seconds for joining and for connecting (default 20)")
      ->check(CLI::PositiveNumber);
}

bc::sal::ServiceId need_service(const std::string& text) {
  auto parsed = bc::sal::parse_service_id(text);
  if (!parsed) throw UsageError{"SERVICE: " + parsed.status().message};
  return *parsed;
}

// The embedded node: joins through the --bootstrap nodes, its sockets on --bind.
bc::sal::AppNodeConfig node_config(const Args& a) {
  bc::sal::AppNodeConfig cfg;
  for (const auto& s : a.seeds) {
    auto ep = bc::Endpoint::parse(s);
    if (!ep) throw UsageError{"--bootstrap \"" + s + "\": expected IP:PORT, e.g. 127.0.0.2:9000"};
    cfg.bootstrap.push_back(*ep);
  }
  auto local = bc::Endpoint::parse_ip(a.bind_ip, 0);
  if (!local) throw UsageError{"--bind \"" + a.bind_ip + "\": expected an IP address"};
  cfg.dht_listen = cfg.flow_listen = *local;
  cfg.dht.read_only = true;  // one exchange and gone: stay out of the network's routing tables
  return cfg;
}

// One request and its reply over a flow: the request is written and the
// sending side closed; the reply is copied to stdout until the provider's EOF.
struct Exchange : std::enable_shared_from_this<Exchange> {
  std::string service_text;
  std::string request;
  std::unique_ptr<bc::sal::ByteStream> stream;
  std::vector<std::uint8_t> buf = std::vector<std::uint8_t>(64 * 1024);
  bc::Status status;  // why the exchange failed, once done
  std::size_t received = 0;
  bool done = false;

  void fail(bc::Errc code, std::string why) {
    status = bc::fail(code, std::move(why));
    done = true;
  }

  // Once the node has joined: opens a flow to `service` and runs the exchange on it.
  void start(bc::sal::AppNode& node, const bc::sal::ServiceId& service, bc::TimeMs timeout_ms) {
    node.when_joined(timeout_ms, [self = shared_from_this(), &node, service](bool joined) {
      if (!joined) return self->fail(bc::Errc::kUnavailable, "no bootstrap node answered within the timeout; check --bootstrap");
      node.async_connect(service, [self](const boost::system::error_code& ec, std::unique_ptr<bc::sal::ByteStream> s) {
        if (ec) return self->fail(bc::Errc::kUnavailable, "connecting to " + self->service_text + ": " + ec.message());
        self->stream = std::move(s);
        self->send_request();
        self->read_reply();
      });
    });
  }

  void send_request() {
    stream->async_write(bc::as_bytes(request), [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
      if (ec) return self->fail(bc::Errc::kIo, "sending the request: " + ec.message());
      self->stream->shutdown_send();  // the reply ends at the provider's EOF
    });
  }

  void read_reply() {
    stream->async_read_some(buf, [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
      if (ec == boost::asio::error::eof) {
        self->done = true;
        return;
      }
      if (ec) return self->fail(bc::Errc::kIo, "reading the reply: " + ec.message());
      std::fwrite(self->buf.data(), 1, n, stdout);
      self->received += n;
      self->read_reply();
    });
  }
};

// Runs an embedded node until `ex` is done, then shuts the node down; returns the exit code.
int run_exchange(const Args& a, const bc::sal::ServiceId& service, const bc::sal::AppNodeConfig& cfg,
                 std::shared_ptr<Exchange> ex) {
  boost::asio::io_context io;
  bc::sal::AppNode node(io, bc::KeyPair::generate(), cfg);
  try {
    node.start();
  } catch (const std::exception& e) {
    std::cerr << kProgram << ": " << e.what() << "\n";
    return 1;
  }
  ex->start(node, service, static_cast<bc::TimeMs>(a.timeout_s * 1000));
  while (!ex->done && io.run_one()) {
  }
  std::fflush(stdout);
  if (ex->stream) ex->stream->close();
  node.stop();
  io.poll();
  ex->stream.reset();  // its timers belong to `io`, which dies first; the caller may still hold `ex`
  if (!ex->status.ok()) {
    std::cerr << kProgram << ": " << ex->status.message << "\n";
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"connect to a service by ID with the embedded SAL (no daemon): stdin is sent, the reply printed"};
  Args args;
  add_options(app, args);
  CLI11_PARSE(app, argc, argv);
  try {
    const bc::sal::ServiceId service = need_service(args.service_text);
    const bc::sal::AppNodeConfig cfg = node_config(args);
    auto ex = std::make_shared<Exchange>();
    ex->service_text = args.service_text;
    ex->request.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    return run_exchange(args, service, cfg, std::move(ex));
  } catch (const UsageError& e) {
    std::cerr << kProgram << ": " << e.message << "\n";
    return 2;
  }
}
