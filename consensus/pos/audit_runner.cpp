#include "consensus/pos/audit_runner.hpp"

#include <algorithm>
#include <chrono>

#include "consensus/pos/auditor_plan.hpp"
#include "layers/asio_driver.hpp"

namespace bc::pos {

AuditCounters AuditCounters::in(metrics::Registry& r) {
  auto c = [&r](const char* result) -> metrics::Counter& {
    return r.counter("bc_pos_probes_total", "Proof-of-Service probe attempts this auditor sent, and their grades",
                     {{"result", result}});
  };
  return AuditCounters{c("sent"), c("passed"), c("failed"), c("contained")};
}

AuditRunner::AuditRunner(boost::asio::io_context& io, ProbeClient& client, KeyPair key, PosParams params,
                         TimeMs probe_timeout_ms, AuditCounters counters, OnReports on_reports)
    : io_(io), client_(client), key_(std::move(key)), params_(params), probe_timeout_ms_(probe_timeout_ms),
      counters_(counters), on_reports_(std::move(on_reports)), timer_(io) {}

AuditRunner::~AuditRunner() {
  *alive_ = false;
  stop();
}

void AuditRunner::stop() {
  stopped_ = true;
  timer_.cancel();
  cores_.clear();
}

void AuditRunner::start_epoch(std::uint64_t epoch, TimeMs start, const Hash256& secret, std::vector<Offer> offers) {
  if (stopped_ || cores_.count(epoch)) return;
  auto core = std::make_unique<ProbeCore>(key_, params_, static_cast<std::uint64_t>(probe_timeout_ms_));
  core->start_epoch(epoch, start, secret, std::move(offers));
  cores_.emplace(epoch, std::move(core));
  input(epoch, [](ProbeCore& c, TimeMs now, Outbox& out) { c.on_tick(now, out); });
}

// Runs one input of an epoch's core, then carries out its sends, counts
// what changed and re-arms the timer.
void AuditRunner::input(std::uint64_t epoch, const std::function<void(ProbeCore&, TimeMs, Outbox&)>& fn) {
  auto it = cores_.find(epoch);
  if (stopped_ || it == cores_.end()) return;
  ProbeCore& core = *it->second;
  const ProbeCore::Counters before = core.counters();
  Outbox out;
  fn(core, AsioUdpDriver::now_ms(), out);
  const ProbeCore::Counters& after = core.counters();
  counters_.sent.inc(after.sent - before.sent);
  counters_.passed.inc(after.passed - before.passed);
  counters_.failed.inc(after.failed - before.failed);
  counters_.contained.inc(after.contained - before.contained);
  take_sends(epoch, core);
  arm();
}

void AuditRunner::take_sends(std::uint64_t epoch, ProbeCore& core) {
  while (auto send = core.poll_send()) {
    client_.probe(*send, [this, alive = std::weak_ptr<bool>(alive_), epoch, id = send->probe_id](std::optional<ProbeAnswer> a) {
      if (alive.expired()) return;
      input(epoch, [&](ProbeCore& c, TimeMs now, Outbox& out) {
        a ? c.handle_answer(id, *a, now, out) : c.handle_no_answer(id, now, out);
      });
    });
  }
}

void AuditRunner::arm() {
  TimeMs at = kNever;
  for (const auto& [epoch, core] : cores_) at = std::min(at, core->next_wakeup());
  if (at == timer_at_) return;
  timer_at_ = at;
  timer_.cancel();
  if (at >= kNever) return;
  const TimeMs wait = std::max<TimeMs>(0, at - AsioUdpDriver::now_ms());
  timer_.expires_after(std::chrono::milliseconds(wait));
  timer_.async_wait([this, alive = std::weak_ptr<bool>(alive_)](const boost::system::error_code& ec) {
    if (ec || alive.expired()) return;
    timer_at_ = kNever;
    std::vector<std::uint64_t> epochs;
    for (const auto& [epoch, core] : cores_) epochs.push_back(epoch);
    for (std::uint64_t e : epochs) input(e, [](ProbeCore& c, TimeMs now, Outbox& out) { c.on_tick(now, out); });
    arm();
  });
}

void AuditRunner::on_head(std::uint64_t head, std::uint64_t epoch_length) {
  for (auto it = cores_.begin(); it != cores_.end();) {
    if (!should_finish_epoch(it->first, head, epoch_length, it->second->next_wakeup() >= kNever)) {
      ++it;
      continue;
    }
    const ProbeCore::Counters before = it->second->counters();
    std::vector<Report> reports = it->second->finish_epoch();  // open probes are graded timed out
    counters_.failed.inc(it->second->counters().failed - before.failed);
    const std::uint64_t epoch = it->first;
    it = cores_.erase(it);
    if (!reports.empty()) on_reports_(epoch, std::move(reports));
  }
  arm();
}

}  // namespace bc::pos
