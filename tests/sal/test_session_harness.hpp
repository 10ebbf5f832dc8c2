// Two real Sessions joined by an in-memory byte pipe that can be broken at
// any byte (mid-frame included) and re-attached with a fresh channel binding.
#pragma once
#include <doctest/doctest.h>

#include <cstring>
#include <deque>
#include <string>
#include <vector>

#include "layers/crypto.hpp"
#include "layers/metrics.hpp"
#include "layers/runtime.hpp"
#include "sal/session/flow_crypto.hpp"
#include "sal/session/frames.hpp"
#include "sal/session/session.hpp"

namespace bc::sal::test {

inline KeyPair fixed_key(std::uint8_t b) {
  std::uint8_t s[32];
  std::memset(s, b, sizeof s);
  return *KeyPair::from_secret(ByteView(s, 32));
}

// The "delegation certificate" the tests' providers present: opaque to the
// session, checked by the opener's callback.
inline Bytes cert_for(const ServiceId& service) {
  Bytes b = {'c', 'e', 'r', 't'};
  b.insert(b.end(), service.bytes.begin(), service.bytes.end());
  return b;
}

inline ServiceId service_named(std::string_view name) { return sha256(as_bytes(name)); }

struct Side {
  Side(const KeyPair& self, const KeyPair& other, const SessionConfig& cfg, SharedLimits& limits,
       std::uint64_t seed, TimeMs now)
      : key(self),
        rng(seed),
        session(other.public_key(), cfg, limits, [this](std::span<std::uint8_t> b) { rng.fill(b); },
                [](const ServiceId& s, const XOnlyPubKey&, ByteView proof, TimeMs) {
                  const Bytes want = cert_for(s);
                  return proof.size() == want.size() && std::equal(proof.begin(), proof.end(), want.begin());
                },
                reg, now) {}

  std::uint64_t drops(const std::string& reason) const {
    return reg.counter_value("bc_sal_frame_drops_total", {{"reason", reason}});
  }
  std::uint64_t resumes(const std::string& result) const {
    return reg.counter_value("bc_sal_resumes_total", {{"result", result}});
  }
  // Events of one type (and flow, if given) seen so far.
  std::size_t count(Event::Type t, FlowId flow = 0) const {
    std::size_t n = 0;
    for (const Event& e : events) n += e.type == t && (flow == 0 || e.flow == flow);
    return n;
  }
  const Event* last(Event::Type t) const {
    for (auto it = events.rbegin(); it != events.rend(); ++it) {
      if (it->type == t) return &*it;
    }
    return nullptr;
  }

  KeyPair key;
  metrics::Registry reg;
  Rng rng;
  Session session;
  std::vector<Event> events;
};

class Pair {
 public:
  explicit Pair(SessionConfig cfg = {}, std::uint64_t seed = 1)
      : ka_(fixed_key(0x11)),
        kb_(fixed_key(0x22)),
        a(ka_, kb_, cfg, limits_a, seed * 2 + 1, now),
        b(kb_, ka_, cfg, limits_b, seed * 2 + 2, now),
        link_rng_(seed) {}

  // A fresh 32-byte channel binding, as a new TLS connection would export.
  Bytes next_binding() {
    ++generation_;
    const std::string s = "binding-" + std::to_string(generation_);
    const Hash256 h = sha256(as_bytes(s));
    return Bytes(h.bytes.begin(), h.bytes.end());
  }

  void attach() {
    binding = next_binding();
    to_a_.clear();
    to_b_.clear();
    REQUIRE(a.session.attach_transport(now, binding, kb_.public_key()));
    REQUIRE(b.session.attach_transport(now, binding, ka_.public_key()));
  }

  // The transport breaks: undelivered bytes are gone; `who` (bit 0: a,
  // bit 1: b) is told, the others find out when the next attach replaces it.
  void break_link(int who = 3) {
    to_a_.clear();
    to_b_.clear();
    if (who & 1) a.session.on_transport_lost(now);
    if (who & 2) b.session.on_transport_lost(now);
  }

  void collect() {
    while (auto e = a.session.poll_event()) a.events.push_back(*e);
    while (auto e = b.session.poll_event()) b.events.push_back(*e);
  }

  // Moves bytes both ways in random-size pieces until both sides are quiet
  // (or max_rounds). Ticks the clock by 1 ms per round.
  void pump(int max_rounds = 10000) {
    for (int i = 0; i < max_rounds; ++i) {
      if (!step()) {
        // Let delayed ACKs fire before declaring quiet.
        now += 10;
        tick();
        if (!step()) return;
      }
    }
  }

