// MemNet: a deterministic, discrete-event, in-memory network that drives any
// bc::DatagramProtocol and bc::StreamProtocol (layers/core.hpp) for tests and
// the whole-node simulator (tests/sim/).
//
// Virtual time only moves when the test runs the network. Events are ordered
// by (time, sequence number) and every random choice (jitter, loss,
// duplication) comes from one Rng seeded at construction, so the same seed
// and the same test code reproduce a run bit for bit.
//
// Typical use:
//   bc::MemNet net(/*seed=*/42);
//   net.set_loss(0.01);
//   MyNode a(...), b(...);
//   net.add_node(ea, &a);
//   net.add_node(eb, &b);
//   net.invoke(ea, [&](bc::TimeMs now, bc::Outbox& out) { a.start_lookup(key, now, out); });
//   bool done = net.run_until([&] { return a.lookup_done(); }, net.now() + 10'000);
//
// Semantics:
//   - a datagram from A to B arrives after latency(A, B) + uniform[0, jitter]
//     ms; it is duplicated with probability duplication, and each copy is
//     lost with probability loss and gets its own jitter, independently;
//   - partitions and the drop filter are checked when a datagram is sent and
//     again when it would arrive (a partition also cuts traffic in flight);
//   - a down node receives nothing, gets no ticks and cannot be invoked; it
//     keeps its state and resumes when set up again (a paused process). To
//     model a crash with lost state, remove_node() and add a fresh object;
//   - after every input the node's next_wakeup() is re-read and one tick is
//     scheduled at that time (replacing any earlier scheduled tick). A
//     next_wakeup() of kNever or later means "no tick wanted".
//
// Framed streams (for StreamProtocol cores, like TCP between two nodes):
//   - connect(from, to) dials: after latency(from, to), if both nodes are up,
//     can reach each other and have a stream core, each side gets
//     on_peer_up (the dialler with outbound = true) with its own PeerId;
//     otherwise nothing happens (a failed dial; the caller dials again);
//   - frames on a connection arrive complete and in order, each after
//     latency + jitter but never before the one sent ahead of it; no loss,
//     duplication or drop filter applies to them;
//   - a connection breaks when its two ends are partitioned (at partition()
//     or when a frame would cross), when either node is removed or set down,
//     or when a core asks (out.disconnect). Both sides then get on_peer_down
//     (the remote one after latency); frames in flight are lost. A node set
//     down hears of its broken connections at once, before it pauses. Peer
//     ids are never reused.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "layers/core.hpp"

namespace bc {

class MemNet {
 public:
  // Virtual clock start: a realistic Unix time (Nov 2023) so absolute record
  // expiry times look like real ones.
  static constexpr TimeMs kDefaultStart = 1'700'000'000'000;
  // next_wakeup() values at or above this mean "no tick wanted".
  static constexpr TimeMs kNever = bc::kNever;

  // One-way base latency between two endpoints, in ms (>= 0).
  using LatencyFn = std::function<TimeMs(const Endpoint& from, const Endpoint& to)>;
  // Returns true to drop a datagram from -> to (per direction).
  using DropFn = std::function<bool(const Endpoint& from, const Endpoint& to, ByteView payload)>;
  using Action = std::function<void(TimeMs now, Outbox& out)>;

  enum class Fate {
    kDelivered,
    kLost,          // random loss
    kPartitioned,   // sender and receiver in different partition groups
    kFiltered,      // the drop filter said so
    kReceiverDown,  // receiver set down
    kNoReceiver,    // no node at the destination endpoint
  };
  // What happened to one datagram (for traces and assertions).
  struct TraceEntry {
    TimeMs at;  // delivery time, or send time for drops decided at send
    Endpoint from;
    Endpoint to;
    std::size_t bytes;
    Fate fate;
  };

