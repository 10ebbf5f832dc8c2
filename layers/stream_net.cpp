#include "layers/stream_net.hpp"

#include "layers/asio_endpoint.hpp"
#include "layers/assert.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <deque>
#include <map>
#include <set>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

namespace bc {
namespace {
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

}  // namespace

struct StreamNet::Impl : std::enable_shared_from_this<Impl> {
  struct Conn {
    ConnId id = 0;
    tcp::socket socket;
    Endpoint remote;
    std::optional<Endpoint> dialled;  // set for outbound
    std::array<std::uint8_t, 4> header{};
    Bytes body;               // received so far, plus the chunk being read
    std::size_t want = 0;     // announced length of the frame being read
    std::size_t got = 0;      // bytes of it received
    bool inbound = false;
    std::deque<Bytes> queue;  // each already framed
    std::size_t queued_bytes = 0;
    bool writing = false;
    bool closed = false;
    explicit Conn(asio::io_context& io) : socket(io) {}
  };
  struct Wanted {
    TimeMs backoff_ms = 250;
    bool connected = false;
    bool dialling = false;
    std::shared_ptr<asio::steady_timer> timer;
  };

  asio::io_context& io;
  tcp::acceptor acceptor;
  StreamNetOptions opt;
  OnConnect on_connect;
  OnFrame on_frame;
  OnClose on_close;
  std::map<ConnId, std::shared_ptr<Conn>> conns;
  std::map<Endpoint, Wanted> wanted;
  ConnId next_id = 1;
  bool stopped = false;
  StreamNetStats st;
  metrics::Counter* m_oversized = nullptr;
  metrics::Counter* m_overflow = nullptr;
  metrics::Counter* m_frames_in = nullptr;
  metrics::Counter* m_refused = nullptr;
  metrics::Counter* m_evicted = nullptr;
  metrics::Counter* m_fair = nullptr;
  metrics::Gauge* m_conns = nullptr;

  Impl(asio::io_context& io, const Endpoint& bind, StreamNetOptions o, OnConnect c, OnFrame f, OnClose cl)
      : io(io), acceptor(io), opt(o), on_connect(std::move(c)), on_frame(std::move(f)), on_close(std::move(cl)) {
    boost::system::error_code ec;
    const auto ep = to_tcp(bind);
    acceptor.open(ep.protocol(), ec);
    if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor.bind(ep, ec);
    if (!ec) acceptor.listen(64, ec);
    if (ec)
      throw std::runtime_error("cannot listen on tcp " + bind.to_string() + ": " + ec.message() +
                               "; the ledger's TCP port is the --listen port, so it must be free for TCP too");
    if (opt.metrics) {
      m_oversized = &opt.metrics->counter("bc_stream_oversized_frames_total", "Frames above the limit (connection closed)");
      m_overflow = &opt.metrics->counter("bc_stream_queue_overflows_total", "Connections closed because their send queue was full");
      m_frames_in = &opt.metrics->counter("bc_stream_frames_received_total", "Frames received over TCP");
      m_refused = &opt.metrics->counter("bc_stream_refused_total", "Inbound connections closed at once: over the total or per-IP cap");
      m_evicted = &opt.metrics->counter("bc_stream_partial_evictions_total", "Connections closed for holding the largest partial frame when the partial-frame budget was exceeded");
      m_fair = &opt.metrics->counter("bc_stream_fair_evictions_total", "Inbound connections closed to give a slot to a less-represented source address or to a peer this node dials");
      m_conns = &opt.metrics->gauge("bc_stream_connections", "Open TCP connections to other nodes");
    }
  }

  void gauge() {
    if (m_conns) m_conns->set(static_cast<double>(conns.size()));
  }

  void accept() {
    auto conn = std::make_shared<Conn>(io);
    acceptor.async_accept(conn->socket, [self = shared_from_this(), conn](const boost::system::error_code& ec) {
      if (self->stopped) return;
      if (!ec) self->admit(conn);
      self->accept();
    });
  }