  // One round: take output, deliver some of what is queued. False if idle.
  bool step() {
    bool moved = false;
    if (a.session.has_output()) {
      Bytes o = a.session.take_output(now, 64 * 1024);
      moved |= !o.empty();
      to_b_.insert(to_b_.end(), o.begin(), o.end());
    }
    if (b.session.has_output()) {
      Bytes o = b.session.take_output(now, 64 * 1024);
      moved |= !o.empty();
      to_a_.insert(to_a_.end(), o.begin(), o.end());
    }
    moved |= deliver(to_b_, b);
    moved |= deliver(to_a_, a);
    collect();
    return moved;
  }

  void tick() {
    if (now >= a.session.next_wakeup()) a.session.on_tick(now);
    if (now >= b.session.next_wakeup()) b.session.on_tick(now);
    collect();
  }

  void advance(TimeMs ms) {
    now += ms;
    tick();
  }

  // Deliver exactly this frame's bytes to a side, as if the peer sent it.
  static void inject(Side& to, TimeMs now, const Frame& f) {
    Bytes w;
    encode_frame(f, w);
    to.session.on_transport_bytes(now, w);
  }

  std::size_t queued() const { return to_a_.size() + to_b_.size(); }
  // Delivers at most `budget` queued bytes in total, then returns how many went.
  std::size_t deliver_some(std::size_t budget) {
    std::size_t done = 0;
    for (auto* dir : {&to_b_, &to_a_}) {
      Side& s = dir == &to_b_ ? b : a;
      const std::size_t n = std::min(budget - done, dir->size());
      if (n == 0) continue;
      Bytes chunk(dir->begin(), dir->begin() + static_cast<std::ptrdiff_t>(n));
      dir->erase(dir->begin(), dir->begin() + static_cast<std::ptrdiff_t>(n));
      s.session.on_transport_bytes(now, chunk);
      done += n;
    }
    collect();
    return done;
  }
  void fill_queues() {
    if (a.session.has_output()) {
      Bytes o = a.session.take_output(now, 64 * 1024);
      to_b_.insert(to_b_.end(), o.begin(), o.end());
    }
    if (b.session.has_output()) {
      Bytes o = b.session.take_output(now, 64 * 1024);
      to_a_.insert(to_a_.end(), o.begin(), o.end());
    }
  }

  TimeMs now = 1'700'000'000'000;
  SharedLimits limits_a;
  SharedLimits limits_b;

 private:
  KeyPair ka_;
  KeyPair kb_;

 public:
  Side a;
  Side b;
  Bytes binding;

 private:
  bool deliver(std::deque<std::uint8_t>& q, Side& to) {
    if (q.empty()) return false;
    // Random piece sizes so frames straddle calls.
    const std::size_t n = std::min<std::size_t>(q.size(), 1 + link_rng_.uniform(48 * 1024));
    Bytes chunk(q.begin(), q.begin() + static_cast<std::ptrdiff_t>(n));
    q.erase(q.begin(), q.begin() + static_cast<std::ptrdiff_t>(n));
    to.session.on_transport_bytes(now, chunk);
    return true;
  }

  Rng link_rng_;
  std::deque<std::uint8_t> to_a_;
  std::deque<std::uint8_t> to_b_;
  int generation_ = 0;
};

// Opens a flow from a to b for `name` and has b accept it with the right
// certificate. Returns {a's id, b's id}.
inline std::pair<FlowId, FlowId> open_accepted(Pair& p, std::string_view name = "svc") {
  const ServiceId svc = service_named(name);
  const auto r = p.a.session.open_flow(p.now, svc);
  REQUIRE(r);
  p.pump();
  const Event* inc = p.b.last(Event::Type::kIncoming);
  REQUIRE(inc != nullptr);
  CHECK(inc->service == svc);
  const FlowId bid = inc->flow;
  REQUIRE(p.b.session.accept(p.now, bid, cert_for(svc)));
  p.pump();
  REQUIRE(p.a.count(Event::Type::kOpened, *r) == 1);
  return {*r, bid};
}

inline Bytes read_all(Session& s, TimeMs now, FlowId f) {
  Bytes out;
  std::uint8_t buf[4096];
  while (std::size_t n = s.read(now, f, buf)) out.insert(out.end(), buf, buf + n);
  return out;
}

}  // namespace bc::sal::test
