#include "layers/asio_driver.hpp"

#include "layers/asio_endpoint.hpp"

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <string>

#include <boost/asio/ip/udp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

namespace bc {
namespace {

namespace asio = boost::asio;
using udp = asio::ip::udp;

}  // namespace

struct AsioUdpDriver::Impl : std::enable_shared_from_this<Impl> {
  Impl(asio::io_context& io, DatagramProtocol& p, AsioUdpDriverOptions o)
      : io(io), protocol(p), options(o), socket(io), timer(io) {
    buffer.resize(options.max_datagram_bytes + 1);  // +1 detects oversized datagrams
    if (auto* m = options.metrics) {
      m_received = &m->counter("bc_udp_received_total", "UDP datagrams handed to the protocol");
      m_received_bytes = &m->counter("bc_udp_received_bytes_total", "UDP payload bytes received");
      m_oversized = &m->counter("bc_udp_oversized_dropped_total",
                                "UDP datagrams dropped for exceeding the maximum size");
      m_receive_errors = &m->counter("bc_udp_receive_errors_total", "UDP receive errors");
      m_sent = &m->counter("bc_udp_sent_total", "UDP datagrams sent");
      m_sent_bytes = &m->counter("bc_udp_sent_bytes_total", "UDP payload bytes sent");
      m_send_errors = &m->counter("bc_udp_send_errors_total",
                                  "UDP datagrams not sent (error or full socket buffer)");
    }
  }

  asio::io_context& io;
  DatagramProtocol& protocol;
  AsioUdpDriverOptions options;
  udp::socket socket;
  asio::steady_timer timer;
  std::vector<std::uint8_t> buffer;
  udp::endpoint sender;
  Endpoint local;
  bool running = false;
  std::uint64_t socket_generation = 0;
  bool timer_armed = false;
  TimeMs armed_wakeup = 0;
  std::uint64_t timer_generation = 0;
  AsioUdpDriverStats stats;
  metrics::Counter* m_received = nullptr;
  metrics::Counter* m_received_bytes = nullptr;
  metrics::Counter* m_oversized = nullptr;
  metrics::Counter* m_receive_errors = nullptr;
  metrics::Counter* m_sent = nullptr;
  metrics::Counter* m_sent_bytes = nullptr;
  metrics::Counter* m_send_errors = nullptr;

  static void inc(metrics::Counter* c, std::uint64_t n = 1) {
    if (c) c->inc(n);
  }

  udp::socket open_bound(const Endpoint& at) {
    const auto ep = to_udp(at);
    udp::socket s(io);
    boost::system::error_code ec;
    s.open(ep.protocol(), ec);
    if (!ec) s.bind(ep, ec);
    if (ec) {
      throw std::runtime_error("cannot bind UDP socket on " + at.to_string() + ": " +
                               ec.message() + " — " + bind_advice(ec));
    }
    // UDP sends never block the io thread: a full buffer drops the datagram.
    s.non_blocking(true);
    if (options.receive_buffer_bytes > 0) {
      boost::system::error_code ignored;  // best effort: the kernel may cap or refuse it
      s.set_option(asio::socket_base::receive_buffer_size(
                       static_cast<int>(options.receive_buffer_bytes)),
                   ignored);
    }
    return s;
  }

  void bind(const Endpoint& at) {
    socket = open_bound(at);
    local = from_asio(socket.local_endpoint());
  }

  // The new socket is bound before the old one closes, so a failed rebind
  // leaves the driver as it was.
  void rebind(const Endpoint& at) {
    udp::socket fresh = open_bound(at);
    ++socket_generation;  // handlers of the old socket must not re-arm
    boost::system::error_code ignored;
    socket.close(ignored);
    socket = std::move(fresh);
    local = from_asio(socket.local_endpoint());
    receive();
  }

  void receive() {
    if (!running) return;
    socket.async_receive_from(
        asio::buffer(buffer), sender,
        [self = shared_from_this(), gen = socket_generation](const boost::system::error_code& ec,
                                                              std::size_t n) {
          if (gen == self->socket_generation) self->on_receive(ec, n);
        });
  }

