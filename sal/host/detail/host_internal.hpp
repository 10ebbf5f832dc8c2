// Internals of sal::Host (sal/host/host.hpp), shared by host.cpp and
// host_stream.cpp. Not a public header.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "sal/host/admission.hpp"
#include "sal/host/host.hpp"
#include "sal/host/relay.hpp"

namespace bc::sal {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;

// A node ID as log lines show it.
inline std::string short_id(const NodeId& id) { return id.hex().substr(0, 12); }

struct Peer;
class FlowStream;

// One TCP connection carrying (after its handshake) one TLS channel.
struct Conn {
  enum class State { kConnecting, kHandshaking, kAttached, kClosed };
  explicit Conn(asio::io_context& io) : sock(io), timer(io) {}

  tcp::socket sock;
  asio::steady_timer timer;  // connect / handshake deadline
  std::unique_ptr<TlsChannel> tls;
  State state = State::kConnecting;
  bool dialer = false;
  Endpoint remote;
  std::optional<NodeId> pin;
  // Dialled through one of HostConfig::relays: that relay, the service
  // named in the request, and where the relay's verdict lands.
  std::optional<Endpoint> relay;
  std::optional<ServiceId> relay_service;
  std::uint8_t relay_verdict = 0;
  Admission::Ticket ticket = 0;  // accepted connections: their admission
  bool sniff = false;  // accepted, nothing read yet: may be a relay request
  std::shared_ptr<Peer> peer;  // set once attached
  bool waiting_read = false;
  bool writing = false;
  Bytes wbuf;   // ciphertext being written (one async_write at a time)
  Bytes plain;  // session output the TLS channel has not taken yet
  Bytes framed; // session output on its way into TLS, kept for its capacity (trim_idle frees it)
  // Dialer: told once, when the connection is attached or fails.
  std::function<void(const error_code&, std::shared_ptr<Peer>)> on_dialed;
};

struct ConnectOp {
  ServiceId service;
  ConnectHandler handler;
  std::vector<Attempt> attempts;
  std::size_t next = 0;
  error_code last_error;
  bool refreshed = false;           // the one fresh resolve after every attempt failed
  std::vector<Endpoint> tried;      // not tried again after that resolve
  bool done = false;
};

// Everything this node has with one peer node: its session and transport.
struct Peer {
  explicit Peer(asio::io_context& io) : redial_timer(io) {}
  NodeId id;
  XOnlyPubKey key;
  std::unique_ptr<Session> session;  // null once dropped
  std::shared_ptr<Conn> conn;        // the attached transport, if any
  bool dialed = false;    // we dialled it: we redial after a break
  bool accepted = false;  // it dialled us
  std::optional<Endpoint> last_endpoint;
  std::optional<ServiceId> last_service;  // re-resolved to find the peer's new address
  std::unordered_map<FlowId, FlowStream*> streams;
  std::unordered_map<FlowId, std::shared_ptr<ConnectOp>> opening;
  // pump() guard: events handled inside may ask for another round.
  bool pumping = false;
  bool dirty = false;
  bool drop_pending = false;
  // redial
  asio::steady_timer redial_timer;
  bool redialing = false;  // a redial round (timer or dial) is under way
  std::uint64_t redial_gen = 0;
  TimeMs backoff = 0;
  TimeMs lost_at = 0;
};

struct HostMetrics {
  explicit HostMetrics(metrics::Registry& r);
  metrics::Gauge& sessions;
  metrics::Gauge& connections;
  metrics::Counter& dials_ok;
  metrics::Counter& dials_failed;
  metrics::Counter& dials_timeout;
  metrics::Counter& relay_failovers;
  metrics::Counter& accepted;
  metrics::Counter& refused_max_connections;
  metrics::Counter& refused_per_ip;
  metrics::Counter& refused_rate;
  metrics::Counter& refused_rate_per_ip;
  metrics::Counter& evicted_handshakes;
  metrics::Counter& refused_max_sessions;
  metrics::Counter& refused_self;
  metrics::Counter& handshake_failures;
  metrics::Counter& handshake_timeouts;
  metrics::Counter& attaches;
  metrics::Counter& attach_refused;
  metrics::Counter& redials;
  metrics::Counter& rebinds;
  metrics::Counter& connects_ok;
  metrics::Counter& connects_failed;
  metrics::Counter& flows_accepted;
  metrics::Counter& flows_no_service;
  metrics::Counter& flows_filtered;
  metrics::Counter& rx_bytes;
  metrics::Counter& tx_bytes;
  metrics::Counter& listen_errors;
  metrics::Counter& transport_lost;
};

struct HostImpl : std::enable_shared_from_this<HostImpl> {
  HostImpl(asio::io_context& io, const KeyPair& key, const Endpoint& listen, HostConfig cfg,
           HostHooks hooks, metrics::Registry& reg);

