// The Proof-of-Service world: keys, offers, stakes, and one epoch at a time
// (seed, assignment, probes over the simulated network, settlement).
#include "simulations/pos_scenario.hpp"

#include <algorithm>
#include <map>
#include <memory>
#include <queue>

#include "ledger/pos/assign.hpp"
#include "ledger/pos/codec.hpp"
#include "consensus/pos/probe_core.hpp"
#include "ledger/pos/schedule.hpp"
#include "ledger/pos/settle.hpp"
#include "simulations/latency_model.hpp"
#include "simulations/pos_stats.hpp"
#include "simulations/proc_stats.hpp"

namespace bc::sim {
namespace {

using namespace bc::pos;

Hash256 random_hash(SimRng& rng) {
  Hash256 h;
  for (std::size_t i = 0; i < 32; i += 8) {
    const std::uint64_t v = rng.next();
    for (std::size_t b = 0; b < 8; ++b) h.bytes[i + b] = static_cast<std::uint8_t>(v >> (8 * b));
  }
  return h;
}

// Keys from the run seed, so offers and assignments repeat with it.
KeyPair seeded_key(SimRng& rng) {
  for (;;) {
    const Hash256 s = random_hash(rng);
    if (auto k = KeyPair::from_secret(s.view())) return *k;
  }
}

struct Provider {
  KeyPair key;
  LatencyModel::Placement at;
  double fail_rate = 0;
  int cls = -1;  // index into fail_rates; -1 honest
  Offer offer;
  Hash256 id;
};

struct Auditor {
  KeyPair key;
  LatencyModel::Placement at;
  std::uint64_t stake = 0;
};

// One event of an epoch's probe traffic, in (t_us, seq) order.
struct Event {
  enum Kind : std::uint8_t { kTick, kRequest, kAnswer };
  std::int64_t t_us = 0;
  std::uint64_t seq = 0;
  Kind kind = kTick;
  std::uint32_t core = 0;
  std::uint64_t probe_id = 0;
  std::int64_t sent_us = 0;
  bool wrong = false;
  bool operator>(const Event& o) const { return t_us != o.t_us ? t_us > o.t_us : seq > o.seq; }
};

// One auditor probing one offer for one epoch. A ProbeCore per (auditor,
// offer) signs the same reports as one per auditor, and keeps each core's
// pending set small (ProbeCore scans it on every tick).
struct Prober {
  std::unique_ptr<ProbeCore> core;
  std::uint32_t provider = 0;
  std::uint32_t auditor = 0;
  TimeMs wake = kNever;
};

class PosWorld {
 public:
  explicit PosWorld(const PosSimOptions& opt)
      : opt_(opt), rng_(opt.seed), model_(rng_.fork(), opt.regions, opt.continents) {
    params_.max_attempts = opt.max_attempts;
    params_.retry_gap_ms = opt.retry_gap_ms;
    make_auditors();
    make_providers();
  }

  PosStats run() {
    PosStats st(opt_, params_);
    for (std::uint32_t e = 1; e <= opt_.epochs; ++e) {
      run_epoch(e, st);
      if (opt_.progress && e % opt_.progress == 0) st.progress_line(e);
    }
    return st;
  }

 private:
  void make_auditors() {
    for (std::uint32_t i = 0; i < opt_.auditors; ++i) {
      Auditor a{seeded_key(rng_), model_.place(rng_), 1 + rng_.uniform(1000)};
      stakes_.push_back(StakeEntry{a.key.public_key(), account_address(a.key.public_key()), a.stake});
      auditors_.push_back(std::move(a));
    }
  }

  // Cheaters are the first `cheaters * N` providers, round-robin over classes.
  void make_providers() {
    const auto cheats = static_cast<std::uint32_t>(opt_.cheaters * opt_.providers + 0.5);
    for (std::uint32_t i = 0; i < opt_.providers; ++i) {
      Provider p{seeded_key(rng_), model_.place(rng_), 0, -1, {}, {}};
      if (i < cheats && !opt_.fail_rates.empty()) {
        p.cls = static_cast<int>(i % opt_.fail_rates.size());
        p.fail_rate = opt_.fail_rates[static_cast<std::size_t>(p.cls)];
      }
      Offer& o = p.offer;
      o.service_id = random_hash(rng_);
      o.provider = p.key.public_key();
      o.probe_request = Bytes(64, 0x42);
      o.expected_response_hash = random_hash(rng_);
      o.max_latency_ms = opt_.max_latency_ms;
      o.bond = 1'000'000;
      o.nonce = i;
      sign_offer(o, p.key);
      p.id = offer_id(o);
      offers_.push_back(o);
      by_id_.emplace(p.id, i);
      providers_.push_back(std::move(p));
    }
  }

  std::int64_t one_way_us(const LatencyModel::Placement& a, const LatencyModel::Placement& b) {
    return model_.one_way_us(a, b, rng_) + static_cast<std::int64_t>(rng_.exponential(opt_.jitter_ms) * 1000);
  }
  bool lost() { return opt_.loss > 0 && rng_.unit() < opt_.loss; }

  void push(Event ev) {
    ev.seq = next_seq_++;
    queue_.push(ev);
  }

  void reschedule(std::uint32_t c) {
    Prober& p = probers_[c];
    const TimeMs w = p.core->next_wakeup();
    if (w == p.wake || w == kNever) return;
    p.wake = w;
    push(Event{w * 1000, 0, Event::kTick, c, 0, 0, false});
  }

