// sal::Host: the Asio driver of the Service Access Layer (docs/sal-host.md).
//
// Runs one sans-I/O Session (sal/session/session.hpp) per peer node over TLS 1.3
// (sal/host/tls_channel.hpp) over TCP, on one boost::asio::io_context thread, and
// gives apps the service API: listen on a service ID and accept flows,
// connect to a service ID, and use each flow as a ByteStream (sal/host/stream.hpp).
//
// Flows survive address changes of either end: a broken TCP connection only
// detaches the session; the side that dialled redials (the peer's last
// address, then a fresh resolve) and the session resumes every flow on the
// new connection, nothing lost or duplicated. A node whose own address
// changes calls rebind().
//
// Single-threaded: every method must be called on the io thread (or before
// io.run()); every handler runs there.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/system/error_code.hpp>

#include "layers/bytes.hpp"
#include "layers/crypto.hpp"
#include "layers/ids.hpp"
#include "layers/metrics.hpp"
#include "layers/runtime.hpp"
#include "sal/table/endpoint_picker.hpp"
#include "sal/session/session.hpp"
#include "sal/host/stream.hpp"
#include "sal/host/tls_channel.hpp"

namespace bc::sal {

// The session's channel binding: this TLS exporter of each connection.
inline constexpr std::string_view kBindingLabel = "EXPORTER-blockcloud-sal-binding";
inline constexpr std::size_t kBindingLength = 32;

struct HostLimits {
  std::size_t max_sessions = 4096;           // peers with a session (attached or detached)
  std::size_t max_connections = 8192;        // TCP connections, both directions, any state
  // Incoming connections (the flow port) are admitted per source, an IPv4
  // address or an IPv6 /64 (sal/host/admission.hpp, docs/sal-host.md "Admission").
  std::size_t max_connections_per_ip = 32;   // accepted connections from one source
  // Accepted connections still in their TLS handshake, in total and from
  // one source. Past a cap a newcomer is still taken and the oldest pending
  // handshake of its own source (per-source cap) or of the source with the
  // most pending (total cap) is closed: a flood of idle connects from one
  // source cannot keep other sources' handshakes out.
  std::size_t max_pending_handshakes = 256;
  std::size_t max_pending_handshakes_per_ip = 16;
  // Accepted connections per second (token buckets), in total and per source.
  double handshake_rate_per_s = 200;
  double handshake_burst = 400;
  double handshake_rate_per_ip_per_s = 50;
  double handshake_burst_per_ip = 100;
  TimeMs handshake_timeout_ms = 5'000;       // an accepted connection must finish TLS in time
  std::size_t max_pending_connects = 4096;   // async_connect calls not yet completed
  std::size_t tls_output_bound = 256 * 1024; // session output is fed to TLS below this
  std::size_t read_chunk = 64 * 1024;        // bytes read from a socket per read call
  std::size_t read_burst = 1024 * 1024;      // bytes read per socket per wakeup (fairness)
  // TCP_USER_TIMEOUT: a connection whose sent data stays unacknowledged this
  // long is closed, so a peer whose address vanished is redialled within
  // seconds, not at the keepalive timeout. Cheap when wrong: flows resume.
  unsigned tcp_user_timeout_ms = 4'000;
  // The flow port relays for other nodes' clients (sal/host/relay.hpp,
  // docs/sal-host.md "Relay"): relayed connections at once, any phase (0: it
  // relays nothing), and from one source (IPv4 address or IPv6 /64); the
  // time a request has to arrive and its target to answer the relay's
  // connect; a relayed pair that moves no byte this long is closed (a SAL
  // session sends a keepalive every 15 s).
  std::size_t max_relay_pairs = 64;
  std::size_t max_relay_pairs_per_ip = 8;
  TimeMs relay_request_timeout_ms = 2'000;
  TimeMs relay_idle_timeout_ms = 60'000;
};

struct HostConfig {
  SessionConfig session;
  HostLimits limits;
  // connect_timeout_ms bounds each dial: TCP connect plus the TLS handshake.
  PickerConfig picker;
  // Redial of a detached session we dialled: first try at once, then waits
  // doubling from min to max, until the session's detached_timeout_ms.
  TimeMs redial_backoff_min_ms = 25;
  TimeMs redial_backoff_max_ms = 1'000;
  TlsContext::Config tls;
  NodeIdentityOptions identity;
  // Other nodes' flow endpoints every dial of this host goes through (first
  // dials and redials): the first of them that is not the provider's own
  // endpoint (a node cannot relay to itself). The provider sees that node's
  // address, not ours, while TLS stays end to end (docs/sal-host.md
  // "Relay"). A relay that is down or refuses for its own reasons (busy,
  // the service unknown to it) is passed over for the next one; one that
  // could not reach the provider, or the last one failing, fails the dial
  // like a failed TCP connect, all within picker.connect_timeout_ms. Empty,
  // or a provider at every one of them: dials go direct.
  std::vector<Endpoint> relays;
};

// One resolution's answer: every known provider of the service. An empty
// list means none (or the lookup failed).
using ResolveDone = std::function<void(std::vector<Candidate>)>;
// Must call `done` exactly once, on the io thread (at once or later).
using ResolveFn = std::function<void(const ServiceId& service, TimeMs now, ResolveDone done)>;
// The delegation certificate proving this node provides `service`, sent in
// OPEN_OK; nullopt refuses the flow as kNoService.
using ProofForFn = std::function<std::optional<Bytes>(const ServiceId& service)>;
// Whether to take a flow for `service` (one this node listens on) that came
// over a connection from `from`: the opener's address, or its relay's when
// it came through one. false refuses the flow (Reason::kRefused).
using FlowFilter = std::function<bool(const ServiceId& service, const Endpoint& from)>;

enum class HostLogLevel { kDebug, kInfo, kWarn };
// Where the host's log lines go (the daemon passes spdlog); when empty,
// warnings go to stderr and the rest is dropped.
using HostLogFn = std::function<void(HostLogLevel level, const std::string& line)>;

struct HostHooks {
  ResolveFn resolve;
  // Optional: a lookup that answers from no cache and sees past stale
  // copies, for finding a peer that moved (redial); `resolve` when empty.
  ResolveFn resolve_fresh;
  ProofForFn proof_for;
  ProofCheck check_proof;  // the opener's check of a provider's proof
  HostLogFn log;           // optional
  FlowFilter accept_flow;  // optional: every flow for a listened service is taken
};

// A new flow for a service we listen on; the stream is the app's.
using AcceptHandler = std::function<void(std::unique_ptr<ByteStream> stream, const XOnlyPubKey& peer)>;

// Errors of async_connect and of flow streams, besides Asio's own
// (eof, operation_aborted): Reason values (why a flow failed or was reset),
// and these host-level ones.
enum class HostError {
  kNoProviders = 100,  // the resolver knows no provider of the service
  kUnreachable = 101,  // every provider endpoint failed to connect
  kStopped = 102,      // the host was stopped
  kTooManyConnects = 103,  // max_pending_connects reached
};
const boost::system::error_category& sal_error_category();
boost::system::error_code make_error_code(Reason r);
boost::system::error_code make_error_code(HostError e);

struct HostStats {
  std::size_t sessions = 0;
  std::size_t attached_sessions = 0;
  std::size_t connections = 0;
  std::size_t listeners = 0;
  std::size_t pending_connects = 0;
  std::uint64_t dials = 0;
  std::uint64_t dial_failures = 0;
  std::uint64_t accepted = 0;
  std::uint64_t redials = 0;
  std::uint64_t rebinds = 0;
  std::uint64_t attaches = 0;
};

struct HostImpl;

class Host final : public ServiceConnector {
 public:
  // Makes the TLS identity from node_key. Nothing is bound until start().
  Host(boost::asio::io_context& io, const KeyPair& node_key, const Endpoint& listen,
       HostConfig config, HostHooks hooks, metrics::Registry& registry);
  ~Host() override;
  Host(const Host&) = delete;
  Host& operator=(const Host&) = delete;

