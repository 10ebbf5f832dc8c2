// bc-bench-sal-idle-flows: memory per idle flow with N (default 10,000) open
// flows through the SAL's C++ stack: two sal::Hosts in one process, one TLS
// 1.3 session between them over loopback TCP, N flows opened by service ID,
// each end holding a pending read (an app waiting for data). Reports the
// process's RSS growth per flow, both ends together. Flows share the
// session's one TLS connection, so this is the SAL's own per-flow cost; the
// per-connection figure through the daemons' gateways, beside stunnel in the
// same run, is bench/sal/run.sh's "idle" row (docs/sal-bench.md).
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "layers/crypto.hpp"
#include "layers/metrics.hpp"
#include "sal/host/host.hpp"

namespace {

namespace asio = boost::asio;
using boost::system::error_code;

double rss_kib() {
  std::ifstream f("/proc/self/statm");
  long pages = 0, resident = 0;
  f >> pages >> resident;
  return static_cast<double>(resident) * 4.0;  // 4 KiB pages
}

// An app's end of an idle flow: one pending read into a small buffer.
struct Waiting : std::enable_shared_from_this<Waiting> {
  explicit Waiting(std::unique_ptr<bc::sal::ByteStream> s) : stream(std::move(s)) {}
  std::unique_ptr<bc::sal::ByteStream> stream;
  std::array<std::uint8_t, 512> buf{};
  void wait() {
    stream->async_read_some(buf, [self = shared_from_this()](const error_code& ec, std::size_t) {
      if (!ec) self->wait();
    });
  }
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"memory per idle SAL flow with N flows open (two sal::Hosts, one session)"};
  std::size_t n = 10'000;
  std::string ip_a = "127.0.20.70", ip_b = "127.0.20.71";
  app.add_option("--flows", n, "idle flows to open (default 10000)")->check(CLI::Range(1, 100'000));
  app.add_option("--provider-ip", ip_a, "loopback IP of the providing host (default 127.0.20.70)");
  app.add_option("--client-ip", ip_b, "loopback IP of the connecting host (default 127.0.20.71)");
  CLI11_PARSE(app, argc, argv);

  asio::io_context io;
  bc::metrics::Registry reg_a, reg_b;
  const bc::sal::ServiceId service = bc::sha256(bc::as_bytes(std::string("idle-bench")));
  bc::sal::HostConfig cfg;
  cfg.session.max_flows = n + 16;
  cfg.session.open_rate_per_s = 1e9;  // the benchmark opens flows as fast as it can
  cfg.session.open_burst = 1e9;
  const auto proof = bc::Bytes{'o', 'k'};
  bc::sal::HostHooks prov_hooks;
  prov_hooks.resolve = [](const bc::sal::ServiceId&, bc::TimeMs, bc::sal::ResolveDone done) { done({}); };
  prov_hooks.proof_for = [&](const bc::sal::ServiceId&) -> std::optional<bc::Bytes> { return proof; };
  prov_hooks.check_proof = [](const bc::sal::ServiceId&, const bc::XOnlyPubKey&, bc::ByteView, bc::TimeMs) {
    return true;
  };
  bc::sal::Host provider(io, bc::KeyPair::generate(), *bc::Endpoint::parse(ip_a + ":0"), cfg, prov_hooks, reg_a);
  provider.start();
  std::vector<std::shared_ptr<Waiting>> accepted, opened;
  accepted.reserve(n + 1);
  opened.reserve(n + 1);
  provider.listen(service, [&](std::unique_ptr<bc::sal::ByteStream> s, const bc::XOnlyPubKey&) {
    accepted.push_back(std::make_shared<Waiting>(std::move(s)));
    accepted.back()->wait();
  });
  bc::sal::HostHooks cli_hooks = prov_hooks;
  cli_hooks.resolve = [&](const bc::sal::ServiceId&, bc::TimeMs, bc::sal::ResolveDone done) {
    bc::sal::Candidate c;
    c.provider = provider.node_id();
    c.addresses = {provider.local_endpoint()};
    done({c});
  };
  bc::sal::Host client(io, bc::KeyPair::generate(), *bc::Endpoint::parse(ip_b + ":0"), cfg, cli_hooks, reg_b);
  client.start();

  std::size_t failures = 0;
  auto open_one = [&](auto&& then) {
    client.async_connect(service, [&, then](const error_code& ec, std::unique_ptr<bc::sal::ByteStream> s) {
      if (ec) {
        if (failures++ == 0) std::cerr << "first failed connect: " << ec.message() << "\n";
      } else {
        opened.push_back(std::make_shared<Waiting>(std::move(s)));
        opened.back()->wait();
      }
      then();
    });
  };
  auto run_until = [&](auto pred) {
    while (!pred()) io.run_one();
  };
  // The session and one flow first, so the baseline includes TLS and the session.
  bool first = false;
  open_one([&] { first = true; });
  run_until([&] { return first && accepted.size() == 1; });
  for (int i = 0; i < 20; ++i) io.poll();
  const double before = rss_kib();
  // At most 256 connects in flight (HostLimits::max_pending_connects is 4096).
  std::size_t started = 0, done = 0;
  std::function<void()> next = [&] {
    ++done;
    if (started < n) {
      ++started;
      open_one(next);
    }
  };
  for (; started < std::min<std::size_t>(n, 256); ++started) open_one(next);
  run_until([&] { return done == n && accepted.size() == opened.size(); });
  for (int i = 0; i < 50; ++i) io.poll();
  const double after = rss_kib();
  const double per_flow = (after - before) / static_cast<double>(n);
  std::printf("SAL idle flows: %zu opened (%zu failed) on one session; RSS %.0f -> %.0f KiB\n", n, failures,
              before, after);
  std::printf("memory per idle flow, both ends: %.2f KiB (%.2f KiB per end); goal <= 32 KiB: %s\n", per_flow,
              per_flow / 2, per_flow <= 32 ? "met" : "MISSED");
  client.stop();
  provider.stop();
  io.poll();
  return failures == 0 ? 0 : 1;
}