  asio::io_context& io;
  XOnlyPubKey self_key;
  NodeId self_id;
  HostConfig cfg;
  HostHooks hooks;
  metrics::Registry& reg;
  HostMetrics m;
  std::shared_ptr<TlsContext> tls_ctx;
  SharedLimits limits;
  EndpointPicker picker;
  Rng rng;

  std::unique_ptr<tcp::acceptor> acceptor;
  asio::steady_timer accept_retry;
  Endpoint listen_ep;  // the bound address (real port)
  bool running = false;
  bool stopped = false;

  std::unordered_map<NodeId, std::shared_ptr<Peer>, Hash256Hasher> peers;
  std::unordered_set<std::shared_ptr<Conn>> conns;
  Admission admission;  // of accepted connections
  std::unordered_map<Admission::Ticket, std::shared_ptr<Conn>> admitted;
  std::unordered_map<ServiceId, AcceptHandler, Hash256Hasher> listeners;
  std::unordered_set<std::shared_ptr<ConnectOp>> ops;
  HostStats st;

  asio::steady_timer timer;  // next wakeup of every session
  bool timer_armed = false;
  TimeMs armed_at = 0;
  std::uint64_t timer_gen = 0;
  TimeMs last_expire = 0;
  TimeMs last_trim = 0;
  // At most once a second: frees the buffers of connections with nothing
  // buffered (TLS input and output, framed output), so an idle connection
  // holds only OpenSSL's state while a busy one keeps its buffers warm.
  void trim_idle(TimeMs t);

  std::vector<std::uint8_t> scratch;  // TLS plaintext on its way to a session
  std::shared_ptr<Relay> relay;       // the flow port's relay for other nodes' clients

  static TimeMs now() { return Host::now_ms(); }
  void log(HostLogLevel level, const std::string& msg) const;

  // lifecycle
  void start();
  void stop();
  Result<std::unique_ptr<tcp::acceptor>> open_acceptor(const Endpoint& at);
  void do_accept();
  void on_accept(const error_code& ec, tcp::socket s);
  Status rebind(Endpoint to);

  // connections
  // `service`: what the dial is for, named to HostConfig::relay when set.
  void dial(const Endpoint& to, std::optional<NodeId> pin, std::optional<ServiceId> service,
            std::function<void(const error_code&, std::shared_ptr<Peer>)> done);
  std::optional<Endpoint> next_relay(const Conn& c) const;
  void connect_socket(const std::shared_ptr<Conn>& c);  // to c->relay, else c->remote
  void ask_relay(const std::shared_ptr<Conn>& c);  // request, verdict, then start_tls
  // The next relay, or the dial fails with `ec`.
  void relay_failed(const std::shared_ptr<Conn>& c, const error_code& ec, const char* why);
  void start_tls(const std::shared_ptr<Conn>& c);  // a dialled socket is connected
  bool relay_request_next(Conn& c);    // peeks an accepted socket's first byte
  void hand_to_relay(const std::shared_ptr<Conn>& c);
  void start_read(const std::shared_ptr<Conn>& c);
  void on_readable(const std::shared_ptr<Conn>& c);
  bool process_input(const std::shared_ptr<Conn>& c);  // false if the conn closed
  void on_handshake(const std::shared_ptr<Conn>& c);
  void start_write(const std::shared_ptr<Conn>& c);
  void conn_failed(const std::shared_ptr<Conn>& c, const error_code& ec, const char* why);
  void close_conn(const std::shared_ptr<Conn>& c);
  bool admit(const std::shared_ptr<Conn>& c);  // false: refused (counted)