  // Binds the TCP listener. Throws std::runtime_error naming the address and
  // what to do if it cannot be bound.
  void start();
  // Closes every socket and timer; pending operations complete with
  // HostError::kStopped or operation_aborted. Idempotent.
  void stop();

  // Accept flows for `service`; false if something already listens on it.
  bool listen(const ServiceId& service, AcceptHandler on_accept);
  void unlisten(const ServiceId& service);

  // Resolve, pick, reuse or dial a session, open a flow (sal/host/stream.hpp).
  void async_connect(const ServiceId& service, ConnectHandler handler) override;

  // This node's address changed: listen on `new_listen` (port 0 keeps the
  // current port), close every connection on the old address and redial the
  // sessions we dialled from the new one. Fails with kIo (cannot listen
  // there; the old listener is kept) or kFailedPrecondition (stopped).
  Status rebind(const Endpoint& new_listen);
  // The daemon's hook for address changes (same as rebind).
  Status on_local_address_changed(const Endpoint& new_listen) { return rebind(new_listen); }

  Endpoint local_endpoint() const;  // the bound listen address (real port)
  // The far end of the connection attached to `peer`'s session, as this
  // node dialled or accepted it (a relayed dial shows the provider's
  // endpoint; a relayed accept, the relay's); nullopt when none is attached.
  std::optional<Endpoint> peer_address(const NodeId& peer) const;
  const NodeId& node_id() const;
  const XOnlyPubKey& node_key() const;
  HostStats stats() const;

  // The clock every session input carries (system clock, Unix ms).
  static TimeMs now_ms();

 private:
  std::shared_ptr<HostImpl> impl_;
};

}  // namespace bc::sal

namespace boost::system {
template <>
struct is_error_code_enum<bc::sal::HostError> : std::true_type {};
template <>
struct is_error_code_enum<bc::sal::Reason> : std::true_type {};
}  // namespace boost::system
