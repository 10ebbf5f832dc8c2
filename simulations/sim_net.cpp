#include "simulations/sim_net.hpp"

#include <algorithm>
#include <cmath>
#include <exception>
#include <stdexcept>
#include <string>
#include <mutex>
#include <thread>
#include <utility>

#include <simgrid/s4u.hpp>

namespace bc::sim {
namespace {

constexpr std::uint32_t kBaseAddr = 0x0a000000;  // 10.0.0.0
constexpr std::uint16_t kPort = 4000;
// Below this many nodes in a window, waking the workers costs more than it saves.
constexpr std::size_t kMinParallelBatches = 8;
// Event queue buckets of one lookahead (~1-5 ms) each: about a second of
// near future (every datagram's delay; ticks further out wait in a heap).
constexpr std::size_t kRingBuckets = 1024;

// The time of the event a worker is handling (-1: not inside a worker).
thread_local std::int64_t tl_event_us = -1;

void add(SimNetCounters& to, const SimNetCounters& c) {
  to.sent += c.sent;
  to.delivered += c.delivered;
  to.dropped_dead += c.dropped_dead;
  to.dropped_unknown += c.dropped_unknown;
  to.ticks += c.ticks;
}

}  // namespace

// Runs job(k) for k in [0, n) on the calling thread and `extra` workers.
class WorkerPool {
 public:
  explicit WorkerPool(int extra) {
    for (int w = 0; w < extra; ++w) threads_.emplace_back([this] { work(); });
  }
  ~WorkerPool() {
    quit_ = true;
    gen_.fetch_add(1);
    gen_.notify_all();
    for (auto& t : threads_) t.join();
  }
  void run(std::size_t n, const std::function<void(std::size_t)>& job) {
    job_ = &job;
    n_ = n;
    next_.store(0);
    done_.store(0);
    gen_.fetch_add(1);
    gen_.notify_all();
    drain();
    const int extra = static_cast<int>(threads_.size());
    for (int d = done_.load(); d < extra; d = done_.load()) done_.wait(d);
    if (failure_) std::rethrow_exception(std::exchange(failure_, nullptr));
  }

