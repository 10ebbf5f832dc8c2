// The flow port (sal::Host's TLS listener) under a connection flood from one
// source: honest handshakes from other sources still get through
// (docs/sal-host.md, "Admission").
#include <doctest/doctest.h>

#include <algorithm>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "layers/asio_endpoint.hpp"
#include "tests/sal/host_test_net.hpp"

using namespace bc;
using namespace bc::sal;
using namespace bc::sal::hosttest;
using tcp = boost::asio::ip::tcp;

namespace {

// One hostile source: `lanes` loops that connect, stay silent `hold_ms`,
// then drop (a reset, so no TIME_WAIT runs the ports out), and up to
// `max_idle` connections held open without a byte sent.
struct Flooder {
  Flooder(asio::io_context& io, const char* from_ip, const Endpoint& to, std::size_t max_idle)
      : io(io), from(asio::ip::make_address(from_ip), 0), to(to_tcp(to)), max_idle(max_idle) {}

  void start(int lanes) {
    for (int i = 0; i < lanes; ++i) lane();
  }

  void lane() {
    if (stopped) return;
    auto s = std::make_shared<tcp::socket>(io);
    error_code ec;
    s->open(tcp::v4(), ec);
    if (!ec) s->bind(from, ec);
    if (ec) return;
    s->async_connect(to, [this, s](const error_code& e) {
      ++connects;
      if (!e && idle.size() < max_idle) {
        idle.push_back(s);
        return lane();
      }
      auto t = std::make_shared<asio::steady_timer>(io, std::chrono::milliseconds(hold_ms));
      t->async_wait([this, s, t](const error_code&) {
        error_code ig;
        s->set_option(tcp::socket::linger(true, 0), ig);
        s->close(ig);
        lane();
      });
    });
  }

  void stop() {
    stopped = true;
    for (auto& s : idle) {
      error_code ig;
      s->set_option(tcp::socket::linger(true, 0), ig);
      s->close(ig);
    }
  }

  asio::io_context& io;
  tcp::endpoint from;
  tcp::endpoint to;
  std::size_t max_idle;
  int hold_ms = 10;
  std::vector<std::shared_ptr<tcp::socket>> idle;
  std::uint64_t connects = 0;
  bool stopped = false;
};

}  // namespace

TEST_CASE("sal host: a connect flood from one source lets every honest handshake through") {
  Loop L;
  Directory dir;
  TestNode prov(L.io, "127.0.0.2:0", dir);
  const ServiceId s = service_named("echo");
  dir.add(s, *prov.host);
  prov.host->listen(s, [](std::unique_ptr<ByteStream> st, const XOnlyPubKey&) {
    std::make_shared<Echo>(std::move(st))->start();
  });
  constexpr int kHonest = 26;
  HostConfig cfg = test_config();
  cfg.picker.connect_timeout_ms = 3000;
  std::vector<std::unique_ptr<TestNode>> honest;
  for (int i = 0; i < kHonest; ++i) {
    const std::string at = "127.0.1." + std::to_string(1 + i) + ":0";
    honest.push_back(std::make_unique<TestNode>(L.io, at.c_str(), dir, true, cfg));
  }
  // Fewer idle than the per-source connection cap: the rest of the flood
  // keeps being accepted, as a fast connect-and-drop loop is.
  Flooder flood(L.io, "127.0.0.9", prov.host->local_endpoint(), 4);
  flood.start(28);
  L.run_for(1500);  // the flood is well under way before anyone honest arrives
  std::vector<ConnectResult> results(kHonest);
  for (int i = 0; i < kHonest; ++i) honest[i]->host->async_connect(s, results[i].handler());
  const bool all_done = L.run_until(
      [&] { return std::all_of(results.begin(), results.end(), [](auto& r) { return r.done; }); },
      15000);
  flood.stop();
  CHECK(all_done);
  int ok = 0;
  for (auto& r : results) ok += (r.done && !r.ec) ? 1 : 0;
  const auto refused = [&](const char* reason) {
    return prov.reg.counter_value("bc_sal_host_refused_connections_total", {{"reason", reason}});
  };
  MESSAGE("flood: " << flood.connects << " connects, " << flood.idle.size() << " held idle; "
                    << ok << "/" << kHonest << " honest connects succeeded; refused: rate "
                    << refused("handshake_rate") << ", rate per ip " << refused("handshake_rate_per_ip")
                    << ", per ip " << refused("per_ip") << ", evicted " << refused("evicted_handshake"));
  CHECK(flood.connects > 200);  // the flood really ran
  CHECK(ok == kHonest);
}
