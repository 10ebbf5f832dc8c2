#include "apps/storage/net/sal_transport.hpp"

#include <algorithm>
#include <chrono>

#include <boost/asio/post.hpp>

#include "layers/assert.hpp"

namespace bc::storage {
namespace {
constexpr std::size_t kMaxQueuedBytes = 64 * kMaxRequestBytes;
}

SalTransport::SalTransport(boost::asio::io_context& io, sal::ServiceConnector& connector,
                           std::vector<sal::ServiceId> providers, SalTransportOptions options)
    : io_(io), connector_(connector), options_(options) {
  links_.resize(providers.size());
  for (std::size_t i = 0; i < providers.size(); ++i) links_[i].service = providers[i];
}

SalTransport::~SalTransport() {
  *alive_ = false;
  for (auto& l : links_)
    if (l.flow) l.flow->close();
}

void SalTransport::mark_down(std::size_t i, std::string why) {
  Link& l = links_[i];
  if (l.state != State::kDown) gave_up_.push_back(i);
  if (l.flow) l.flow->close();
  l.flow.reset();
  l.waiting.clear();
  l.expected = 0;
  l.state = State::kDown;
  l.why = std::move(why);
}

// Back to idle, not down: its flow is closed (an answer still on its way is
// lost with it) and the next exchange that needs it connects again.
void SalTransport::release(std::size_t i) {
  Link& l = links_[i];
  if (l.flow) l.flow->close();
  l.flow.reset();
  l.waiting.clear();
  l.expected = 0;
  if (l.state != State::kDown) l.state = State::kIdle;
}

void SalTransport::send_on_flow(Link& l, Bytes request) {
  if (l.sent_at == Clock::time_point{}) l.sent_at = Clock::now();
  l.flow->send(std::move(request));
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
        [this, alive, i](Bytes frame) {
          if (!alive.lock()) return;
          Link& link = links_[i];
          if (link.expected == 0) return;  // an answer after its exchange gave up: dropped
          const auto now = Clock::now();
          if (--link.expected == 0) link.answered_at = now;
          link.give_up_at = now + std::chrono::milliseconds(options_.exchange_timeout_ms);
          answers_.push_back({i, std::move(frame)});
        },
        [this, alive, i](const std::string& why) {
          if (alive.lock()) mark_down(i, "flow ended: " + why);
        },
        buffers_, FramedFlow::Sent::kRecycle);  // a put's request goes back to the pool once sent
    l.state = State::kOpen;
    for (auto& w : l.waiting) send_on_flow(l, std::move(w));
    l.waiting.clear();
  });
}

bool SalTransport::settled() const {
  for (const auto& l : links_)
    if (l.expected > 0) return false;
  return true;
}

// Sends each call on its provider's flow, connecting first where needed; a
// call to a provider that is down is given up at once.
void SalTransport::send(std::vector<Call> calls) {
  if (io_.stopped()) io_.restart();  // it ran out of work once; run_one would return at once
  const auto give_up_at = Clock::now() + std::chrono::milliseconds(options_.exchange_timeout_ms);
  for (auto& c : calls) {
    BC_ASSERT(c.provider < links_.size());
    Link& l = links_[c.provider];
    if (l.state == State::kDown) {
      gave_up_.push_back(c.provider);
      continue;
    }
    if (l.expected++ == 0) l.give_up_at = give_up_at;
    if (l.state == State::kOpen) {
      send_on_flow(l, std::move(c.request));
      continue;
    }
    l.waiting.push_back(std::move(c.request));
    if (l.state == State::kIdle) connect(c.provider);
  }
}

SalTransport::Clock::time_point SalTransport::give_up_overdue() {
  const auto now = Clock::now();
  auto next = Clock::time_point::max();
  for (std::size_t i = 0; i < links_.size(); ++i) {
    const Link& l = links_[i];
    if (l.expected == 0) continue;
    if (now >= l.give_up_at) mark_down(i, "no answer within " + std::to_string(options_.exchange_timeout_ms) + " ms");
    else next = std::min(next, l.give_up_at);
  }
  return next;
}

ShardTransport::Collected SalTransport::collect() {
  if (io_.stopped()) io_.restart();
  for (;;) {
    io_.poll();  // everything already readable, so answers come in batches
    const auto next = give_up_overdue();
    if (!answers_.empty() || !gave_up_.empty() || settled() || woken_.exchange(false)) break;
    if (io_.run_one_until(next) == 0 && io_.stopped()) io_.restart();
  }
  Collected out;
  out.answers = std::move(answers_);
  out.gave_up = std::move(gave_up_);
  out.settled = settled();
  answers_.clear();
  gave_up_.clear();
  return out;
}

void SalTransport::wake() {
  woken_.store(true);
  boost::asio::post(io_, [] {});  // makes a run_one_until under way return
}

// Waits per provider: until it answers or goes down, or grace_ms after its
// probe went out on its open flow; a connect still under way is waited for
// (the connect is not nearness), all within the exchange timeout.
std::vector<std::int64_t> SalTransport::measure_rtts(const Bytes& probe, TimeMs grace_ms) {
  BC_ASSERT(grace_ms >= 0 && !probe.empty());
  std::vector<Call> calls;
  for (std::size_t i = 0; i < links_.size(); ++i)
    if (links_[i].state != State::kDown) calls.push_back({i, probe});
  BC_ASSERT(settled());
  answers_.clear();
  for (auto& l : links_) l.sent_at = l.answered_at = Clock::time_point{};
  send(std::move(calls));
  const auto deadline = Clock::now() + std::chrono::milliseconds(options_.exchange_timeout_ms);
  const auto grace = std::chrono::milliseconds(grace_ms);
  for (;;) {
    const auto now = Clock::now();
    auto wake = deadline;
    bool waiting = false;
    for (const Link& l : links_) {
      if (l.expected == 0) continue;
      const bool probe_out = l.state == State::kOpen && l.sent_at != Clock::time_point{};
      if (probe_out && now >= l.sent_at + grace) continue;  // a straggler
      waiting = true;
      if (probe_out) wake = std::min(wake, l.sent_at + grace);
    }
    if (!waiting || now >= deadline) break;
    io_.run_one_until(wake);
  }
  answers_.clear();
  gave_up_.clear();
  std::vector<std::int64_t> rtt(links_.size(), -1);
  for (std::size_t i = 0; i < links_.size(); ++i) {
    const Link& l = links_[i];
    if (l.expected > 0) release(i);
    else if (l.state == State::kOpen && l.answered_at != Clock::time_point{})
      rtt[i] = std::chrono::duration_cast<std::chrono::microseconds>(l.answered_at - l.sent_at).count();
  }
  return rtt;
}

std::vector<ShardTransport::Answer> SalTransport::exchange(std::vector<Call> calls) {
  BC_ASSERT(settled());
  send(std::move(calls));
  std::vector<Answer> all;
  for (;;) {
    Collected c = collect();
    all.insert(all.end(), std::make_move_iterator(c.answers.begin()), std::make_move_iterator(c.answers.end()));
    if (c.settled) return all;
  }
}

}  // namespace bc::storage