  struct Stats {
    std::uint64_t sent = 0;        // datagrams handed to the network by nodes
    std::uint64_t duplicated = 0;  // extra copies created
    std::uint64_t delivered = 0;
    std::uint64_t lost = 0;
    std::uint64_t partitioned = 0;
    std::uint64_t filtered = 0;
    std::uint64_t receiver_down = 0;
    std::uint64_t no_receiver = 0;
    std::uint64_t ticks = 0;  // on_tick calls
    std::uint64_t streams_opened = 0;
    std::uint64_t streams_closed = 0;  // broken or disconnected, counted once per connection
    std::uint64_t frames_sent = 0;
    std::uint64_t frames_delivered = 0;
    std::uint64_t dropped() const { return lost + partitioned + filtered + receiver_down + no_receiver; }
  };

  explicit MemNet(std::uint64_t seed, TimeMs start = kDefaultStart);
  MemNet(const MemNet&) = delete;
  MemNet& operator=(const MemNet&) = delete;

  // A distinct IPv4 endpoint 10.x.y.z:port for node number index (0-based),
  // convenient for tests with many nodes.
  static Endpoint endpoint(std::uint32_t index, std::uint16_t port = 4000);

  // ---- nodes ----
  // Non-owning: node must outlive its membership. Throws std::invalid_argument
  // if ep is taken. Schedules the node's first tick at its next_wakeup().
  void add_node(const Endpoint& ep, DatagramProtocol* node);
  // The same for a node with framed-stream peers only, or with both (one
  // object: `dgram` and `stream` must be the same Core).
  void add_stream_node(const Endpoint& ep, StreamProtocol* node);
  void add_node(const Endpoint& ep, DatagramProtocol* dgram, StreamProtocol* stream);
  // Forgets the node; datagrams in flight to it are dropped (kNoReceiver).
  void remove_node(const Endpoint& ep);
  void set_down(const Endpoint& ep, bool down);
  bool has_node(const Endpoint& ep) const;
  bool is_down(const Endpoint& ep) const;
  std::vector<Endpoint> endpoints() const;  // sorted
  // A seed for a node's own Rng, derived from the network seed and ep, so
  // tests need only one seed.
  std::uint64_t node_seed(const Endpoint& ep) const;

  // ---- network model ----
  void set_latency(LatencyFn fn);          // default: 5 ms for every pair
  void set_jitter(TimeMs max_jitter_ms);   // default 2: uniform in [0, 2] ms
  void set_loss(double probability);       // default 0
  void set_duplication(double probability);  // default 0
  // Endpoints in different groups cannot reach each other. Endpoints not
  // listed in any group together form one more group.
  void partition(std::vector<std::set<Endpoint>> groups);
  void heal();
  void set_drop_filter(DropFn fn);  // empty function removes it
  bool can_reach(const Endpoint& from, const Endpoint& to) const;  // partitions only

  // ---- driving ----
  // Runs fn on the node at now() (an API call), sends what it leaves in the
  // Outbox and reschedules the node's tick. Returns false (and does not run
  // fn) if the node is down. Throws std::invalid_argument if there is no node.
  bool invoke(const Endpoint& ep, const Action& fn);
  // ---- framed streams ----
  // Dials a connection from -> to (see the semantics above).
  void connect(const Endpoint& from, const Endpoint& to);
  // True if a connection from -> to (either side dialled) is up.
  bool connected(const Endpoint& from, const Endpoint& to) const;
  std::size_t connections() const { return streams_.size() / 2; }

  // Runs fn (no node attached) at virtual time t >= now(): for scripted
  // events such as churn or partitions in the middle of a run.
  void at(TimeMs t, std::function<void()> fn);

  // Processes every event with time <= t, then sets now() = t.
  void run_until(TimeMs t);
  void run_for(TimeMs d) { run_until(now_ + d); }
  // Processes events until pred() is true (checked before each event) or the
  // next event is later than deadline. Returns pred(). On success now() is
  // the time of the last processed event; otherwise now() = deadline.
  bool run_until(const std::function<bool()>& pred, TimeMs deadline);
  // Processes the next event, if any; returns false when there is none.
  bool step();

