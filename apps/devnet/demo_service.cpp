#include "apps/devnet/demo_service.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <iostream>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <boost/json.hpp>
#include <fmt/format.h>

#include "apps/common/http_client.hpp"
#include "layers/asio_endpoint.hpp"
#include "layers/crypto.hpp"
#include "sal/records/delegation.hpp"
#include "sal/records/service_id.hpp"

namespace bc::devnet {
namespace json = boost::json;
using boost::asio::ip::tcp;

namespace {


// The provider's backend: answers every byte in capitals, until EOF. Runs
// its own io_context on a thread; the destructor stops it.
class ShoutingBackend {
 public:
  ShoutingBackend() : acceptor_(io_, tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0)) {
    accept();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~ShoutingBackend() {
    io_.stop();
    thread_.join();
  }
  Endpoint address() const { return from_asio(acceptor_.local_endpoint()); }

 private:
  struct Conn : std::enable_shared_from_this<Conn> {
    explicit Conn(tcp::socket s) : sock(std::move(s)) {}
    tcp::socket sock;
    std::array<char, 4096> buf{};
    void read() {
      sock.async_read_some(boost::asio::buffer(buf), [self = shared_from_this()](auto ec, std::size_t n) {
        if (ec) return;
        std::transform(self->buf.begin(), self->buf.begin() + static_cast<std::ptrdiff_t>(n), self->buf.begin(),
                       [](char c) { return static_cast<char>(std::toupper(static_cast<unsigned char>(c))); });
        boost::asio::async_write(self->sock, boost::asio::buffer(self->buf.data(), n),
                                 [self](auto e, std::size_t) {
                                   if (!e) self->read();
                                 });
      });
    }
  };
  void accept() {
    acceptor_.async_accept([this](auto ec, tcp::socket s) {
      if (ec) return;
      std::make_shared<Conn>(std::move(s))->read();
      accept();
    });
  }
  boost::asio::io_context io_;
  tcp::acceptor acceptor_;
  std::thread thread_;
};

// One line out, one line back, on an open connection; returns the answer.
std::string exchange(tcp::socket& s, boost::asio::streambuf& in, const std::string& line) {
  boost::asio::write(s, boost::asio::buffer(line + "\n"));
  boost::asio::read_until(s, in, '\n');
  std::string answer;
  std::istream is(&in);
  std::getline(is, answer);
  return answer;
}

// Another address in the provider's /24: its last byte + 100 (wrapping).
std::string moved_ip(const Endpoint& e) {
  const std::uint32_t a = e.v4_addr();
  const std::uint32_t last = ((a & 0xff) + 100 - 2) % 252 + 2;
  return Endpoint::v4((a & ~0xffu) | last, 0).ip_string();
}

}  // namespace

int demo_service(const Devnet& net) {
  int failures = 0;
  const NodeEntry& provider = net.nodes[2];
  const NodeEntry& client = net.nodes[1];
  std::cout << "\n== 6. A service by ID: reached without knowing where it runs, and followed when it moves\n";
  try {
    ShoutingBackend backend;
    // The owner's key stays with the owner (here: in this process).
    const KeyPair owner = KeyPair::generate();
    const std::string provider_key = node_rpc(provider, "status", {}).at("node_key").as_string().c_str();
    const auto key_bytes = from_hex(provider_key);
    const auto provider_pub = key_bytes ? parse_pubkey(*key_bytes) : std::nullopt;
    if (!provider_pub) throw std::runtime_error("node " + std::to_string(provider.index) + " reported no node key");
    const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch()).count();
    const sal::Delegation d = sal::make_delegation(owner, "shout", *provider_pub, 1, now - 60'000, now + 3'600'000);
    const std::string sid = sal::service_id_to_text(d.service());
    std::cout << fmt::format("   the owner names a service \"shout\": its ID is {}\n"
                             "   (a hash of the owner's key and the name: nobody else can publish under it)\n",
                             sid);
    node_rpc(provider, "service_serve", {{"delegation", to_hex(sal::encode_delegation(d))},
                                    {"backend", backend.address().to_string()}});
    std::cout << fmt::format("   the owner delegates node {}, which serves it from a backend on {}\n",
                             provider.index, backend.address().to_string());
    Endpoint listen = client.rpc;
    listen.port = 0;
    const auto fwd = node_rpc(client, "forward_add", {{"listen", listen.to_string()}, {"service", sid}});
    const std::string fwd_at = fwd.at("listen").as_string().c_str();
    std::cout << fmt::format("   node {} forwards {} to the service by ID (an app could use its SOCKS5 gateway)\n",
                             client.index, fwd_at);

    boost::asio::io_context io;
    tcp::socket s(io);
    s.connect(to_tcp(*Endpoint::parse(fwd_at)));
    boost::asio::streambuf in;
    const auto t0 = std::chrono::steady_clock::now();
    std::string a = exchange(s, in, "hello, service");
    const auto ms = [&] {
      return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    };
    std::cout << fmt::format("   sent \"hello, service\", got \"{}\" ({:.1f} ms: DSHT lookup, TLS 1.3, flow open)\n",
                             a, ms());
    if (a != "HELLO, SERVICE") ++failures;

    const std::string to = moved_ip(provider.listen);
    node_rpc(provider, "node_rebind", {{"address", to}});
    std::cout << fmt::format("   node {} moves from {} to {} while the connection stays open\n", provider.index,
                             provider.listen.ip_string(), to);
    const auto t1 = std::chrono::steady_clock::now();
    a = exchange(s, in, "still there?");
    const double moved_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t1).count();
    std::cout << fmt::format("   sent \"still there?\" on the same connection, got \"{}\" ({:.1f} ms: the client "
                             "redialled, found the new address and resumed the flow; nothing lost)\n",
                             a, moved_ms);
    if (a != "STILL THERE?") ++failures;
    node_rpc(provider, "node_rebind", {{"address", provider.listen.ip_string()}});  // home again
  } catch (const std::exception& e) {
    ++failures;
    std::cout << fmt::format("   the service step failed: {}\n", e.what());
  }
  return failures;
}

}  // namespace bc::devnet