  // Inbound admission: the per-IP cap, then the total inbound cap, where a
  // newcomer may take the newest slot of the most-represented address.
  void admit(const std::shared_ptr<Conn>& conn) {
    boost::system::error_code ig;
    conn->remote = from_asio(conn->socket.remote_endpoint(ig));
    std::map<std::array<std::uint8_t, 16>, std::size_t> per_ip;
    std::size_t inbound = 0;
    for (const auto& [id, c] : conns)
      if (c->inbound) ++inbound, ++per_ip[c->remote.ip];
    const std::size_t mine = per_ip[conn->remote.ip];
    const bool too_many_here = mine >= opt.max_inbound_per_ip;
    if (!too_many_here && inbound >= opt.max_inbound) {
      make_room(per_ip, mine);
      if (known(conn->remote.ip) && inbound_count() >= opt.max_inbound) evict_unknown();
    }
    if (too_many_here || inbound_count() >= opt.max_inbound) {
      ++st.refused;
      if (too_many_here) ++st.refused_per_ip;
      if (m_refused) m_refused->inc();
      conn->socket.close(ig);
      return;
    }
    ++st.accepts;
    conn->inbound = true;
    open(conn);
  }

  std::size_t inbound_count() const {
    std::size_t n = 0;
    for (const auto& [id, c] : conns) n += c->inbound;
    return n;
  }

  // Closes the newest inbound connection of the address holding the most,
  // if it holds more than `mine` + 1 (so the shares get more even, never less).
  void make_room(const std::map<std::array<std::uint8_t, 16>, std::size_t>& per_ip, std::size_t mine) {
    auto top = per_ip.begin();
    for (auto it = per_ip.begin(); it != per_ip.end(); ++it)
      if (it->second > top->second) top = it;
    if (top == per_ip.end() || top->second <= mine + 1) return;
    std::shared_ptr<Conn> newest;
    for (const auto& [id, c] : conns)
      if (c->inbound && c->remote.ip == top->first) newest = c;  // ids ascend: the last is the newest
    BC_ASSERT(newest != nullptr);
    ++st.fair_evictions;
    if (m_fair) m_fair->inc();
    drop(newest);
  }

  // An address this node dials (a configured peer or a contact it chose).
  bool known(const std::array<std::uint8_t, 16>& ip) const {
    return std::any_of(wanted.begin(), wanted.end(), [&](const auto& w) { return w.first.ip == ip; });
  }

  // Closes the newest inbound connection from an address this node does not dial, if any.
  void evict_unknown() {
    std::shared_ptr<Conn> newest;
    for (const auto& [id, c] : conns)
      if (c->inbound && !known(c->remote.ip)) newest = c;  // ids ascend: the last is the newest
    if (!newest) return;
    ++st.fair_evictions;
    if (m_fair) m_fair->inc();
    drop(newest);
  }

  void open(const std::shared_ptr<Conn>& conn) {
    conn->id = next_id++;
    boost::system::error_code ig;
    conn->socket.set_option(tcp::no_delay(true), ig);
    if (opt.user_timeout_ms > 0) {
      const unsigned ms = opt.user_timeout_ms;
      ::setsockopt(conn->socket.native_handle(), IPPROTO_TCP, TCP_USER_TIMEOUT, &ms, sizeof ms);  // best effort
    }
    conns[conn->id] = conn;
    gauge();
    if (on_connect) on_connect(conn->id, conn->remote, conn->dialled.has_value());
    if (!conn->closed) read_header(conn);
  }

  void dial(const Endpoint& peer) {
    auto& w = wanted[peer];
    if (w.connected || w.dialling || stopped) return;
    w.dialling = true;
    auto conn = std::make_shared<Conn>(io);
    conn->dialled = peer;
    conn->remote = peer;
    // Dial from our own listen address: peers then see distinct IPs for
    // distinct nodes (on loopback devnets too), which the per-IP cap relies on.
    boost::system::error_code ig;
    const auto target = to_tcp(peer);
    const auto local = acceptor.local_endpoint(ig).address();
    if (!ig && !local.is_unspecified() && local.is_v4() == target.address().is_v4()) {
      conn->socket.open(target.protocol(), ig);
      if (!ig) conn->socket.bind(tcp::endpoint(local, 0), ig);
      if (ig) conn->socket.close(ig);  // fall back to the kernel's choice of source
    }
    auto deadline = std::make_shared<asio::steady_timer>(io);
    auto connect_done = std::make_shared<bool>(false);
    if (opt.dial_timeout_ms > 0) {
      deadline->expires_after(std::chrono::milliseconds(opt.dial_timeout_ms));
      deadline->async_wait([conn, connect_done](const boost::system::error_code& ec) {
        boost::system::error_code ig2;
        if (!ec && !*connect_done) conn->socket.close(ig2);  // the connect completes with operation_aborted
      });
    }
    conn->socket.async_connect(target, [self = shared_from_this(), conn, peer, deadline, connect_done](const boost::system::error_code& ec) {
      *connect_done = true;
      deadline->cancel();
      if (self->stopped) return;
      auto& w = self->wanted[peer];
      w.dialling = false;
      if (ec || self->outbound_count() >= self->opt.max_outbound) return self->retry_later(peer);
      ++self->st.connects;
      w.connected = true;
      self->open(conn);
    });
  }