  // sessions
  std::shared_ptr<Peer> find_peer(const NodeId& id) const;
  std::shared_ptr<Peer> get_or_create_peer(const XOnlyPubKey& key);
  void pump(const std::shared_ptr<Peer>& p);
  void flush_output(Peer& p);
  void dispatch(const std::shared_ptr<Peer>& p, const Event& e);
  void on_incoming_flow(const std::shared_ptr<Peer>& p, const Event& e);
  void on_open_result(const std::shared_ptr<Peer>& p, const Event& e);
  void on_flow_event(const std::shared_ptr<Peer>& p, const Event& e);
  void drop_peer(const std::shared_ptr<Peer>& p);
  bool redial_owner(const Peer& p) const;
  void schedule_redial(const std::shared_ptr<Peer>& p, TimeMs delay);
  void redial_round(const std::shared_ptr<Peer>& p, std::uint64_t gen);
  void redial_try(const std::shared_ptr<Peer>& p, std::uint64_t gen,
                  std::shared_ptr<std::vector<Endpoint>> list, std::size_t i, bool resolved);
  void redial_failed_round(const std::shared_ptr<Peer>& p, std::uint64_t gen);
  void arm(TimeMs at, bool after_tick = false);
  void on_timer();

  // connects
  void connect(const ServiceId& service, ConnectHandler handler);
  void tune_socket(asio::ip::tcp::socket& sock) const;  // TCP_NODELAY, TCP_USER_TIMEOUT
  void try_next(const std::shared_ptr<ConnectOp>& op);
  void resolve_again(const std::shared_ptr<ConnectOp>& op);
  void open_on(const std::shared_ptr<Peer>& p, const std::shared_ptr<ConnectOp>& op);
  void finish(const std::shared_ptr<ConnectOp>& op, const error_code& ec,
              std::unique_ptr<ByteStream> stream);
};

// A flow as a ByteStream, driven by its session's events.
class FlowStream final : public ByteStream {
 public:
  FlowStream(std::shared_ptr<HostImpl> host, std::shared_ptr<Peer> peer, FlowId flow);
  ~FlowStream() override;

  void async_read_some(std::span<std::uint8_t> buf, Handler handler) override;
  void async_write(ByteView data, Handler handler) override;
  void shutdown_send() override;
  void close() override;

  // From the host's event dispatch.
  void on_readable();
  void on_writable();
  void on_gone(const error_code& ec, bool clean);

 private:
  Session* session() const;
  void complete(Handler& h, const error_code& ec, std::size_t n);
  bool try_read();   // true if bytes were read (credit may need an ACK)
  bool try_write();  // true if bytes were taken
  void pump();

  std::shared_ptr<HostImpl> host_;
  std::shared_ptr<Peer> peer_;
  FlowId flow_;
  bool closed_ = false;        // close() called
  bool gone_ = false;          // the flow ended in the session
  bool gone_clean_ = false;    // ... by Closed (reads give EOF)
  error_code gone_ec_;
  bool shutdown_pending_ = false;
  bool shut_ = false;
  std::span<std::uint8_t> rbuf_;
  Handler rh_;
  ByteView wdata_;
  std::size_t woff_ = 0;
  Handler wh_;
};

}  // namespace bc::sal