  void drain_sends(std::uint32_t c, std::int64_t now_us, PosStats& st) {
    Prober& p = probers_[c];
    while (auto s = p.core->poll_send()) {
      st.on_attempt(providers_[p.provider].cls, opt_.request_bytes);
      if (lost()) { st.on_lost(); continue; }
      push(Event{now_us + one_way_us(auditors_[p.auditor].at, providers_[p.provider].at), 0, Event::kRequest, c,
                 s->probe_id, now_us, false});
    }
  }

  // The provider answers every request it gets; a cheater answers wrong
  // bytes with probability fail_rate.
  void on_request(const Event& ev, PosStats& st) {
    const Prober& p = probers_[ev.core];
    const Provider& pr = providers_[p.provider];
    const bool wrong = pr.fail_rate > 0 && rng_.unit() < pr.fail_rate;
    st.on_answer(pr.cls, opt_.response_bytes);
    if (lost()) { st.on_lost(); return; }
    const std::int64_t service_us = 2000 + static_cast<std::int64_t>(rng_.exponential(3.0) * 1000);
    push(Event{ev.t_us + service_us + one_way_us(pr.at, auditors_[p.auditor].at), 0, Event::kAnswer, ev.core,
               ev.probe_id, ev.sent_us, wrong});
  }

  void on_answer(const Event& ev) {
    Prober& p = probers_[ev.core];
    const Offer& o = providers_[p.provider].offer;
    ProbeAnswer a;
    a.ttfb_ms = static_cast<std::uint32_t>((ev.t_us - ev.sent_us) / 1000);
    a.connect_ms = a.ttfb_ms / 2;
    a.throughput_bps = 1'000'000;
    a.response_hash = ev.wrong ? Hash256{} : o.expected_response_hash;
    Outbox out;
    p.core->handle_answer(ev.probe_id, a, ev.t_us / 1000, out);
  }

  void run_events(PosStats& st) {
    while (!queue_.empty()) {
      const Event ev = queue_.top();
      queue_.pop();
      if (ev.kind == Event::kTick) {
        Prober& p = probers_[ev.core];
        if (ev.t_us != p.wake * 1000) continue;  // superseded
        p.wake = kNever;
        Outbox out;
        p.core->on_tick(ev.t_us / 1000, out);
        drain_sends(ev.core, ev.t_us, st);
      } else if (ev.kind == Event::kRequest) {
        on_request(ev, st);
        continue;
      } else {
        on_answer(ev);
      }
      reschedule(ev.core);
    }
  }

  void start_probers(std::uint64_t e, TimeMs start, const std::vector<Assignment>& as,
                     const std::map<XOnlyPubKey, std::uint32_t>& auditor_index, const std::vector<Hash256>& secrets) {
    probers_.clear();
    for (const Assignment& a : as) {
      const std::uint32_t pi = by_id_.at(a.offer_id);
      for (const XOnlyPubKey& k : a.auditors) {
        const std::uint32_t ai = auditor_index.at(k);
        Prober p{std::make_unique<ProbeCore>(auditors_[ai].key, params_, opt_.probe_timeout_ms), pi, ai, kNever};
        p.core->start_epoch(e, start, secrets[ai], {providers_[pi].offer});
        probers_.push_back(std::move(p));
        reschedule(static_cast<std::uint32_t>(probers_.size() - 1));
      }
    }
  }

  void run_epoch(std::uint64_t e, PosStats& st) {
    const TimeMs start = static_cast<TimeMs>(e * params_.epoch_ms);
    SettleInput in;
    in.epoch = e;
    in.offers = offers_;
    std::vector<Hash256> secrets;
    std::vector<std::pair<XOnlyPubKey, Hash256>> reveals;
    std::map<XOnlyPubKey, std::uint32_t> auditor_index;
    for (std::uint32_t i = 0; i < auditors_.size(); ++i) {
      const XOnlyPubKey& k = auditors_[i].key.public_key();
      secrets.push_back(random_hash(rng_));
      in.probe_commitments[k] = probe_commitment(secrets.back(), k, e);
      reveals.emplace_back(k, random_hash(rng_));
      auditor_index[k] = i;
    }
    seed_ = derive_seed(seed_, e, reveals);
    in.assignments = assign_auditors(seed_, offers_, stakes_, params_.auditors_per_offer);
    start_probers(e, start, in.assignments, auditor_index, secrets);
    run_events(st);
    for (Prober& p : probers_) {
      for (Report& r : p.core->finish_epoch()) {
        st.on_report(providers_[p.provider].cls, r, encode(Message{r}).size());
        in.reports.push_back(std::move(r));
      }
      st.add_core(p.core->counters());
    }
    in.reputation_bps = reputation_;
    WallTimer wall;
    const EpochResult res = settle_epoch(in, params_);
    st.on_settle(wall.seconds(), res.rejected.size());
    for (const Settlement& s : res.settlements) {
      reputation_[s.offer_id] = s.reputation_bps;
      st.on_settlement(providers_[by_id_.at(s.offer_id)].cls, s);
    }
  }

  const PosSimOptions& opt_;
  SimRng rng_;
  LatencyModel model_;
  PosParams params_;
  std::vector<Auditor> auditors_;
  std::vector<StakeEntry> stakes_;
  std::vector<Provider> providers_;
  std::vector<Offer> offers_;
  std::map<Hash256, std::uint32_t> by_id_;
  std::map<Hash256, std::uint32_t> reputation_;
  Hash256 seed_;
  std::vector<Prober> probers_;
  std::priority_queue<Event, std::vector<Event>, std::greater<Event>> queue_;
  std::uint64_t next_seq_ = 0;
};

}  // namespace

int run_pos(const PosSimOptions& opt) {
  WallTimer wall;
  PosWorld world(opt);
  PosStats st = world.run();
  std::printf("%s\n", st.render(wall.seconds(), peak_rss_mib()).c_str());
  return 0;
}

}  // namespace bc::sim
