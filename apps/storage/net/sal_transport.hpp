// The storage client's ShardTransport over the network: provider i is a
// service ID, reached through a sal::ServiceConnector (sal::Host, or an
// app's sal::AppNode), one flow per provider carrying framed requests
// (flow_frames.hpp).
//
// send() puts the calls on their flows (connecting first where needed);
// collect() runs the io_context until an answer came, a provider was given
// up, or wake() was called; exchange() is send() and collect() until every
// call settled. A provider that cannot be reached, ends its flow, or has
// calls outstanding and answers none for exchange_timeout_ms is marked down
// and answers nothing for the rest of this transport's life: it is waited
// for at most once, and the pipeline reads other shards instead.
//
// Threads: the io_context's thread, except wake() (any thread). send(),
// collect() and exchange() run the io_context themselves, so they must not
// be called from inside one of its handlers.
#pragma once
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "apps/storage/local_provider.hpp"
#include "apps/storage/net/flow_frames.hpp"

namespace bc::storage {

struct SalTransportOptions {
  // A provider with calls outstanding that answers none for this long
  // (connect included) is marked down.
  TimeMs exchange_timeout_ms = 30'000;
};

class SalTransport final : public ShardTransport {
 public:
  SalTransport(boost::asio::io_context& io, sal::ServiceConnector& connector, std::vector<sal::ServiceId> providers,
               SalTransportOptions options = {});
  ~SalTransport() override;  // closes the flows

  std::size_t providers() const override { return links_.size(); }
  std::vector<Answer> exchange(std::vector<Call> calls) override;
  void send(std::vector<Call> calls) override;
  Collected collect() override;
  void wake() override;
  void recycle(Bytes answer) override { buffers_->give_back(std::move(answer)); }
  Bytes request_buffer(std::size_t n) override { return buffers_->take(n); }

  // Sends `probe` (a request every provider answers at once, e.g. an audit
  // of a shard nobody holds) to each provider not down and returns, per
  // provider, the microseconds from the probe's send on its open flow (the
  // connect is not counted) to its answer; -1 for a provider that is down,
  // or did not answer within grace_ms of its own probe's send (a connect
  // still under way is waited for, up to the exchange timeout). Such a
  // straggler is not marked down: its flow is closed (a late answer cannot
  // mix with a later exchange's) and a later exchange connects again.
  std::vector<std::int64_t> measure_rtts(const Bytes& probe, TimeMs grace_ms);

  const sal::ServiceId& service(std::size_t provider) const { return links_.at(provider).service; }
  bool down(std::size_t provider) const { return links_.at(provider).state == State::kDown; }
  // Why the provider was marked down ("" while it is not).
  const std::string& why_down(std::size_t provider) const { return links_.at(provider).why; }

 private:
  using Clock = std::chrono::steady_clock;
  enum class State { kIdle, kConnecting, kOpen, kDown };
  struct Link {
    sal::ServiceId service;
    State state = State::kIdle;
    std::shared_ptr<FramedFlow> flow;
    std::vector<Bytes> waiting;   // requests queued while connecting
    std::size_t expected = 0;     // answers still due
    Clock::time_point give_up_at{};  // while expected > 0: no answer by then marks it down
    std::string why;
    Clock::time_point sent_at{};      // this exchange's first request went out on the open flow
    Clock::time_point answered_at{};  // its last answer came
  };
  void connect(std::size_t i);
  void send_on_flow(Link& l, Bytes request);
  void mark_down(std::size_t i, std::string why);
  void release(std::size_t i);
  bool settled() const;
  // Marks down each provider whose give_up_at passed; the earliest one still ahead.
  Clock::time_point give_up_overdue();

  boost::asio::io_context& io_;
  sal::ServiceConnector& connector_;
  SalTransportOptions options_;
  std::vector<Link> links_;
  std::vector<Answer> answers_;       // not yet collected
  std::vector<std::size_t> gave_up_;  // marked down since the last collect
  std::atomic<bool> woken_{false};
  // Answer buffers for reuse, shared by the flows, and a put's requests'
  // once sent (the worker builds the next ones in them): enough for a get's
  // window of 1 MiB shards (4 segments of 4 MiB at k = 4), and no more.
  static constexpr std::size_t kAnswerPoolBytes = 17u << 20;
  std::shared_ptr<FrameBufferPool> buffers_ = std::make_shared<FrameBufferPool>(kAnswerPoolBytes);
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace bc::storage
