#include "routing/detail/lookup.hpp"

#include "layers/assert.hpp"

#include <algorithm>

namespace bc::routing {

Lookup::Lookup(const Hash256& target, std::size_t width, std::size_t k, int alpha)
    : target_(target), width_(std::max<std::size_t>(width, 1)),
      k_(std::clamp<std::size_t>(k, 1, width_)), alpha_(std::max(alpha, 1)) {}

bool Lookup::add(const NodeId& id, const Endpoint& ep, int depth) {
  for (const auto& c : cands_) {
    if (c.id == id) return false;
  }
  Candidate c;
  c.id = id;
  c.endpoint = ep;
  c.distance = id ^ target_;
  c.depth = depth;
  auto pos = std::lower_bound(cands_.begin(), cands_.end(), c.distance,
                              [](const Candidate& a, const Hash256& d) { return a.distance < d; });
  // Keep `width` live candidates plus the failed ones (they stay so they are
  // not re-added); a new one farther than all width live ones is useless.
  std::size_t live_before = 0;
  for (auto it = cands_.begin(); it != pos; ++it) {
    if (it->state != Candidate::State::kFailed) ++live_before;
  }
  if (live_before >= width_) return false;
  cands_.insert(pos, std::move(c));
  // Drop the farthest never-asked candidates beyond the tracked width.
  std::size_t live = 0;
  for (auto it = cands_.begin(); it != cands_.end();) {
    if (it->state == Candidate::State::kFailed) {
      ++it;
      continue;
    }
    if (++live > width_ && it->state == Candidate::State::kNew) {
      it = cands_.erase(it);
    } else {
      ++it;
    }
  }
  return true;
}

std::vector<Candidate*> Lookup::next_to_query() {
  std::vector<Candidate*> out;
  if (stopped_) return out;
  std::size_t live = 0;
  for (auto& c : cands_) {
    if (in_flight_ >= alpha_) break;
    if (c.state == Candidate::State::kFailed) continue;
    if (++live > width_) break;
    if (c.state == Candidate::State::kNew) {
      c.state = Candidate::State::kInFlight;
      ++c.tries;
      ++in_flight_;
      out.push_back(&c);
    }
  }
  BC_ASSERT(in_flight_ <= std::max(alpha_, 0));
  return out;
}

void Lookup::on_response(Candidate& c, const std::vector<WireContact>& contacts,
                         const NodeId& self) {
  if (c.state == Candidate::State::kInFlight) {
    --in_flight_;
  } else if (c.state != Candidate::State::kStalled) {
    return;
  }
  BC_ASSERT(in_flight_ >= 0);
  c.state = Candidate::State::kDone;
  hops_ = std::max(hops_, c.depth);
  if (stopped_) return;
  const int depth = c.depth + 1;  // add() may reallocate: `c` is dangling after it
  for (const auto& wc : contacts) {
    if (wc.id == self) continue;
    add(wc.id, wc.endpoint, depth);
  }
}

void Lookup::on_failure(Candidate& c) {
  if (c.state == Candidate::State::kInFlight) --in_flight_;
  BC_ASSERT(in_flight_ >= 0);
  c.state = Candidate::State::kFailed;
}

void Lookup::on_stall(Candidate& c) {
  if (c.state != Candidate::State::kInFlight) return;
  c.state = Candidate::State::kStalled;
  --in_flight_;
  BC_ASSERT(in_flight_ >= 0);
}

bool Lookup::finished() const {
  if (in_flight_ > 0) return false;
  if (stopped_) return true;
  std::size_t live = 0;
  for (const auto& c : cands_) {
    if (c.state == Candidate::State::kFailed || c.state == Candidate::State::kStalled) continue;
    if (c.state != Candidate::State::kDone) return false;  // an unasked one among the k closest
    if (++live >= k_) return true;
  }
  return true;  // fewer than k reachable nodes, all asked
}

std::vector<const Candidate*> Lookup::closest_done(std::size_t n) const {
  std::vector<const Candidate*> out;
  for (const auto& c : cands_) {
    if (out.size() >= n) break;
    if (c.state == Candidate::State::kDone) out.push_back(&c);
  }
  return out;
}

}  // namespace bc::routing
