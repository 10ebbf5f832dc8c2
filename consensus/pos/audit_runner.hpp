// Drives an auditor's ProbeCores on a node (docs/proof-of-service.md, "The
// auditor on a node"): one core per epoch being probed, its sends carried by
// a ProbeClient, its wakeups by one timer, its counters into /metrics. When
// the chain says an epoch's time is up (should_finish_epoch) the core's
// signed reports go to `on_reports`.
//
// Threads: the io_context's thread only.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "consensus/pos/probe_client.hpp"
#include "consensus/pos/probe_core.hpp"
#include "layers/metrics.hpp"

namespace bc::pos {

struct AuditCounters {
  metrics::Counter& sent;
  metrics::Counter& passed;
  metrics::Counter& failed;
  metrics::Counter& contained;
  // bc_pos_probes_total{result=sent|passed|failed|contained} in `registry`.
  static AuditCounters in(metrics::Registry& registry);
};

class AuditRunner {
 public:
  using OnReports = std::function<void(std::uint64_t epoch, std::vector<Report> reports)>;
  // key: the auditor's (consensus) key, which signs the reports.
  AuditRunner(boost::asio::io_context& io, ProbeClient& client, KeyPair key, PosParams params, TimeMs probe_timeout_ms,
              AuditCounters counters, OnReports on_reports);
  ~AuditRunner();

  // Probes `offers` in `epoch`, which began at `start` (this node's clock),
  // at the times `secret` gives. Ignored when the epoch already runs.
  void start_epoch(std::uint64_t epoch, TimeMs start, const Hash256& secret, std::vector<Offer> offers);
  bool running(std::uint64_t epoch) const { return cores_.count(epoch) != 0; }
  // The chain committed `head`: finishes every epoch whose time is up.
  void on_head(std::uint64_t head, std::uint64_t epoch_length);
  void stop();  // idempotent: no more probes, no reports

 private:
  void input(std::uint64_t epoch, const std::function<void(ProbeCore&, TimeMs, Outbox&)>& fn);
  void take_sends(std::uint64_t epoch, ProbeCore& core);
  void arm();

  boost::asio::io_context& io_;
  ProbeClient& client_;
  KeyPair key_;
  PosParams params_;
  TimeMs probe_timeout_ms_;
  AuditCounters counters_;
  OnReports on_reports_;
  std::map<std::uint64_t, std::unique_ptr<ProbeCore>> cores_;  // by epoch
  boost::asio::steady_timer timer_;
  TimeMs timer_at_ = kNever;
  bool stopped_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // probe answers check it
};

}  // namespace bc::pos
