#include "consensus/pos/probe_client.hpp"

#include <algorithm>
#include <array>
#include <chrono>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

#include "consensus/pos/probe_meter.hpp"
#include "layers/asio_driver.hpp"

namespace bc::pos {
namespace asio = boost::asio;

namespace {

// The generic probe: writes the offer's request, reads and measures the answer.
class GenericExchange final : public ProbeExchange, public std::enable_shared_from_this<GenericExchange> {
 public:
  explicit GenericExchange(Bytes request) : request_(std::move(request)) {}

  void start(std::unique_ptr<sal::ByteStream> flow, std::uint32_t connect_ms, Done done) override {
    stream_ = std::move(flow);
    connect_ms_ = connect_ms;
    done_ = std::move(done);
    auto self = shared_from_this();
    stream_->async_write(request_, [self](const boost::system::error_code& ec, std::size_t) {
      if (self->stopped_) return;
      if (ec) return self->end();
      self->meter_.emplace(AsioUdpDriver::now_ms());
      self->read();
    });
  }

  std::optional<ProbeAnswer> stop() override {
    if (!stopped_ && stream_) stream_->close();
    stopped_ = true;
    if (meter_ && meter_->answered()) return meter_->answer(connect_ms_);
    return std::nullopt;
  }

 private:
  void read() {
    auto self = shared_from_this();
    stream_->async_read_some(buf_, [self](const boost::system::error_code& ec, std::size_t n) {
      if (self->stopped_) return;
      const bool more = self->meter_->on_bytes(ByteView(self->buf_.data(), n), AsioUdpDriver::now_ms());
      if (ec || !more) return self->end();  // the end of the answer, an error, or the byte cap
      self->read();
    });
  }

  void end() {
    Done done = std::move(done_);
    done(stop());
  }

  Bytes request_;
  std::unique_ptr<sal::ByteStream> stream_;
  std::uint32_t connect_ms_ = 0;
  Done done_;
  std::array<std::uint8_t, 16 * 1024> buf_{};
  std::optional<ResponseMeter> meter_;
  bool stopped_ = false;
};

}  // namespace

struct ProbeClient::Probe {
  Probe(asio::io_context& io, std::uint64_t id, Done d, std::shared_ptr<metrics::Registry> m)
      : metrics(std::move(m)), id(id), done(std::move(d)), timer(io) {}
  std::shared_ptr<metrics::Registry> metrics;  // first: destroyed after the host that counts into it
  std::uint64_t id;
  Done done;
  std::unique_ptr<sal::Host> host;
  std::shared_ptr<ProbeExchange> exchange;
  asio::steady_timer timer;
  TimeMs started = 0;
  bool connected = false;
  bool finished = false;
};

ProbeClient::ProbeClient(asio::io_context& io, sal::HostHooks hooks, Endpoint source, TimeMs timeout_ms)
    : io_(io), hooks_(std::move(hooks)), source_(source), timeout_ms_(timeout_ms) {
  hooks_.proof_for = [](const sal::ServiceId&) -> std::optional<Bytes> { return std::nullopt; };
  // A provider that refuses probes is the audit's finding, not the node's warning.
  hooks_.log = [](sal::HostLogLevel, const std::string& line) { spdlog::debug("pos probe: {}", line); };
  source_.port = 0;
}

ProbeClient::~ProbeClient() {
  for (auto& [id, p] : probes_) {
    p->finished = true;  // Done never runs
    p->timer.cancel();
    if (p->connected) p->exchange->stop();
    p->host->stop();
  }
}

void ProbeClient::probe(const ProbeSend& send, Done done) {
  auto p = std::make_shared<Probe>(io_, next_++, std::move(done), host_metrics_);
  if (send.storage) {
    if (!storage_exchange_) return asio::post(io_, [p] { p->done(std::nullopt); });  // never from inside probe()
    p->exchange = storage_exchange_(io_, send);
  } else {
    p->exchange = std::make_shared<GenericExchange>(probe_wire_request(send.request));
  }
  sal::HostConfig config;
  if (relay_picker_) config.relays = relay_picker_(send.service_id);
  p->host = std::make_unique<sal::Host>(io_, KeyPair::generate(), source_, config, hooks_, *p->metrics);
  p->started = AsioUdpDriver::now_ms();
  probes_.emplace(p->id, p);
  p->timer.expires_after(std::chrono::milliseconds(timeout_ms_));
  p->timer.async_wait([this, p](const boost::system::error_code& ec) {
    if (!ec) finish(p, p->connected ? p->exchange->stop() : std::nullopt);
  });
  p->host->async_connect(send.service_id, [this, p](const boost::system::error_code& ec, std::unique_ptr<sal::ByteStream> s) {
    if (p->finished) return;
    if (ec || !s) return finish(p, std::nullopt);
    p->connected = true;
    const auto connect_ms = static_cast<std::uint32_t>(std::max<TimeMs>(0, AsioUdpDriver::now_ms() - p->started));
    p->exchange->start(std::move(s), connect_ms, [this, p](std::optional<ProbeAnswer> answer) { finish(p, std::move(answer)); });
  });
}

// Answers Done once, then tears the probe's host down outside its own handlers.
void ProbeClient::finish(const std::shared_ptr<Probe>& p, std::optional<ProbeAnswer> answer) {
  if (p->finished) return;
  p->finished = true;
  p->timer.cancel();
  if (p->connected) p->exchange->stop();
  probes_.erase(p->id);
  asio::post(io_, [p] { p->host->stop(); });
  p->done(std::move(answer));
}

}  // namespace bc::pos
