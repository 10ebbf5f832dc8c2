// Counters and the summary of a `blockcloud-sim pos` run: detection per
// cheater class beside the prediction of docs/proof-of-service.md ("Attack
// analysis"), honest providers wrongly graded, audit traffic, settlement time.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "consensus/pos/probe_core.hpp"
#include "ledger/pos/settle.hpp"
#include "simulations/pos_scenario.hpp"

namespace bc::sim {

class PosStats {
 public:
  PosStats(const PosSimOptions& opt, const pos::PosParams& params);

  // cls: cheater class (index into fail_rates), -1 for honest.
  void on_attempt(int cls, std::uint64_t bytes);
  void on_answer(int cls, std::uint64_t bytes);
  void on_lost() { ++lost_; }
  void on_report(int cls, const pos::Report& r, std::size_t wire_bytes);
  void add_core(const pos::ProbeCore::Counters& c);
  void on_settle(double wall_s, std::size_t rejected);
  void on_settlement(int cls, const pos::Settlement& s);

  void progress_line(std::uint64_t epoch) const;
  // JSON when opt.json, else a readable table.
  std::string render(double wall_s, double rss_mib) const;

  struct Class {
    std::uint64_t providers = 0;
    std::uint64_t reports = 0, reports_failing = 0, reports_with_timeout = 0;
    std::uint64_t provider_epochs = 0, audited = 0, below_full = 0, occasional = 0, unstable = 0,
                  malicious = 0, unaudited = 0;
    std::uint64_t audit_bytes = 0;
  };
  const Class& honest() const { return classes_.front(); }

 private:
  Class& of(int cls) { return classes_[static_cast<std::size_t>(cls + 1)]; }
  double predicted_report(double x) const;
  double predicted_epoch(double x) const;

  const PosSimOptions& opt_;
  pos::PosParams params_;
  std::vector<Class> classes_;  // [0] honest, then one per fail rate
  std::uint64_t lost_ = 0, report_bytes_ = 0, rejected_ = 0, epochs_ = 0;
  pos::ProbeCore::Counters cores_{};
  double settle_total_s_ = 0, settle_max_s_ = 0;
};

}  // namespace bc::sim
