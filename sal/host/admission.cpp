#include "sal/host/admission.hpp"

#include <algorithm>
#include <cstdio>

#include "layers/assert.hpp"

namespace bc::sal {

std::string_view Admission::label(Refusal r) {
  switch (r) {
    case Refusal::kNone: return "none";
    case Refusal::kSourceFull: return "source_full";
    case Refusal::kFull: return "full";
    case Refusal::kSourceRate: return "source_rate";
    case Refusal::kRate: return "rate";
  }
  return "unknown";
}

Admission::Admission(AdmissionLimits limits) : limits_(limits) {
  BC_ASSERT(limits_.max_connections >= 1 && limits_.max_per_source >= 1);
  BC_ASSERT(limits_.max_pending >= 1 && limits_.max_pending_per_source >= 1);
}

std::string Admission::source_key(const Endpoint& remote) {
  if (remote.is_v4()) return remote.ip_string();
  // An IPv6 host usually holds a whole /64: count the prefix, not the address.
  char buf[64];
  const auto& a = remote.ip;
  std::snprintf(buf, sizeof buf, "%x:%x:%x:%x::/64", a[0] << 8 | a[1], a[2] << 8 | a[3],
                a[4] << 8 | a[5], a[6] << 8 | a[7]);
  return buf;
}

// Token bucket; a bucket starts full. With commit false it only tells
// whether a token is there.
bool Admission::take(double& tokens, TimeMs& at, bool& fresh, double rate, double burst,
                     TimeMs now, bool commit) {
  if (rate <= 0) return true;
  burst = std::max(burst, 1.0);
  if (fresh) {
    tokens = burst;
    at = now;
    fresh = false;
  }
  if (now > at) tokens = std::min(burst, tokens + rate * double(now - at) / 1000.0);
  at = std::max(at, now);
  if (tokens < 1) return false;
  if (commit) tokens -= 1;
  return true;
}

bool Admission::source_over(const Source& s) const {
  return s.open >= limits_.max_per_source || s.pending.size() >= limits_.max_pending_per_source;
}

bool Admission::total_over() const {
  return tickets_.size() >= limits_.max_connections || pending_ >= limits_.max_pending;
}

Admission::Decision Admission::admit(const std::string& source, TimeMs now) {
  sweep(now);
  Decision d;
  auto& s = sources_[source];
  // Refuse before evicting anything: an eviction must buy an admission.
  if (source_over(s) && s.pending.empty()) d.refused = Refusal::kSourceFull;
  else if (total_over() && pending_ == 0) d.refused = Refusal::kFull;
  else if (!take(s.tokens, s.at, s.fresh, limits_.rate_per_source, limits_.burst_per_source, now,
                 false))
    d.refused = Refusal::kSourceRate;
  else if (!take(tokens_, at_, fresh_, limits_.rate, limits_.burst, now, false))
    d.refused = Refusal::kRate;
  if (d.refused != Refusal::kNone) {
    if (s.open == 0 && limits_.rate_per_source <= 0) sources_.erase(source);
    return d;
  }
  take(s.tokens, s.at, s.fresh, limits_.rate_per_source, limits_.burst_per_source, now, true);
  take(tokens_, at_, fresh_, limits_.rate, limits_.burst, now, true);
  keep_ = &s;  // evictions must not drop the newcomer's own source entry
  while (source_over(s) && !s.pending.empty()) d.evict.push_back(evict_oldest(s));
  while (total_over() && pending_ > 0) d.evict.push_back(evict_heaviest());
  keep_ = nullptr;
  // Limits are >= 1 and each eviction frees one open and one pending slot,
  // so the loops above always make room.
  BC_ASSERT(!source_over(s) && !total_over());
  const Ticket t = ++next_;
  tickets_.emplace(t, Entry{source, true});
  ++s.open;
  s.pending.insert(t);
  ++pending_;
  d.ticket = t;
  return d;
}

Admission::Ticket Admission::evict_oldest(Source& s) {
  BC_ASSERT(!s.pending.empty());
  const Ticket t = *s.pending.begin();
  forget(t);
  return t;
}

// The oldest pending connection of the source holding the most pending
// slots (ties: the source whose oldest is oldest).
Admission::Ticket Admission::evict_heaviest() {
  const Source* best = nullptr;
  for (const auto& [key, s] : sources_) {
    if (s.pending.empty()) continue;
    if (!best || s.pending.size() > best->pending.size() ||
        (s.pending.size() == best->pending.size() && *s.pending.begin() < *best->pending.begin()))
      best = &s;
  }
  BC_ASSERT(best != nullptr);
  const Ticket t = *best->pending.begin();
  forget(t);
  return t;
}

void Admission::established(Ticket t) {
  auto it = tickets_.find(t);
  if (it == tickets_.end() || !it->second.pending) return;
  it->second.pending = false;
  auto s = sources_.find(it->second.source);
  BC_ASSERT(s != sources_.end());
  s->second.pending.erase(t);
  --pending_;
}

void Admission::close(Ticket t) { forget(t); }

void Admission::forget(Ticket t) {
  auto it = tickets_.find(t);
  if (it == tickets_.end()) return;
  auto s = sources_.find(it->second.source);
  BC_ASSERT(s != sources_.end());
  if (it->second.pending) {
    s->second.pending.erase(t);
    --pending_;
  }
  --s->second.open;
  // A source's bucket outlives its connections (or a client could refill it
  // by closing everything); sweep() bounds how many are kept.
  if (s->second.open == 0 && limits_.rate_per_source <= 0 && &s->second != keep_) sources_.erase(s);
  tickets_.erase(it);
}

// Keeps the source table bounded: sources without connections are dropped
// once their bucket is full again, or, if too many remain, at once.
void Admission::sweep(TimeMs now) {
  const std::size_t cap = 2 * limits_.max_connections + 64;
  if (sources_.size() <= cap) return;
  const double burst = std::max(limits_.burst_per_source, 1.0);
  std::erase_if(sources_, [&](const auto& kv) {
    const Source& s = kv.second;
    return s.open == 0 &&
           s.tokens + limits_.rate_per_source * double(now - s.at) / 1000.0 >= burst;
  });
  if (sources_.size() > cap) std::erase_if(sources_, [](const auto& kv) { return kv.second.open == 0; });
}

std::size_t Admission::open_from(const std::string& source) const {
  auto it = sources_.find(source);
  return it == sources_.end() ? 0 : it->second.open;
}

std::size_t Admission::pending_from(const std::string& source) const {
  auto it = sources_.find(source);
  return it == sources_.end() ? 0 : it->second.pending.size();
}

}  // namespace bc::sal
