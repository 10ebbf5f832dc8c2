// How ordinary programs use Blockcloud services (docs/sal-gateways.md):
//
//   SocksGateway     a SOCKS5 server (loopback by default): CONNECT to
//                    "<service-id>.bc" opens a flow to that service through a
//                    ServiceConnector and splices the client's TCP connection
//                    to it. `curl --socks5-hostname 127.0.0.1:1080 http://<id>.bc/`
//   ForwardListener  `blockcloud-cli forward --listen IP:PORT SERVICE`: every
//                    TCP connection accepted on IP:PORT is spliced to a flow
//                    to one fixed service.
//   BackendConnector `service serve SERVICE --backend IP:PORT`: every flow a
//                    provider accepts for SERVICE is spliced to a new TCP
//                    connection to the local backend.
//
// All run on one Boost.Asio io_context (single thread): construct, call
// start() and stop() on the io thread (or before io.run()). They speak only
// sal::ByteStream / sal::ServiceConnector (sal/host/stream.hpp), so any connector
// works: sal::Host in the daemon, a test double in tests.
// Counters (when a metrics::Registry is given), with gateway="socks" |
// "forward" | "backend":
//   bc_sal_gateway_accepted_total{gateway}        connections/flows taken in
//   bc_sal_gateway_connected_total{gateway}       spliced to the other side
//   bc_sal_gateway_connect_failed_total{gateway}  the other side could not be reached
//   bc_sal_gateway_bytes_total{gateway,direction} direction="up" (client/flow
//                                                 toward service/backend) or "down"
//   bc_sal_gateway_active{gateway}                gauge: open connections
//   bc_sal_socks_rejected_total{reason}           SOCKS5 clients refused:
//        socks5::reject_label() reasons, "timeout", "idle", "incomplete",
//        "evicted", "capacity", "source_capacity"
#pragma once
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/io_context.hpp>

#include "layers/metrics.hpp"
#include "layers/runtime.hpp"
#include "sal/host/stream.hpp"

namespace bc::sal {

struct GatewayStats {
  std::uint64_t accepted = 0;        // connections (or flows) taken in
  std::uint64_t rejected = 0;        // refused before connecting: malformed, timeout, capacity
  std::uint64_t connected = 0;       // spliced
  std::uint64_t connect_failed = 0;  // service or backend unreachable
  std::uint64_t active = 0;          // open now (negotiating, connecting or spliced)
  std::uint64_t bytes_up = 0;        // toward the service (or the backend), finished splices
  std::uint64_t bytes_down = 0;      // back toward the client (or the flow)
};

struct SocksGatewayOptions {
  // Where to listen. Loopback by default: anyone who can reach the gateway
  // opens flows in this node's name.
  Endpoint listen = Endpoint::v4(0x7f000001, 1080);
  // A non-loopback `listen` is refused (the constructor throws) unless this
  // is set. Set `username`/`password` too when you set it.
  bool allow_non_loopback = false;
  // RFC 1929 credentials. Both empty (the default): no authentication
  // (method 0x00). Otherwise both must be 1..255 bytes and every client
  // must use method 0x02 with them; wrong ones get 01 01 and are closed.
  std::string username;
  std::string password;
  // Open SOCKS connections at most (negotiating, connecting and spliced),
  // in total and from one source (an IPv4 address or IPv6 /64; on loopback
  // every local program is the same source).
  std::size_t max_connections = 1024;
  std::size_t max_connections_per_source = 256;
  // Connections still negotiating (greeting, authentication, request), in
  // total and from one source. Past a cap a newcomer is still taken: the
  // oldest negotiating connection of its own source (per-source cap) or of
  // the source negotiating the most (total cap) is closed ("evicted").
  // Honest clients negotiate in milliseconds, so idle ones cannot keep them
  // out. Only when the connections cap is held by connections past their
  // negotiation is a newcomer closed at once ("capacity").
  std::size_t max_handshakes = 128;
  std::size_t max_handshakes_per_source = 64;
  // Negotiation deadlines: the whole negotiation must end within
  // handshake_timeout, and the client may stay silent (before its first
  // byte, or between messages) at most idle_timeout. Then it is closed
  // ("timeout" / "idle").
  std::chrono::milliseconds handshake_timeout{10'000};
  std::chrono::milliseconds idle_timeout{5'000};
  // The connector must answer within this time; then reply 0x06 (TTL expired).
  std::chrono::milliseconds connect_timeout{15'000};
  std::size_t splice_buffer_bytes = 64 * 1024;  // per direction
  metrics::Registry* metrics = nullptr;          // optional; must outlive the gateway
};

struct ForwardOptions {
  Endpoint listen;  // e.g. 127.0.0.1:8080
  ServiceId service{};
  std::size_t max_connections = 1024;  // further connections are closed at once
  std::chrono::milliseconds connect_timeout{15'000};
  std::size_t splice_buffer_bytes = 64 * 1024;
  metrics::Registry* metrics = nullptr;
};

struct BackendOptions {
  Endpoint backend;                   // the provider's local server, e.g. 127.0.0.1:8000
  std::optional<Endpoint> local_bind; // source address for the backend connection
  std::size_t max_connections = 1024; // flows beyond this are closed at once
  std::chrono::milliseconds connect_timeout{5'000};
  std::size_t splice_buffer_bytes = 64 * 1024;
  metrics::Registry* metrics = nullptr;
};

class SocksGateway {
 public:
  // Binds and listens at once. Throws std::runtime_error naming the address
  // and what to do if it cannot, or if it is not loopback and
  // allow_non_loopback is not set; std::invalid_argument if the credentials
  // are malformed. `connector` must outlive the gateway.
  SocksGateway(boost::asio::io_context& io, ServiceConnector& connector,
               SocksGatewayOptions options = {});
  ~SocksGateway();  // stop()
  SocksGateway(const SocksGateway&) = delete;
  SocksGateway& operator=(const SocksGateway&) = delete;

  void start();  // starts accepting
  // Stops accepting and closes every open connection. Idempotent.
  void stop();
  Endpoint local_endpoint() const;  // the real port when bound to port 0
  GatewayStats stats() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;  // shared: in-flight handlers keep it alive
};

class ForwardListener {
 public:
  ForwardListener(boost::asio::io_context& io, ServiceConnector& connector,
                  ForwardOptions options);
  ~ForwardListener();
  ForwardListener(const ForwardListener&) = delete;
  ForwardListener& operator=(const ForwardListener&) = delete;

  void start();
  void stop();
  Endpoint local_endpoint() const;
  GatewayStats stats() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

class BackendConnector {
 public:
  explicit BackendConnector(boost::asio::io_context& io, BackendOptions options);
  ~BackendConnector();
  BackendConnector(const BackendConnector&) = delete;
  BackendConnector& operator=(const BackendConnector&) = delete;

  // Takes one accepted flow: dials the backend and splices. If the backend
  // cannot be reached (or after stop(), or over max_connections) the flow is
  // closed. Call on the io thread, e.g. from sal::Host's accept handler.
  void serve(std::unique_ptr<ByteStream> flow);
  // Closes every open flow and backend connection. Idempotent.
  void stop();
  GatewayStats stats() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace bc::sal
