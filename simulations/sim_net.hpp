// SimNet: a SimGrid driver for bc::DatagramProtocol cores (layers/runtime.hpp).
//
// SimGrid is the discrete-event engine and the clock; the network is one
// SimGrid actor that owns a virtual-time event queue (datagram deliveries,
// node ticks, scenario calls) and sleeps with this_actor::sleep_until() to
// the next event's time. Per event we pay one heap operation instead of a
// SimGrid activity and context switches, which is what lets 10k-100k nodes
// run in a couple of minutes (docs/simulation.md has the measurements).
//
// Parallel: datagrams take at least the model's minimum one-way delay L, so
// the events of the next L microseconds (up to the next scenario call) cannot
// affect each other across nodes. The loop takes that window, gives each
// node's events (and the ticks they cause inside the window) to one of
// `threads` workers, and then merges every output in node order. The merge
// order, not the thread timing, decides event order, so a run is the same for
// any thread count. Scenario callbacks a node triggers (a get completing) run
// on its worker: they may touch only state of their own, and read the time
// with now_us(), which is the event's time there.
//
// Nodes are addressed 10.x.y.z:4000, the address being 10.0.0.0 + index;
// indices are never reused, so a datagram to a node that left is dropped
// (a dead node stops answering) and a node that joins later is a new node.
// Every input a core gets carries now = epoch + SimGrid's clock in ms.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <unordered_map>
#include <vector>

#include "layers/core.hpp"
#include "simulations/event_queue.hpp"
#include "simulations/latency_model.hpp"
#include "simulations/sim_rng.hpp"

namespace bc::sim {

class WorkerPool;
using NodeIndex = std::uint32_t;
inline constexpr NodeIndex kNoNode = 0xffffffffu;

struct SimNetCounters {
  std::uint64_t sent = 0;             // datagrams handed to the network
  std::uint64_t delivered = 0;
  std::uint64_t dropped_dead = 0;     // addressed to a node that left
  std::uint64_t dropped_unknown = 0;  // addressed to no simulated node
  std::uint64_t ticks = 0;            // on_tick() calls
  std::uint64_t events = 0;           // events popped, stale ones included
  std::uint64_t clock_steps = 0;      // sleep_until() calls
};

class SimNet {
 public:
  // epoch_ms: the bc::TimeMs of virtual time 0.
  SimNet(const LatencyModel& model, std::uint64_t seed, TimeMs epoch_ms);
  ~SimNet();

  // Reserves a slot (placing it in a region); attach() gives it its core.
  NodeIndex reserve();
  void attach(NodeIndex i, std::unique_ptr<DatagramProtocol> core);
  // The node leaves: its core and all its state are destroyed now.
  void remove(NodeIndex i);
  bool alive(NodeIndex i) const { return i < slots_.size() && slots_[i].core != nullptr; }
  std::size_t size() const { return slots_.size(); }
  std::size_t live() const { return live_; }
  DatagramProtocol* core(NodeIndex i) const { return slots_[i].core.get(); }
  const LatencyModel::Placement& placement(NodeIndex i) const { return slots_[i].place; }

  static Endpoint endpoint_of(NodeIndex i);
  static NodeIndex index_of(const Endpoint& e);

  // Runs fn(core, now, outbox) on a live node and then carries out its
  // outputs (sends datagrams, reschedules its tick). For API calls.
  void call(NodeIndex i, const std::function<void(DatagramProtocol&, TimeMs, Outbox&)>& fn);

  // Runs fn at virtual time t_us (>= now), in order with the network events.
  void at(std::int64_t t_us, std::function<void()> fn);

  // Virtual time; inside a worker, the time of the event being handled.
  std::int64_t now_us() const;
  TimeMs now_ms() const { return epoch_ms_ + now_us() / 1000; }
  TimeMs epoch_ms() const { return epoch_ms_; }

  // Datagrams sent and received per node (for per-lookup message counts).
  std::uint32_t io_count(NodeIndex i) const { return slots_[i].io; }
  // Called for every delivered datagram before the receiving core sees it.
  std::function<void(NodeIndex from, NodeIndex to, ByteView payload)> on_deliver;

  // Worker threads for node events (1: everything on SimGrid's actor).
  void set_threads(int n) { threads_ = n < 1 ? 1 : n; }
  int threads() const { return threads_; }

  // Creates the SimGrid engine (one per process), a one-host platform and the
  // network actor, and runs until the queue is empty or stop() is called.
  void run(const char* argv0);
  void stop() { stopped_ = true; }

  const SimNetCounters& counters() const { return counters_; }
  SimRng& rng() { return rng_; }

 private:
  enum class Kind : std::uint8_t { kDeliver, kTick, kCall };
  struct Event {
    std::int64_t t_us;
    std::uint64_t seq;
    NodeIndex to;
    NodeIndex from;
    Kind kind;
    Bytes payload;
  };
  struct Slot {
    std::unique_ptr<DatagramProtocol> core;
    LatencyModel::Placement place;
    SimRng jitter{0};  // this sender's latency jitter: independent of other nodes
    std::uint32_t io = 0;
    std::int64_t tick_us = INT64_MAX;  // time of the pending tick event
    std::uint64_t tick_seq = 0;        // its seq: older tick events are stale
    std::uint64_t window = 0;          // the last window it had events in ...
    std::uint32_t batch = 0;           // ... and its batch there
  };
  // One node's share of a window: its events in order, what they produced.
  struct Batch {
    NodeIndex node = kNoNode;
    std::vector<Event> events;
    std::vector<Event> sent;            // deliveries, seq assigned at the merge
    std::int64_t next_tick_us = INT64_MAX;  // tick to schedule after the window
    SimNetCounters counters;
  };

  void push(Event ev);
  void flush(NodeIndex i, Outbox& out, bool after_tick);
  void run_call(const Event& ev);
  void loop();
  void sync_clock();
  void run_window(std::int64_t end_us);
  void run_batch(Batch& b, std::int64_t end_us);
  void send_all(NodeIndex i, Outbox& out, std::int64_t now_us, Batch& b);
  std::int64_t wake_us(NodeIndex i, std::int64_t now_us, bool after_tick) const;

  const LatencyModel& model_;
  SimRng rng_;
  TimeMs epoch_ms_;
  std::int64_t now_us_ = 0;
  std::uint64_t next_seq_ = 1;
  bool stopped_ = false;
  std::size_t live_ = 0;
  std::vector<Slot> slots_;
  BucketQueue<Event> queue_;  // (t_us, seq) order; buckets of lookahead_us_
  std::unordered_map<std::uint64_t, std::function<void()>> calls_;
  Outbox out_;  // reused: keeps its capacity
  SimNetCounters counters_;
  int threads_ = 1;
  std::int64_t lookahead_us_ = 1;
  std::vector<Batch> batches_;  // reused between windows
  std::uint64_t window_ = 0;
  std::unique_ptr<WorkerPool> pool_;
};

}  // namespace bc::sim