  std::size_t outbound_count() const {
    std::size_t n = 0;
    for (const auto& [id, c] : conns) n += c->dialled.has_value();
    return n;
  }

  void retry_later(const Endpoint& peer) {
    auto& w = wanted[peer];
    if (!w.timer) w.timer = std::make_shared<asio::steady_timer>(io);
    w.timer->expires_after(std::chrono::milliseconds(w.backoff_ms));
    w.backoff_ms = std::min<TimeMs>(w.backoff_ms * 2, 8000);
    w.timer->async_wait([self = shared_from_this(), peer](const boost::system::error_code& ec) {
      if (!ec && !self->stopped) self->dial(peer);
    });
  }

  void read_header(const std::shared_ptr<Conn>& conn) {
    asio::async_read(conn->socket, asio::buffer(conn->header),
                     [self = shared_from_this(), conn](const boost::system::error_code& ec, std::size_t) {
                       if (ec || conn->closed) return self->drop(conn);
                       const std::size_t len = (std::size_t(conn->header[0]) << 24) | (std::size_t(conn->header[1]) << 16) |
                                               (std::size_t(conn->header[2]) << 8) | conn->header[3];
                       if (len > self->opt.max_frame_bytes) {
                         ++self->st.oversized;
                         if (self->m_oversized) self->m_oversized->inc();
                         return self->drop(conn);
                       }
                       conn->want = len;
                       conn->got = 0;
                       if (len == 0) return self->deliver(conn);
                       self->read_body(conn);
                     });
  }

  // Sizes this connection's partial frame to `bytes` and keeps the totals in
  // allocated bytes (capacity), which grows geometrically but never past the
  // announced length, so copies stay amortised O(1) per byte.
  void hold(Conn& conn, std::size_t bytes) {
    const std::size_t before = conn.body.capacity();
    if (bytes > before) conn.body.reserve(std::min(std::max(bytes, 2 * before), conn.want));
    conn.body.resize(bytes);
    st.partial_bytes = st.partial_bytes - before + conn.body.capacity();
    st.partial_bytes_peak = std::max(st.partial_bytes_peak, st.partial_bytes);
  }

  // Over the partial-frame budget: close the connections holding the most until under it.
  void enforce_partial_budget() {
    while (st.partial_bytes > opt.max_partial_bytes) {
      std::shared_ptr<Conn> largest;
      for (const auto& [id, c] : conns)
        if (!largest || c->body.capacity() > largest->body.capacity()) largest = c;
      if (!largest || largest->body.capacity() == 0) return;
      ++st.partial_evictions;
      if (m_evicted) m_evicted->inc();
      drop(largest);
    }
  }

  // Reads the next chunk of the body: memory grows only with bytes the peer really sent.
  void read_body(const std::shared_ptr<Conn>& conn) {
    const std::size_t chunk = std::min(conn->want - conn->got, std::max<std::size_t>(opt.read_chunk_bytes, 1));
    hold(*conn, conn->got + chunk);
    enforce_partial_budget();
    if (conn->closed) return;
    conn->socket.async_read_some(
        asio::buffer(conn->body.data() + conn->got, chunk),
        [self = shared_from_this(), conn](const boost::system::error_code& ec, std::size_t n) {
          if (ec || conn->closed) return self->drop(conn);
          conn->got += n;
          self->hold(*conn, conn->got);
          if (conn->got < conn->want) return self->read_body(conn);
          self->deliver(conn);
        });
  }

