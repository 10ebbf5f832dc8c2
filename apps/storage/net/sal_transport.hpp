// The storage client's ShardTransport over the network: provider i is a
// service ID, reached through a sal::ServiceConnector (sal::Host, or an
// app's sal::AppNode), one flow per provider carrying framed requests
// (flow_frames.hpp).
//
// exchange() is synchronous, as the pipeline wants: it sends the calls
// (connecting first where needed) and runs the io_context until every call
// was answered, its flow ended, or the deadline passed. A provider that
// cannot be reached, ends its flow or misses the deadline is marked down
// and answers nothing for the rest of this transport's life: one exchange
// waits for it at most once, and the pipeline reads other shards instead.
//
// Threads: the io_context's thread; exchange() runs the io_context itself,
// so it must not be called from inside one of its handlers.
#pragma once
#include <chrono>
#include <map>
#include <memory>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "apps/storage/local_provider.hpp"
#include "apps/storage/net/flow_frames.hpp"

namespace bc::storage {

struct SalTransportOptions {
  TimeMs exchange_timeout_ms = 30'000;  // one exchange, connects included
};

class SalTransport final : public ShardTransport {
 public:
  SalTransport(boost::asio::io_context& io, sal::ServiceConnector& connector, std::vector<sal::ServiceId> providers,
               SalTransportOptions options = {});
  ~SalTransport() override;  // closes the flows

  std::size_t providers() const override { return links_.size(); }
  std::vector<Answer> exchange(std::vector<Call> calls) override;

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
    std::size_t expected = 0;     // answers still due in this exchange
    std::string why;
    Clock::time_point sent_at{};      // this exchange's first request went out on the open flow
    Clock::time_point answered_at{};  // its last answer came
  };
  void connect(std::size_t i);
  void send_on_flow(Link& l, Bytes request);
  void post(std::vector<Call> calls);
  void mark_down(std::size_t i, std::string why);
  void release(std::size_t i);
  bool settled() const;

  boost::asio::io_context& io_;
  sal::ServiceConnector& connector_;
  SalTransportOptions options_;
  std::vector<Link> links_;
  std::vector<Answer> answers_;  // of the current exchange
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace bc::storage