  TimeMs now() const { return now_; }
  std::size_t pending_events() const { return queue_.size(); }
  const Stats& stats() const { return stats_; }
  std::uint64_t delivered() const { return stats_.delivered; }
  std::uint64_t dropped() const { return stats_.dropped(); }
  // Called for every datagram's fate, in event order.
  void set_trace(std::function<void(const TraceEntry&)> fn);

 private:
  struct NodeSlot {
    Core* core = nullptr;
    DatagramProtocol* dgram = nullptr;  // null: datagrams to it find no receiver
    StreamProtocol* stream = nullptr;   // null: dials to it fail
    bool down = false;
    std::uint64_t incarnation = 0;  // distinguishes re-added nodes at one endpoint
    std::uint64_t tick_token = 0;   // only the latest scheduled tick is live
    TimeMs tick_at = kNever;
  };
  enum class Kind { kDeliver, kTick, kAction, kDial, kFrame, kPeerDown };
  struct Event {
    TimeMs at = 0;
    std::uint64_t seq = 0;
    Kind kind = Kind::kAction;
    Endpoint from;  // kDeliver, kDial
    Endpoint to;    // kDeliver, kTick, kDial, kFrame, kPeerDown
    Bytes payload;  // kDeliver, kFrame
    std::uint64_t incarnation = 0;  // kTick, kPeerDown: of `to`; kDial: of `from`
    std::uint64_t token = 0;        // kTick
    PeerId peer = 0;                // kFrame, kPeerDown: the receiving side's id
    std::function<void()> action;   // kAction
  };
  // One side of a connection, keyed by its PeerId.
  struct StreamEnd {
    Endpoint owner;
    std::uint64_t incarnation = 0;  // of the owner's slot
    Endpoint remote;
    PeerId other = 0;              // the remote side's id
    TimeMs last_arrival = 0;       // of frames sent from this side: keeps them in order
  };
  struct Later {
    bool operator()(const Event& a, const Event& b) const { return a.at != b.at ? a.at > b.at : a.seq > b.seq; }
  };

  void push(Event e);
  NodeSlot& attach(const Endpoint& ep, Core* core, DatagramProtocol* dgram, StreamProtocol* stream);
  void dispatch(const Endpoint& from, Outbox& out);
  void send_frame(const Endpoint& from, Outbox::Frame& f);
  void dial(Event& e);
  void deliver_frame(Event& e);
  void deliver_peer_down(Event& e);
  // Ends a connection (either side's id); the sides get on_peer_down as the
  // semantics say, except `quiet` (a removed node's own side).
  void close_stream(PeerId peer, const Endpoint* quiet = nullptr);
  void close_streams_of(const Endpoint& ep, bool notify_self);
  void close_partitioned_streams();
  // Runs one input on a node's core, carries out its outputs, reschedules its tick.
  void run_input(const Endpoint& ep, const std::function<void(NodeSlot&, Outbox&)>& fn);
  void send_one(const Endpoint& from, const Endpoint& to, Bytes payload);
  void schedule_tick(const Endpoint& ep, NodeSlot& slot, bool after_tick);
  void process(Event& e);
  void deliver(Event& e);
  void record(TimeMs at, const Endpoint& from, const Endpoint& to, std::size_t bytes, Fate fate);
  int group_of(const Endpoint& ep) const;

  std::uint64_t seed_;
  TimeMs now_;
  Rng rng_;
  std::uint64_t next_seq_ = 0;
  std::uint64_t next_incarnation_ = 1;
  std::vector<Event> queue_;  // binary heap ordered by Later
  std::map<Endpoint, NodeSlot> nodes_;
  std::map<PeerId, StreamEnd> streams_;
  PeerId next_peer_id_ = 1;

  LatencyFn latency_;
  TimeMs jitter_ = 2;
  double loss_ = 0;
  double duplication_ = 0;
  std::map<Endpoint, int> groups_;  // empty: no partition
  DropFn drop_filter_;
  std::function<void(const TraceEntry&)> trace_;
  Stats stats_;
};

}  // namespace bc
