#include "simulations/sim_net.hpp"

#include <algorithm>
#include <cmath>
#include <exception>
#include <stdexcept>
#include <string>

#include <simgrid/s4u.hpp>

namespace bc::sim {
namespace {

constexpr std::uint32_t kBaseAddr = 0x0a000000;  // 10.0.0.0
constexpr std::uint16_t kPort = 4000;

}  // namespace

SimNet::SimNet(const LatencyModel& model, std::uint64_t seed, TimeMs epoch_ms)
    : model_(model), rng_(seed), epoch_ms_(epoch_ms) {}

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
  heap_.push_back(std::move(ev));
  std::push_heap(heap_.begin(), heap_.end(), Later{});
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
    const std::int64_t delay = model_.one_way_us(s.place, slots_[to].place, rng_);
    push(Event{now_us_ + delay, next_seq_++, to, i, Kind::kDeliver, std::move(d.payload)});
  }
  out.clear();
  if (!s.core) return;  // a callback may have removed it
  // Reschedule the tick. A core that still wants a tick at or before now
  // right after on_tick() waits for the next millisecond, so it cannot spin.
  const TimeMs wake = s.core->next_wakeup();
  std::int64_t t_us;
  if (wake >= epoch_ms_ + (INT64_MAX / 2000)) {
    t_us = INT64_MAX;
  } else {
    t_us = std::max<std::int64_t>((wake - epoch_ms_) * 1000, now_us_);
    if (after_tick && wake <= now_ms()) t_us = (now_us_ / 1000 + 1) * 1000;
  }
  if (t_us < s.tick_us) {
    s.tick_us = t_us;
    s.tick_seq = next_seq_++;
    push(Event{t_us, s.tick_seq, i, kNoNode, Kind::kTick, {}});
  }
}

void SimNet::sync_clock() {
  // SimGrid's clock is the time source: sleep to the event, then read it.
  const double target = static_cast<double>(heap_.front().t_us) * 1e-6;
  if (heap_.front().t_us > now_us_) {
    simgrid::s4u::this_actor::sleep_until(target);
    ++counters_.clock_steps;
    now_us_ = std::llround(simgrid::s4u::Engine::get_clock() * 1e6);
    if (now_us_ != heap_.front().t_us) {
      throw std::logic_error("simulation: SimGrid clock " + std::to_string(now_us_) +
                             " us differs from the event time " +
                             std::to_string(heap_.front().t_us) + " us");
    }
  }
}

void SimNet::handle(Event& ev) {
  switch (ev.kind) {
    case Kind::kCall: {
      auto it = calls_.find(ev.seq);
      auto fn = std::move(it->second);
      calls_.erase(it);
      fn();
      break;
    }
    case Kind::kTick: {
      if (!alive(ev.to)) break;
      Slot& s = slots_[ev.to];
      if (ev.seq != s.tick_seq) break;  // superseded by an earlier tick
      s.tick_us = INT64_MAX;
      Outbox out;
      bool ticked = false;
      if (now_ms() >= s.core->next_wakeup()) {
        ++counters_.ticks;
        s.core->on_tick(now_ms(), out);
        ticked = true;
      }
      flush(ev.to, out, ticked);
      break;
    }
    case Kind::kDeliver: {
      if (!alive(ev.to)) {
        ++counters_.dropped_dead;
        break;
      }
      ++counters_.delivered;
      ++slots_[ev.to].io;
      if (on_deliver) on_deliver(ev.from, ev.to, ev.payload);
      if (!alive(ev.to)) break;
      Outbox out;
      slots_[ev.to].core->on_datagram(endpoint_of(ev.from), ev.payload, now_ms(), out);
      flush(ev.to, out, false);
      break;
    }
  }
}

void SimNet::loop() {
  while (!heap_.empty() && !stopped_) {
    sync_clock();
    std::pop_heap(heap_.begin(), heap_.end(), Later{});
    Event ev = std::move(heap_.back());
    heap_.pop_back();
    ++counters_.events;
    handle(ev);
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