 private:
  void drain() {
    for (std::size_t k = next_.fetch_add(1); k < n_; k = next_.fetch_add(1)) {
      try {
        (*job_)(k);
      } catch (...) {
        std::lock_guard lock(mu_);
        if (!failure_) failure_ = std::current_exception();
      }
    }
  }
  void work() {
    std::uint64_t seen = 0;
    for (;;) {
      gen_.wait(seen);
      seen = gen_.load();
      if (quit_) return;
      drain();
      done_.fetch_add(1);
      done_.notify_one();
    }
  }
  std::vector<std::thread> threads_;
  std::atomic<std::uint64_t> gen_{0};
  std::atomic<std::size_t> next_{0};
  std::atomic<int> done_{0};
  std::atomic<bool> quit_{false};
  const std::function<void(std::size_t)>* job_ = nullptr;
  std::size_t n_ = 0;
  std::mutex mu_;
  std::exception_ptr failure_;
};

SimNet::SimNet(const LatencyModel& model, std::uint64_t seed, TimeMs epoch_ms)
    : model_(model),
      rng_(seed),
      epoch_ms_(epoch_ms),
      queue_(model.min_one_way_us(), kRingBuckets),
      lookahead_us_(model.min_one_way_us()) {}

std::int64_t SimNet::now_us() const { return tl_event_us >= 0 ? tl_event_us : now_us_; }

SimNet::~SimNet() = default;

Endpoint SimNet::endpoint_of(NodeIndex i) {
  // Built by hand (not Endpoint::v4) so the driver needs only the header.
  Endpoint e;
  e.ip[10] = 0xff;
  e.ip[11] = 0xff;
  const std::uint32_t a = kBaseAddr + i;
  e.ip[12] = static_cast<std::uint8_t>(a >> 24);
  e.ip[13] = static_cast<std::uint8_t>(a >> 16);
  e.ip[14] = static_cast<std::uint8_t>(a >> 8);
  e.ip[15] = static_cast<std::uint8_t>(a);
  e.port = kPort;
  return e;
}

NodeIndex SimNet::index_of(const Endpoint& e) {
  for (int k = 0; k < 10; ++k) {
    if (e.ip[k] != 0) return kNoNode;
  }
  if (e.ip[10] != 0xff || e.ip[11] != 0xff || e.port != kPort) return kNoNode;
  const std::uint32_t a = (std::uint32_t{e.ip[12]} << 24) | (std::uint32_t{e.ip[13]} << 16) |
                          (std::uint32_t{e.ip[14]} << 8) | e.ip[15];
  if ((a & 0xff000000u) != kBaseAddr || a == kBaseAddr + kNoNode) return kNoNode;
  return a - kBaseAddr;
}

NodeIndex SimNet::reserve() {
  if (slots_.size() >= 0x00ffffffu) {
    throw std::length_error("simulation: more than 16M node slots (10/8 is full); run fewer nodes or less churn");
  }
  Slot s;
  s.place = model_.place(rng_);
  s.jitter = SimRng(rng_.fork());
  slots_.push_back(std::move(s));
  return static_cast<NodeIndex>(slots_.size() - 1);
}

void SimNet::attach(NodeIndex i, std::unique_ptr<DatagramProtocol> core) {
  if (slots_[i].core) throw std::logic_error("simulation: node slot attached twice");
  slots_[i].core = std::move(core);
  ++live_;
  Outbox none;
  flush(i, none, false);  // schedules its first tick
}

void SimNet::remove(NodeIndex i) {
  if (!alive(i)) return;
  slots_[i].core.reset();
  slots_[i].tick_us = INT64_MAX;
  --live_;
}

void SimNet::call(NodeIndex i,
                  const std::function<void(DatagramProtocol&, TimeMs, Outbox&)>& fn) {
  if (!alive(i)) return;
  Outbox out;  // local: fn may run callbacks that call() other nodes
  fn(*slots_[i].core, now_ms(), out);
  flush(i, out, false);
}

void SimNet::at(std::int64_t t_us, std::function<void()> fn) {
  Event ev{std::max(t_us, now_us_), next_seq_++, kNoNode, kNoNode, Kind::kCall, {}};
  calls_.emplace(ev.seq, std::move(fn));
  push(std::move(ev));
}

void SimNet::push(Event ev) {
  queue_.push(std::move(ev));
}

void SimNet::flush(NodeIndex i, Outbox& out, bool after_tick) {
  Slot& s = slots_[i];
  for (auto& d : out.datagrams) {
    ++counters_.sent;
    ++s.io;
    const NodeIndex to = index_of(d.to);
    if (to == kNoNode || to >= slots_.size()) {
      ++counters_.dropped_unknown;
      continue;
    }
    const std::int64_t delay = model_.one_way_us(s.place, slots_[to].place, s.jitter);
    push(Event{now_us_ + delay, next_seq_++, to, i, Kind::kDeliver, std::move(d.payload)});
  }
  out.clear();
  if (!s.core) return;  // a callback may have removed it
  const std::int64_t t_us = wake_us(i, now_us_, after_tick);
  if (t_us < s.tick_us) {
    s.tick_us = t_us;
    s.tick_seq = next_seq_++;
    push(Event{t_us, s.tick_seq, i, kNoNode, Kind::kTick, {}});
  }
}

std::int64_t SimNet::wake_us(NodeIndex i, std::int64_t now_us, bool after_tick) const {
  // A core that still wants a tick at or before now right after on_tick()
  // waits for the next millisecond, so it cannot spin.
  const TimeMs wake = slots_[i].core->next_wakeup();
  if (wake >= epoch_ms_ + (INT64_MAX / 2000)) return INT64_MAX;
  if (after_tick && wake <= epoch_ms_ + now_us / 1000) return (now_us / 1000 + 1) * 1000;
  return std::max<std::int64_t>((wake - epoch_ms_) * 1000, now_us);
}

void SimNet::send_all(NodeIndex i, Outbox& out, std::int64_t now_us, Batch& b) {
  Slot& s = slots_[i];
  for (auto& d : out.datagrams) {
    ++b.counters.sent;
    ++s.io;
    const NodeIndex to = index_of(d.to);
    if (to == kNoNode || to >= slots_.size()) {
      ++b.counters.dropped_unknown;
      continue;
    }
    const std::int64_t delay = model_.one_way_us(s.place, slots_[to].place, s.jitter);
    b.sent.push_back(Event{now_us + delay, 0, to, i, Kind::kDeliver, std::move(d.payload)});
  }
  out.clear();
}

// One node's events of the window, in order, plus the ticks they cause
// before the window ends. Touches only this node's slot and `b`.
void SimNet::run_batch(Batch& b, std::int64_t end_us) {
  Slot& s = slots_[b.node];
  Outbox out;
  std::size_t k = 0;
  std::int64_t local_tick = INT64_MAX;
  while (k < b.events.size() || local_tick != INT64_MAX) {
    const bool from_queue = k < b.events.size() && b.events[k].t_us <= local_tick;
    const std::int64_t t = from_queue ? b.events[k].t_us : local_tick;
    const bool tick = !from_queue || b.events[k].kind == Kind::kTick;
    tl_event_us = t;
    const TimeMs now = epoch_ms_ + t / 1000;
    bool ticked = false;
    if (tick) {
      if (from_queue) s.tick_us = INT64_MAX;  // the heap's tick event is used up
      local_tick = INT64_MAX;
      if (now >= s.core->next_wakeup()) {
        ++b.counters.ticks;
        s.core->on_tick(now, out);
        ticked = true;
      }
    } else {
      Event& ev = b.events[k];
      ++b.counters.delivered;
      ++s.io;
      if (on_deliver) on_deliver(ev.from, b.node, ev.payload);
      s.core->on_datagram(endpoint_of(ev.from), ev.payload, now, out);
    }
    if (from_queue) ++k;
    send_all(b.node, out, t, b);
    const std::int64_t w = wake_us(b.node, t, ticked);
    if (w < end_us) {
      local_tick = w;
    } else {
      b.next_tick_us = w;
    }
  }
  tl_event_us = -1;
}

void SimNet::run_window(std::int64_t end_us) {
  // Take every node event before end_us (and before the next scenario call),
  // grouped by node; the heap yields them in (time, seq) order.
  std::size_t used = 0;
  ++window_;
  for (const Event* next = queue_.peek_before(end_us); next && next->kind != Kind::kCall;
       next = queue_.peek_before(end_us)) {
    Event ev = queue_.pop();
    ++counters_.events;
    if (!alive(ev.to)) {
      if (ev.kind == Kind::kDeliver) ++counters_.dropped_dead;
      continue;
    }
    if (ev.kind == Kind::kTick && ev.seq != slots_[ev.to].tick_seq) continue;  // superseded
    Slot& s = slots_[ev.to];
    if (s.window != window_) {
      s.window = window_;
      s.batch = static_cast<std::uint32_t>(used);
      if (used == batches_.size()) batches_.emplace_back();
      Batch& b = batches_[used++];
      b.node = ev.to;
      b.events.clear();
      b.sent.clear();
      b.next_tick_us = INT64_MAX;
      b.counters = {};
    }
    batches_[s.batch].events.push_back(std::move(ev));
  }
  if (used == 0) return;

  auto job = [this, end_us](std::size_t k) { run_batch(batches_[k], end_us); };
  if (threads_ > 1 && used >= kMinParallelBatches) {
    if (!pool_) pool_ = std::make_unique<WorkerPool>(threads_ - 1);
    pool_->run(used, job);
  } else {
    for (std::size_t k = 0; k < used; ++k) job(k);
  }

  // Merge in the order the nodes were taken: seqs (which order events of
  // equal time) never depend on which thread finished first.
  for (std::size_t k = 0; k < used; ++k) {
    Batch& b = batches_[k];
    add(counters_, b.counters);
    for (auto& ev : b.sent) {
      ev.seq = next_seq_++;
      push(std::move(ev));
    }
    Slot& s = slots_[b.node];
    if (b.next_tick_us < s.tick_us) {
      s.tick_us = b.next_tick_us;
      s.tick_seq = next_seq_++;
      push(Event{s.tick_us, s.tick_seq, b.node, kNoNode, Kind::kTick, {}});
    }
  }
}

void SimNet::sync_clock() {
  // SimGrid's clock is the time source: sleep to the event, then read it.
  const std::int64_t t_us = queue_.top().t_us;
  const double target = static_cast<double>(t_us) * 1e-6;
  if (t_us > now_us_) {
    simgrid::s4u::this_actor::sleep_until(target);
    ++counters_.clock_steps;
    now_us_ = std::llround(simgrid::s4u::Engine::get_clock() * 1e6);
    if (now_us_ != t_us) {
      throw std::logic_error("simulation: SimGrid clock " + std::to_string(now_us_) +
                             " us differs from the event time " +
                             std::to_string(t_us) + " us");
    }
  }
}

void SimNet::run_call(const Event& ev) {
  auto it = calls_.find(ev.seq);
  auto fn = std::move(it->second);
  calls_.erase(it);
  fn();
}

void SimNet::loop() {
  while (!queue_.empty() && !stopped_) {
    sync_clock();
    if (queue_.top().kind == Kind::kCall) {
      Event ev = queue_.pop();
      ++counters_.events;
      run_call(ev);
    } else {
      run_window(now_us_ + lookahead_us_);
    }
  }
}

void SimNet::run(const char* argv0) {
  // SimGrid parses --cfg/--log options from argv; we pass only quiet logging.
  std::string a0 = argv0, a1 = "--log=root.thresh:warning";
  char* argv[] = {a0.data(), a1.data(), nullptr};
  int argc = 2;
  simgrid::s4u::Engine engine(&argc, argv);
  auto* zone = simgrid::s4u::create_full_zone("world");
  auto* host = zone->create_host("network", 1e9);
  zone->seal();
  std::exception_ptr failure;
  simgrid::s4u::Actor::create("network", host, [this, &failure] {
    try {
      loop();
    } catch (...) {
      failure = std::current_exception();  // rethrown outside SimGrid
    }
  });
  engine.run();
  if (failure) std::rethrow_exception(failure);
}

}  // namespace bc::sim
