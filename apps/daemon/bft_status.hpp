// What a running committee core shows the operator: the bc_bft_* metrics in
// /metrics and the validator_status RPC's answer (docs/operator-guide.md).
//
// The core's own counters (bft::BftStats) start from zero with every core,
// and the driver makes a new core when block sync moves the head past it;
// BftReport keeps running totals across cores so counters never go back.
//
// Thread safety: none; lives with the core on the ledger thread (the metric
// values themselves are atomics, read by /metrics on the io thread).
#pragma once
#include <map>
#include <string>

#include <boost/json/value.hpp>

#include "consensus/bft/core.hpp"
#include "layers/metrics.hpp"

namespace bc::apps {

class BftReport {
 public:
  explicit BftReport(metrics::Registry& registry);

  // After every input: gauges from the core, counters by what the core
  // counted since the last call.
  void update(const bft::BftCore& core);
  // The committee committed a block at `now` (Unix ms).
  void committed(TimeMs now);
  // A new core replaces the old one: its counters start from zero.
  void new_core() { seen_ = {}; }

  // validator_status: height, round, step, last commit, totals and drops by reason.
  boost::json::object status(const bft::BftCore& core) const;

 private:
  struct Seen {  // the current core's counters already added to the totals
    std::uint64_t accepted = 0, duplicates = 0, stale = 0, future = 0, decisions = 0, skipped = 0;
    std::map<std::string, std::uint64_t> drops;
  };
  struct Totals {
    std::uint64_t votes_seen = 0, duplicates = 0, decisions = 0, rounds_skipped = 0;
    std::map<std::string, std::uint64_t> dropped;  // by reason
  };
  void add_drops(const std::string& reason, std::uint64_t now_counted, std::uint64_t& seen);

  metrics::Registry& registry_;
  metrics::Gauge& height_;
  metrics::Gauge& round_;
  metrics::Gauge& step_;
  metrics::Gauge& last_commit_;
  metrics::Counter& votes_seen_;
  Seen seen_;
  Totals totals_;
  TimeMs last_commit_ms_ = 0;
};

}  // namespace bc::apps
