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

struct ProbeClient::Probe {
  Probe(asio::io_context& io, std::uint64_t id, Done d) : id(id), done(std::move(d)), timer(io) {}
  std::uint64_t id;
  Done done;
  std::unique_ptr<sal::Host> host;
  std::unique_ptr<sal::ByteStream> stream;
  asio::steady_timer timer;
  Bytes request;
  std::array<std::uint8_t, 16 * 1024> buf{};
  TimeMs started = 0;
  std::uint32_t connect_ms = 0;
  std::optional<ResponseMeter> meter;
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
    if (p->stream) p->stream->close();
    p->host->stop();
  }
}

void ProbeClient::probe(const ProbeSend& send, Done done) {
  auto p = std::make_shared<Probe>(io_, next_++, std::move(done));
  p->host = std::make_unique<sal::Host>(io_, KeyPair::generate(), source_, sal::HostConfig{}, hooks_, host_metrics_);
  p->request = probe_wire_request(send.request);
  p->started = AsioUdpDriver::now_ms();
  probes_.emplace(p->id, p);
  p->timer.expires_after(std::chrono::milliseconds(timeout_ms_));
  p->timer.async_wait([this, p](const boost::system::error_code& ec) {
    if (!ec) finish(p);
  });
  p->host->async_connect(send.service_id, [this, p](const boost::system::error_code& ec, std::unique_ptr<sal::ByteStream> s) {
    if (p->finished) return;
    if (ec || !s) return finish(p);
    p->stream = std::move(s);
    p->connect_ms = static_cast<std::uint32_t>(std::max<TimeMs>(0, AsioUdpDriver::now_ms() - p->started));
    p->stream->async_write(p->request, [this, p](const boost::system::error_code& wec, std::size_t) {
      if (p->finished) return;
      if (wec) return finish(p);
      p->meter.emplace(AsioUdpDriver::now_ms());
      read(p);
    });
  });
}

void ProbeClient::read(const std::shared_ptr<Probe>& p) {
  p->stream->async_read_some(p->buf, [this, p](const boost::system::error_code& ec, std::size_t n) {
    if (p->finished) return;
    const bool more = p->meter->on_bytes(ByteView(p->buf.data(), n), AsioUdpDriver::now_ms());
    if (ec || !more) return finish(p);  // the end of the answer, an error, or the byte cap
    read(p);
  });
}

// Answers Done once, then tears the probe's host down outside its own handlers.
void ProbeClient::finish(const std::shared_ptr<Probe>& p) {
  if (p->finished) return;
  p->finished = true;
  p->timer.cancel();
  std::optional<ProbeAnswer> answer;
  if (p->meter && p->meter->answered()) answer = p->meter->answer(p->connect_ms);
  if (p->stream) p->stream->close();
  probes_.erase(p->id);
  asio::post(io_, [p] { p->host->stop(); });
  p->done(answer);
}

}  // namespace bc::pos