  void deliver(const std::shared_ptr<Conn>& conn) {
    ++st.frames_in;
    st.bytes_in += conn->want + 4;
    if (m_frames_in) m_frames_in->inc();
    st.partial_bytes -= conn->body.capacity();
    const Bytes frame = std::move(conn->body);
    conn->body = {};
    conn->want = conn->got = 0;
    // A dialled peer that speaks is redialled promptly next time it drops.
    if (conn->dialled && !stopped) wanted[*conn->dialled].backoff_ms = 250;
    if (on_frame) on_frame(conn->id, frame);
    if (!conn->closed) read_header(conn);
  }

  bool send(ConnId id, Bytes payload) {
    auto it = conns.find(id);
    if (it == conns.end() || it->second->closed) return false;
    auto conn = it->second;
    if (payload.size() > opt.max_frame_bytes) return false;
    if (conn->queued_bytes + payload.size() > opt.max_queue_bytes) {
      ++st.queue_overflows;
      if (m_overflow) m_overflow->inc();
      drop(conn);
      return false;
    }
    Bytes framed(4 + payload.size());
    const auto n = static_cast<std::uint32_t>(payload.size());
    framed[0] = n >> 24;
    framed[1] = n >> 16;
    framed[2] = n >> 8;
    framed[3] = n;
    std::copy(payload.begin(), payload.end(), framed.begin() + 4);
    conn->queued_bytes += framed.size();
    conn->queue.push_back(std::move(framed));
    if (!conn->writing) write_next(conn);
    return true;
  }

  void write_next(const std::shared_ptr<Conn>& conn) {
    if (conn->queue.empty() || conn->closed) {
      conn->writing = false;
      return;
    }
    conn->writing = true;
    asio::async_write(conn->socket, asio::buffer(conn->queue.front()),
                      [self = shared_from_this(), conn](const boost::system::error_code& ec, std::size_t n) {
                        if (ec || conn->closed) return self->drop(conn);
                        ++self->st.frames_out;
                        self->st.bytes_out += n;
                        conn->queued_bytes -= conn->queue.front().size();
                        conn->queue.pop_front();
                        self->write_next(conn);
                      });
  }

  void drop(const std::shared_ptr<Conn>& ref) {
    // `ref` may be the map's own element, which conns.erase destroys.
    const std::shared_ptr<Conn> conn = ref;
    if (conn->closed) return;
    conn->closed = true;
    boost::system::error_code ig;
    conn->socket.close(ig);
    // The pending read (if any) is aborted by the close; its buffer is freed with the Conn.
    st.partial_bytes -= conn->body.capacity();
    conns.erase(conn->id);
    gauge();
    if (on_close && !stopped) on_close(conn->id);
    if (conn->dialled && !stopped) {
      auto& w = wanted[*conn->dialled];
      w.connected = false;
      retry_later(*conn->dialled);
    }
  }

  void stop() {
    if (stopped) return;
    stopped = true;
    boost::system::error_code ig;
    acceptor.close(ig);
    for (auto& [p, w] : wanted)
      if (w.timer) w.timer->cancel();
    auto all = conns;
    for (auto& [id, c] : all) drop(c);
  }
};

StreamNet::StreamNet(asio::io_context& io, const Endpoint& bind, StreamNetOptions options, OnConnect on_connect,
                     OnFrame on_frame, OnClose on_close)
    : impl_(std::make_shared<Impl>(io, bind, options, std::move(on_connect), std::move(on_frame), std::move(on_close))) {}
StreamNet::~StreamNet() { impl_->stop(); }
void StreamNet::start() { impl_->accept(); }
void StreamNet::stop() { impl_->stop(); }
void StreamNet::connect(const Endpoint& peer) {
  if (impl_->wanted.count(peer)) return;
  impl_->dial(peer);
}
bool StreamNet::wants(const Endpoint& peer) const { return impl_->wanted.count(peer) != 0; }
bool StreamNet::send(ConnId conn, Bytes frame) { return impl_->send(conn, std::move(frame)); }
void StreamNet::close(ConnId conn) {
  if (auto it = impl_->conns.find(conn); it != impl_->conns.end()) impl_->drop(it->second);
}
std::size_t StreamNet::connections() const { return impl_->conns.size(); }
Endpoint StreamNet::local_endpoint() const {
  boost::system::error_code ec;
  return from_asio(impl_->acceptor.local_endpoint(ec));
}
StreamNetStats StreamNet::stats() const { return impl_->st; }

}  // namespace bc