  void on_receive(const boost::system::error_code& ec, std::size_t n) {
    if (!running || ec == asio::error::operation_aborted) return;
    handle_datagram(ec, n);
    // Drain what else is queued (bounded) before going back to the reactor:
    // one wakeup and one timer re-arm per batch instead of per datagram.
    for (int i = 0; i < 64 && running; ++i) {
      boost::system::error_code more;
      std::size_t m = socket.receive_from(asio::buffer(buffer), sender, 0, more);
      if (more == asio::error::would_block || more == asio::error::try_again) break;
      handle_datagram(more, m);
    }
    rearm();
    receive();
  }

  void handle_datagram(const boost::system::error_code& ec, std::size_t n) {
    if (ec) {
      ++stats.receive_errors;
      inc(m_receive_errors);
    } else if (n > options.max_datagram_bytes) {
      ++stats.oversized_dropped;
      inc(m_oversized);
    } else {
      ++stats.received;
      stats.received_bytes += n;
      inc(m_received);
      inc(m_received_bytes, n);
      Outbox out;
      protocol.on_datagram(from_asio(sender), ByteView(buffer.data(), n), now_ms(), out);
      flush(out);
    }
  }

  void flush(Outbox& out) {
    for (auto& d : out.datagrams) {
      boost::system::error_code ec;
      // A v4 socket cannot reach a v6 peer: asio reports that as an error, counted below.
      socket.send_to(asio::buffer(d.payload), to_udp(d.to), 0, ec);
      if (ec) {
        ++stats.send_errors;
        inc(m_send_errors);
      } else {
        ++stats.sent;
        stats.sent_bytes += d.payload.size();
        inc(m_sent);
        inc(m_sent_bytes, d.payload.size());
      }
    }
    out.clear();
  }

  // Arms the single timer at the protocol's next wakeup, unless already there.
  void rearm(bool after_tick = false) {
    if (!running) return;
    const TimeMs wakeup = protocol.next_wakeup();
    if (timer_armed && wakeup == armed_wakeup) return;
    const TimeMs now = now_ms();
    // Never sleep longer than a minute (an early tick is harmless) and never
    // spin on a core whose wakeup stays in the past right after a tick.
    TimeMs delay = std::clamp<TimeMs>(wakeup - now, 0, 60'000);
    if (after_tick && delay == 0) delay = 1;
    timer_armed = true;
    armed_wakeup = wakeup;
    const auto gen = ++timer_generation;
    timer.expires_after(std::chrono::milliseconds(delay));
    timer.async_wait([self = shared_from_this(), gen](const boost::system::error_code& ec) {
      if (ec || !self->running || gen != self->timer_generation) return;
      self->timer_armed = false;
      ++self->stats.ticks;
      Outbox out;
      self->protocol.on_tick(now_ms(), out);
      self->flush(out);
      self->rearm(true);
    });
  }

  void run_call(const std::function<void(TimeMs, Outbox&)>& fn) {
    // Before start() calls run and send (the timer is armed by start());
    // after stop() they are dropped: the protocol may already be gone.
    if (!socket.is_open()) return;
    Outbox out;
    fn(now_ms(), out);
    flush(out);
    rearm();
  }
};

AsioUdpDriver::AsioUdpDriver(asio::io_context& io, DatagramProtocol& protocol,
                             const Endpoint& bind, AsioUdpDriverOptions options)
    : impl_(std::make_shared<Impl>(io, protocol, options)) {
  impl_->bind(bind);
}

AsioUdpDriver::~AsioUdpDriver() { stop(); }

void AsioUdpDriver::start() {
  if (impl_->running) return;
  impl_->running = true;
  impl_->receive();
  impl_->rearm();
}

void AsioUdpDriver::stop() {
  if (!impl_) return;
  impl_->running = false;
  ++impl_->timer_generation;
  boost::system::error_code ec;
  impl_->timer.cancel();
  impl_->socket.close(ec);
}

void AsioUdpDriver::post(std::function<void(TimeMs now, Outbox& out)> fn) {
  asio::post(impl_->io, [self = impl_, fn = std::move(fn)] { self->run_call(fn); });
}

void AsioUdpDriver::call(const std::function<void(TimeMs now, Outbox& out)>& fn) {
  impl_->run_call(fn);
}

void AsioUdpDriver::rebind(const Endpoint& at) { impl_->rebind(at); }

Endpoint AsioUdpDriver::local_endpoint() const { return impl_->local; }
AsioUdpDriverStats AsioUdpDriver::stats() const { return impl_->stats; }

TimeMs AsioUdpDriver::now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace bc
