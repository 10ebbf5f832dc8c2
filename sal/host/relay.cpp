// The flow port's relay (sal/host/relay.hpp, docs/sal-host.md "Relay").
#include "sal/host/relay.hpp"

#include <algorithm>
#include <chrono>

#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include "layers/asio_endpoint.hpp"
#include "layers/assert.hpp"
#include "sal/host/admission.hpp"
#include "sal/host/splice.hpp"
#include "sal/host/tcp_stream.hpp"

namespace bc::sal {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;

std::string_view to_string(RelayVerdict v) {
  switch (v) {
    case RelayVerdict::kOk: return "ok";
    case RelayVerdict::kMalformed: return "malformed";
    case RelayVerdict::kNotProvider: return "not_provider";
    case RelayVerdict::kSelf: return "self";
    case RelayVerdict::kBusy: return "busy";
    case RelayVerdict::kUnreachable: return "unreachable";
  }
  return "unknown";
}

// ---------------------------------------------------------------- codec

namespace {
constexpr std::size_t kVersionAt = 4;
constexpr std::size_t kReservedAt = 5;
constexpr std::size_t kIpAt = 6;
constexpr std::size_t kPortAt = kIpAt + 16;
constexpr std::size_t kServiceAt = kPortAt + 2;
static_assert(kServiceAt + 32 == kRelayRequestSize);
static_assert(kRelayMagic[0] != 0x16, "the magic must not look like a TLS handshake record");
}  // namespace

std::array<std::uint8_t, kRelayRequestSize> encode_relay_request(const RelayRequest& r) {
  std::array<std::uint8_t, kRelayRequestSize> out{};
  std::copy(kRelayMagic.begin(), kRelayMagic.end(), out.begin());
  out[kVersionAt] = kRelayVersion;
  out[kReservedAt] = 0;
  std::copy(r.target.ip.begin(), r.target.ip.end(), out.begin() + kIpAt);
  out[kPortAt] = static_cast<std::uint8_t>(r.target.port >> 8);
  out[kPortAt + 1] = static_cast<std::uint8_t>(r.target.port & 0xff);
  std::copy(r.service.bytes.begin(), r.service.bytes.end(), out.begin() + kServiceAt);
  return out;
}

std::optional<RelayRequest> decode_relay_request(ByteView b) {
  if (b.size() != kRelayRequestSize) return std::nullopt;
  if (!std::equal(kRelayMagic.begin(), kRelayMagic.end(), b.begin())) return std::nullopt;
  if (b[kVersionAt] != kRelayVersion || b[kReservedAt] != 0) return std::nullopt;
  RelayRequest r;
  std::copy_n(b.begin() + kIpAt, 16, r.target.ip.begin());
  r.target.port = static_cast<std::uint16_t>((b[kPortAt] << 8) | b[kPortAt + 1]);
  std::copy_n(b.begin() + kServiceAt, 32, r.service.bytes.begin());
  if (r.target.port == 0 || to_asio_address(r.target).is_unspecified()) return std::nullopt;
  return r;
}

// ---------------------------------------------------------------- relay

namespace {
TimeMs steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

struct Relay::Pair {
  Pair(asio::io_context& io, tcp::socket c) : client(std::move(c)), timer(io) {}
  tcp::socket client;
  Endpoint remote;
  std::string source;  // Admission::source_key(remote)
  std::array<std::uint8_t, kRelayRequestSize> req{};
  std::optional<RelayRequest> request;
  std::unique_ptr<TcpStream> target;
  asio::steady_timer timer;  // the setup deadline, then the idle checks
  std::uint8_t verdict = 0;
  std::shared_ptr<Splice> splice;
  std::uint64_t counted_to_target = 0;
  std::uint64_t counted_to_client = 0;
  std::uint64_t last_total = 0;
  TimeMs last_move = 0;
  std::function<void()> closed;
  bool ended = false;
};

Relay::Metrics::Metrics(metrics::Registry& r)
    : pairs(r.gauge("bc_sal_relay_pairs", "connections the flow port relays now, any phase")),
      accepted(r.counter("bc_sal_relay_accepted_total", "relay requests taken: the target is connected")),
      refused_malformed(r.counter("bc_sal_relay_refused_total", "relay requests refused", {{"reason", "malformed"}})),
      refused_timeout(r.counter("bc_sal_relay_refused_total", "relay requests refused", {{"reason", "timeout"}})),
      refused_not_provider(
          r.counter("bc_sal_relay_refused_total", "relay requests refused", {{"reason", "not_provider"}})),
      refused_self(r.counter("bc_sal_relay_refused_total", "relay requests refused", {{"reason", "self"}})),
      refused_busy(r.counter("bc_sal_relay_refused_total", "relay requests refused", {{"reason", "busy"}})),
      refused_unreachable(
          r.counter("bc_sal_relay_refused_total", "relay requests refused", {{"reason", "unreachable"}})),
      bytes_to_target(r.counter("bc_sal_relay_bytes_total", "bytes relayed", {{"direction", "to_target"}})),
      bytes_to_client(r.counter("bc_sal_relay_bytes_total", "bytes relayed", {{"direction", "to_client"}})),
      idle_closed(r.counter("bc_sal_relay_idle_closed_total", "relayed pairs closed for moving no byte")) {}

Relay::Relay(asio::io_context& io, RelayConfig config, RelayCheck resolve, metrics::Registry& registry)
    : io_(io), cfg_(config), resolve_(std::move(resolve)), m_(registry) {
  BC_ASSERT(resolve_);
}

void Relay::take(tcp::socket client, const Endpoint& remote, std::function<void()> closed) {
  std::string source = Admission::source_key(remote);
  const auto held = per_source_.find(source);
  if (pairs_.size() >= cfg_.max_pairs ||
      (held != per_source_.end() && held->second >= cfg_.max_pairs_per_source)) {
    // Nothing read yet: closing at once costs the least, and the client
    // sees its dial fail either way.
    m_.refused_busy.inc();
    error_code ig;
    client.close(ig);
    if (closed) closed();
    return;
  }
  auto p = std::make_shared<Pair>(io_, std::move(client));
  p->remote = remote;
  p->source = std::move(source);
  p->closed = std::move(closed);
  pairs_.insert(p);
  ++per_source_[p->source];
  m_.pairs.set(double(pairs_.size()));
  p->timer.expires_after(std::chrono::milliseconds(cfg_.request_timeout_ms));
  p->timer.async_wait([self = shared_from_this(), p](const error_code& ec) {
    if (ec || p->ended || p->splice) return;
    self->m_.refused_timeout.inc();
    self->end(p);
  });
  asio::async_read(p->client, asio::buffer(p->req), [self = shared_from_this(), p](const error_code& ec, std::size_t) {
    if (p->ended) return;
    if (ec) return self->end(p);  // gone before its request: nothing to answer
    self->on_request(p);
  });
}

void Relay::on_request(const std::shared_ptr<Pair>& p) {
  p->request = decode_relay_request(ByteView(p->req.data(), p->req.size()));
  if (!p->request) return refuse(p, RelayVerdict::kMalformed);
  // Dialling our own flow port would loop a request back into us.
  if (p->request->target == local_) return refuse(p, RelayVerdict::kSelf);
  std::weak_ptr<Relay> weak = weak_from_this();
  resolve_(p->request->service, [weak, p](std::vector<Candidate> providers) {
    auto self = weak.lock();
    if (!self || p->ended) return;
    self->on_checked(p, providers);
  });
}

void Relay::on_checked(const std::shared_ptr<Pair>& p, const std::vector<Candidate>& providers) {
  const Endpoint target = p->request->target;
  const bool listed = std::any_of(providers.begin(), providers.end(), [&](const Candidate& c) {
    return std::find(c.addresses.begin(), c.addresses.end(), target) != c.addresses.end();
  });
  if (!listed) return refuse(p, RelayVerdict::kNotProvider);
  std::optional<Endpoint> from;
  if (local_.is_v4() == target.is_v4() && !to_asio_address(local_).is_unspecified()) {
    from = local_;
    from->port = 0;
  }
  // The setup deadline still runs and bounds the connect too.
  TcpStream::async_connect(io_, target, from, std::chrono::milliseconds(cfg_.request_timeout_ms),
                           [self = shared_from_this(), p](const error_code& ec, std::unique_ptr<TcpStream> s) {
                             if (p->ended) return;
                             if (ec) return self->refuse(p, RelayVerdict::kUnreachable);
                             p->target = std::move(s);
                             self->on_target(p);
                           });
}

void Relay::on_target(const std::shared_ptr<Pair>& p) {
  p->verdict = static_cast<std::uint8_t>(RelayVerdict::kOk);
  asio::async_write(p->client, asio::buffer(&p->verdict, 1), [self = shared_from_this(), p](const error_code& ec, std::size_t) {
    if (p->ended) return;
    if (ec) return self->end(p);
    self->m_.accepted.inc();
    self->start_splice(p);
  });
}

void Relay::refuse(const std::shared_ptr<Pair>& p, RelayVerdict why) {
  switch (why) {
    case RelayVerdict::kMalformed: m_.refused_malformed.inc(); break;
    case RelayVerdict::kNotProvider: m_.refused_not_provider.inc(); break;
    case RelayVerdict::kSelf: m_.refused_self.inc(); break;
    case RelayVerdict::kBusy: m_.refused_busy.inc(); break;
    case RelayVerdict::kUnreachable: m_.refused_unreachable.inc(); break;
    case RelayVerdict::kOk: BC_ASSERT(false && "refuse() with kOk"); break;
  }
  // The client has sent all it may before the verdict, so closing after
  // the byte ends the connection with a FIN, and the client reads the reason.
  p->verdict = static_cast<std::uint8_t>(why);
  asio::async_write(p->client, asio::buffer(&p->verdict, 1),
                    [self = shared_from_this(), p](const error_code&, std::size_t) { self->end(p); });
}

void Relay::start_splice(const std::shared_ptr<Pair>& p) {
  p->timer.cancel();
  auto client = std::make_unique<TcpStream>(std::move(p->client));
  p->last_move = steady_ms();
  p->splice = Splice::start(std::move(client), std::move(p->target), [self = shared_from_this(), p](const SpliceResult&) {
    self->count_bytes(*p);
    self->end(p);
  });
  if (!p->ended) watch_idle(p);
}

// A pair that moves nothing for idle_timeout_ms is closed: a SAL session
// sends a keepalive every 15 s, so only a dead or abandoned pair stays idle.
// The same check, at most a second apart, keeps the byte counters current.
void Relay::watch_idle(const std::shared_ptr<Pair>& p) {
  const TimeMs period = std::clamp<TimeMs>(cfg_.idle_timeout_ms / 4, 10, 1'000);
  p->timer.expires_after(std::chrono::milliseconds(period));
  p->timer.async_wait([self = shared_from_this(), p](const error_code& ec) {
    if (ec || p->ended || !p->splice) return;
    self->count_bytes(*p);
    const std::uint64_t total = p->splice->a_to_b() + p->splice->b_to_a();
    const TimeMs t = steady_ms();
    if (total != p->last_total) {
      p->last_total = total;
      p->last_move = t;
    } else if (t - p->last_move >= self->cfg_.idle_timeout_ms) {
      self->m_.idle_closed.inc();
      return self->end(p);
    }
    self->watch_idle(p);
  });
}

void Relay::count_bytes(Pair& p) {
  if (!p.splice) return;
  m_.bytes_to_target.inc(p.splice->a_to_b() - p.counted_to_target);
  m_.bytes_to_client.inc(p.splice->b_to_a() - p.counted_to_client);
  p.counted_to_target = p.splice->a_to_b();
  p.counted_to_client = p.splice->b_to_a();
}

void Relay::end(const std::shared_ptr<Pair>& p) {
  if (p->ended) return;
  p->ended = true;
  p->timer.cancel();
  if (p->splice) {
    p->splice->stop();  // runs its handler: counts the last bytes, finds ended set
    count_bytes(*p);
    p->splice.reset();
  }
  error_code ig;
  p->client.close(ig);
  if (p->target) p->target->close();
  pairs_.erase(p);
  if (auto it = per_source_.find(p->source); it != per_source_.end() && --it->second == 0) per_source_.erase(it);
  m_.pairs.set(double(pairs_.size()));
  if (auto closed = std::move(p->closed)) {
    p->closed = nullptr;
    closed();
  }
}

void Relay::stop() {
  for (auto& p : std::vector<std::shared_ptr<Pair>>(pairs_.begin(), pairs_.end())) end(p);
}

}  // namespace bc::sal
