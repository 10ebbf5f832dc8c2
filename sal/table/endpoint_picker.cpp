#include "sal/table/endpoint_picker.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <unordered_set>

namespace bc::sal {

namespace {

Status range_error(const char* name, long long value, long long lo, long long hi) {
  return fail(bc::Errc::kInvalidArgument, std::string("endpoint picker ") + name + " = " + std::to_string(value) +
                                              " is out of range: use " + std::to_string(lo) + ".." + std::to_string(hi));
}

}  // namespace

Status PickerConfig::validate() const {
  if (connect_timeout_ms < 50 || connect_timeout_ms > 30'000)
    return range_error("connect_timeout_ms", connect_timeout_ms, 50, 30'000);
  if (max_attempts < 1 || max_attempts > 64)
    return range_error("max_attempts", static_cast<long long>(max_attempts), 1, 64);
  if (backoff_max_ms < 1 || backoff_max_ms > 3'600'000)
    return range_error("backoff_max_ms", backoff_max_ms, 1, 3'600'000);
  if (backoff_base_ms < 1 || backoff_base_ms > backoff_max_ms)
    return range_error("backoff_base_ms", backoff_base_ms, 1, backoff_max_ms);
  if (forget_after_ms < backoff_max_ms || forget_after_ms > 86'400'000)
    return range_error("forget_after_ms", forget_after_ms, backoff_max_ms, 86'400'000);
  if (max_failure_entries < 1 || max_failure_entries > 1'000'000)
    return range_error("max_failure_entries", static_cast<long long>(max_failure_entries), 1, 1'000'000);
  if (level2_rtt_ms < 0 || level1_rtt_ms < level2_rtt_ms)
    return fail(bc::Errc::kInvalidArgument, "endpoint picker cluster thresholds need 0 <= level2_rtt_ms <= level1_rtt_ms (got " +
                                                std::to_string(level2_rtt_ms) + ", " + std::to_string(level1_rtt_ms) + ")");
  return Status::success();
}

EndpointPicker::EndpointPicker(PickerConfig cfg) : cfg_(cfg) {
  if (Status s = cfg_.validate(); !s.ok()) throw std::invalid_argument(s.message);
}

int EndpointPicker::effective_level(const Candidate& c) const {
  if (c.cluster_level >= 0 && c.cluster_level <= 2) return c.cluster_level;
  if (c.rtt_ms) {
    if (*c.rtt_ms < cfg_.level2_rtt_ms) return 2;
    if (*c.rtt_ms < cfg_.level1_rtt_ms) return 1;
  }
  return 0;
}

std::vector<Attempt> EndpointPicker::order(std::span<const Candidate> candidates, TimeMs now, Rng& rng) {
  struct Ranked {
    const Candidate* c;
    int level;
    bool standby;
    double key;  // exponential with rate = weight: smaller first (Efraimidis-Spirakis)
    std::uint64_t tie;
  };
  std::vector<Ranked> ranked;
  ranked.reserve(candidates.size());
  for (const auto& c : candidates) {
    if (c.addresses.empty()) continue;
    // Draw for every candidate, in input order, so the sequence is reproducible.
    const double u = 1.0 - rng.unit();  // (0, 1]
    const std::uint64_t tie = rng.next();
    const bool standby = c.weight == 0;
    const double key = standby ? std::numeric_limits<double>::infinity() : -std::log(u) / c.weight;
    ranked.push_back({&c, effective_level(c), standby, key, tie});
  }
  std::sort(ranked.begin(), ranked.end(), [](const Ranked& a, const Ranked& b) {
    if (a.level != b.level) return a.level > b.level;
    if (a.standby != b.standby) return !a.standby;
    if (a.key != b.key) return a.key < b.key;
    return a.tie < b.tie;
  });

  struct Deferred {
    Attempt attempt;
    TimeMs last_failure;
    std::size_t rank;
  };
  std::vector<Attempt> out;
  std::vector<Deferred> deferred;
  std::unordered_set<Endpoint, EndpointHasher> seen;
  for (std::size_t i = 0; i < ranked.size(); ++i) {
    const auto& r = ranked[i];
    for (const auto& ep : r.c->addresses) {
      if (!seen.insert(ep).second) continue;
      Attempt a{r.c->provider, ep, r.level, false};
      auto f = failures_.find(ep);
      const bool live = f != failures_.end() && now - f->second.last_failure < cfg_.forget_after_ms;
      if (live && now < f->second.retry_at) {
        a.backed_off = true;
        deferred.push_back({a, f->second.last_failure, i});
      } else {
        out.push_back(a);
      }
    }
  }
  // Every endpoint failed recently: still try them, the least recently failed first.
  std::stable_sort(deferred.begin(), deferred.end(), [](const Deferred& a, const Deferred& b) {
    if (a.last_failure != b.last_failure) return a.last_failure < b.last_failure;
    return a.rank < b.rank;
  });
  for (auto& d : deferred) out.push_back(d.attempt);
  if (out.size() > cfg_.max_attempts) out.resize(cfg_.max_attempts);
  return out;
}

void EndpointPicker::mark_failed(const Endpoint& endpoint, TimeMs now) {
  auto it = failures_.find(endpoint);
  if (it == failures_.end()) {
    if (failures_.size() >= cfg_.max_failure_entries) {
      expire(now);
      if (failures_.size() >= cfg_.max_failure_entries) {
        // Full of live entries: forget the one whose failure is oldest.
        auto oldest = std::min_element(failures_.begin(), failures_.end(), [](const auto& a, const auto& b) {
          return a.second.last_failure < b.second.last_failure;
        });
        failures_.erase(oldest);
      }
    }
    it = failures_.emplace(endpoint, Failure{}).first;
  } else if (now - it->second.last_failure >= cfg_.forget_after_ms) {
    it->second.count = 0;  // an old failure no longer counts towards the backoff
  }
  auto& f = it->second;
  f.count = std::min<std::uint32_t>(f.count + 1, 64);
  TimeMs window = cfg_.backoff_max_ms;
  if (f.count - 1 < 32) window = std::min<TimeMs>(cfg_.backoff_base_ms << (f.count - 1), cfg_.backoff_max_ms);
  f.last_failure = now;
  f.retry_at = now + window;
}

void EndpointPicker::mark_succeeded(const Endpoint& endpoint) { failures_.erase(endpoint); }

void EndpointPicker::expire(TimeMs now) {
  std::erase_if(failures_, [&](const auto& kv) { return now - kv.second.last_failure >= cfg_.forget_after_ms; });
}

bool EndpointPicker::backed_off(const Endpoint& endpoint, TimeMs now) const {
  auto it = failures_.find(endpoint);
  if (it == failures_.end()) return false;
  return now - it->second.last_failure < cfg_.forget_after_ms && now < it->second.retry_at;
}

std::optional<TimeMs> EndpointPicker::retry_at(const Endpoint& endpoint) const {
  auto it = failures_.find(endpoint);
  if (it == failures_.end()) return std::nullopt;
  return it->second.retry_at;
}

std::vector<Candidate> forward_candidates(const Rule& rule) {
  std::vector<Candidate> out;
  out.reserve(rule.targets.size());
  for (const auto& t : rule.targets) {
    Candidate c;
    c.addresses = {t.endpoint};
    c.weight = t.weight;
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace bc::sal
