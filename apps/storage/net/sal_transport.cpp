#include "apps/storage/net/sal_transport.hpp"

#include <chrono>

#include "layers/assert.hpp"

namespace bc::storage {
namespace {
constexpr std::size_t kMaxQueuedBytes = 64 * kMaxRequestBytes;
}

SalTransport::SalTransport(boost::asio::io_context& io, sal::ServiceConnector& connector,
                           std::vector<sal::ServiceId> providers, SalTransportOptions options)
    : io_(io), connector_(connector), options_(options) {
  for (const auto& p : providers) links_.push_back(Link{p});
}

SalTransport::~SalTransport() {
  *alive_ = false;
  for (auto& l : links_)
    if (l.flow) l.flow->close();
}

void SalTransport::mark_down(std::size_t i, std::string why) {
  Link& l = links_[i];
  if (l.flow) l.flow->close();
  l.flow.reset();
  l.waiting.clear();
  l.expected = 0;
  l.state = State::kDown;
  l.why = std::move(why);
}

void SalTransport::connect(std::size_t i) {
  links_[i].state = State::kConnecting;
  std::weak_ptr<bool> alive = alive_;
  connector_.async_connect(links_[i].service, [this, alive, i](const boost::system::error_code& ec,
                                                              std::unique_ptr<sal::ByteStream> stream) {
    if (!alive.lock()) return;
    Link& l = links_[i];
    if (l.state != State::kConnecting) return;  // marked down meanwhile
    if (ec) return mark_down(i, "connect: " + ec.message());
    l.flow = FramedFlow::start(
        std::move(stream), kMaxResponseBytes, kMaxQueuedBytes,
        [this, alive, i](ByteView frame) {
          if (!alive.lock()) return;
          Link& link = links_[i];
          if (link.expected == 0) return;  // an answer after its exchange gave up: dropped
          --link.expected;
          answers_.push_back({i, Bytes(frame.begin(), frame.end())});
        },
        [this, alive, i](const std::string& why) {
          if (alive.lock()) mark_down(i, "flow ended: " + why);
        });
    l.state = State::kOpen;
    for (auto& w : l.waiting) l.flow->send(w);
    l.waiting.clear();
  });
}

bool SalTransport::settled() const {
  for (const auto& l : links_)
    if (l.expected > 0) return false;
  return true;
}

std::vector<ShardTransport::Answer> SalTransport::exchange(std::vector<Call> calls) {
  answers_.clear();
  if (io_.stopped()) io_.restart();  // it ran out of work once; run_one would return at once
  for (auto& c : calls) {
    BC_ASSERT(c.provider < links_.size());
    Link& l = links_[c.provider];
    if (l.state == State::kDown) continue;
    ++l.expected;
    if (l.state == State::kOpen) {
      l.flow->send(c.request);
      continue;
    }
    l.waiting.push_back(std::move(c.request));
    if (l.state == State::kIdle) connect(c.provider);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.exchange_timeout_ms);
  while (!settled() && std::chrono::steady_clock::now() < deadline) io_.run_one_until(deadline);
  for (std::size_t i = 0; i < links_.size(); ++i)
    if (links_[i].expected > 0) mark_down(i, "no answer within " + std::to_string(options_.exchange_timeout_ms) + " ms");
  return std::move(answers_);
}

}  // namespace bc::storage
