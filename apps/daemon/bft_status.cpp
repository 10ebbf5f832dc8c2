#include "apps/daemon/bft_status.hpp"

#include <boost/json.hpp>

namespace bc::apps {
namespace json = boost::json;
namespace {
const char* step_name(bft::Step s) {
  switch (s) {
    case bft::Step::kPropose: return "propose";
    case bft::Step::kPrevote: return "prevote";
    case bft::Step::kPrecommit: return "precommit";
  }
  return "unknown";
}

// What a counter of the current core added since `seen`; a smaller value
// means the core was replaced without new_core() (counted from zero).
std::uint64_t since(std::uint64_t now_counted, std::uint64_t& seen) {
  const std::uint64_t d = now_counted >= seen ? now_counted - seen : now_counted;
  seen = now_counted;
  return d;
}
}  // namespace

BftReport::BftReport(metrics::Registry& r)
    : registry_(r),
      height_(r.gauge("bc_bft_height", "Height the committee core is deciding")),
      round_(r.gauge("bc_bft_round", "Round of the committee core at its height")),
      step_(r.gauge("bc_bft_step", "Step of the committee core: 1 propose, 2 prevote, 3 precommit")),
      last_commit_(r.gauge("bc_bft_last_commit_seconds", "Unix time of the last block the committee committed here")),
      votes_seen_(r.counter("bc_bft_votes_seen_total", "Consensus messages (votes, proposals, certificates) accepted")) {}

void BftReport::add_drops(const std::string& reason, std::uint64_t now_counted, std::uint64_t& seen) {
  const std::uint64_t d = since(now_counted, seen);
  if (d == 0) return;
  totals_.dropped[reason] += d;
  registry_.counter("bc_bft_dropped_total", "Consensus messages dropped, by reason", {{"reason", reason}}).inc(d);
}

void BftReport::update(const bft::BftCore& core) {
  height_.set(static_cast<double>(core.height()));
  round_.set(core.round());
  step_.set(static_cast<double>(static_cast<int>(core.step())));
  const auto& st = core.stats();
  const std::uint64_t votes = since(st.messages_accepted, seen_.accepted);
  totals_.votes_seen += votes;
  votes_seen_.inc(votes);
  totals_.duplicates += since(st.duplicates, seen_.duplicates);
  totals_.decisions += since(st.decisions, seen_.decisions);
  totals_.rounds_skipped += since(st.rounds_skipped, seen_.skipped);
  // Stale and future messages are not faults of the sender (a peer behind or
  // ahead sends them) but are dropped all the same.
  add_drops("stale", st.stale, seen_.stale);
  add_drops("future_height", st.future, seen_.future);
  for (const auto& [why, n] : st.drops) add_drops(why, n, seen_.drops[why]);
}

void BftReport::committed(TimeMs now) {
  last_commit_ms_ = now;
  last_commit_.set(static_cast<double>(now) / 1000.0);
}

json::object BftReport::status(const bft::BftCore& core) const {
  json::object dropped;
  std::uint64_t dropped_total = 0;
  for (const auto& [why, n] : totals_.dropped) {
    dropped[why] = n;
    dropped_total += n;
  }
  const auto& lock = core.lock();
  return json::object{{"height", core.height()},
                      {"round", core.round()},
                      {"step", step_name(core.step())},
                      {"locked_round", lock.locked_round},
                      {"last_commit_ms", last_commit_ms_},
                      {"votes_seen", totals_.votes_seen},
                      {"duplicates", totals_.duplicates},
                      {"decisions", totals_.decisions},
                      {"rounds_skipped", totals_.rounds_skipped},
                      {"dropped_total", dropped_total},
                      {"dropped", std::move(dropped)}};
}

}  // namespace bc::apps
