// A SAL session: the sans-I/O state between this node and one peer node,
// multiplexing many reliable, resumable flows over one replaceable secure
// byte-stream transport (TLS 1.3 over TCP in real nodes). docs/sal-flows.md.
//
// The driver owns the transport. It calls, on one thread, each with `now`:
//   attach_transport(binding, peer key)  a new TLS connection to the peer is up
//   on_transport_bytes(bytes)            plaintext received on it
//   on_transport_lost()                  it broke (or the driver closed it)
//   on_tick()                            whenever now >= next_wakeup()
// and after every call it
//   - writes take_output() (framed plaintext) to the transport while the
//     transport has room (has_output() says whether there is anything);
//   - handles poll_event() until it returns nullopt;
//   - re-reads next_wakeup().
// Apps use open_flow / accept / refuse / write / read / shutdown / close /
// reset with the local flow ID as the handle.
//
// When the transport is lost the session is *detached*: flows keep their
// unacked bytes and writes still fill buffers, for at most
// detached_timeout_ms. When a transport to the same peer key is attached,
// every flow is resumed with a proof bound to the new connection (the opener
// sends RESUME, the acceptor answers), both sides say what they received and
// the senders continue from there: nothing lost, nothing duplicated.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "layers/bytes.hpp"
#include "layers/crypto.hpp"
#include "layers/metrics.hpp"
#include "layers/runtime.hpp"
#include "layers/status.hpp"
#include "sal/errc.hpp"
#include "sal/session/flow_crypto.hpp"
#include "sal/session/frames.hpp"

namespace bc::sal {

using ServiceId = Hash256;

struct SessionConfig {
  std::uint32_t flow_window = 256 * 1024;   // receive credit per flow (bytes)
  std::uint32_t min_flow_window = 16 * 1024;  // granted even when the receive budget is spent
  std::size_t flow_send_buffer = 256 * 1024;  // unacked + unsent bytes per flow
  std::size_t send_budget = 16 * 1024 * 1024;  // unacked + unsent bytes, all flows
  std::size_t recv_budget = 16 * 1024 * 1024;  // receive credit granted, all flows
  std::size_t max_flows = 4096;               // flows per session
  double open_rate_per_s = 100;               // incoming OPENs per second (token bucket)
  double open_burst = 200;
  TimeMs idle_timeout_ms = 10 * 60 * 1000;  // flow without any activity is reset
  TimeMs detached_timeout_ms = 60 * 1000;   // flows survive this long without a transport
  TimeMs resume_timeout_ms = 10 * 1000;     // acceptor waits this long for RESUME after attach
  TimeMs open_timeout_ms = 30 * 1000;       // opener waits this long for OPEN_OK
  TimeMs accept_timeout_ms = 10 * 1000;     // app must accept/refuse an incoming OPEN in time
  TimeMs ack_delay_ms = 5;                  // longest an ACK is held back to coalesce
  TimeMs keepalive_interval_ms = 15 * 1000;  // send a KEEPALIVE after this much silence
  TimeMs keepalive_timeout_ms = 45 * 1000;   // transport presumed dead after this much silence
  TimeMs sweep_interval_ms = 1000;           // idle/accept/open timeouts are checked this often
};

// Flow limits shared by every session of a node (the driver passes the same
// object to all of them). Atomic so sessions may live on several threads.
struct SharedLimits {
  std::size_t max_flows_total = 100000;
  std::atomic<std::size_t> flows_total{0};
};

// Reasons carried by OPEN_FAIL, RESET and RESUME_FAIL, and in events.
enum class Reason : std::uint8_t {
  kNone = 0,
  kRefused = 1,         // the acceptor's app refused the flow
  kNoService = 2,       // no listener for the service
  kFlowLimit = 3,       // per-session or total flow limit
  kRateLimited = 4,     // too many OPENs per second
  kAcceptTimeout = 5,   // the acceptor's app did not answer in time
  kAppReset = 6,        // the app reset the flow
  kBadProof = 7,        // the opener rejected the provider's delegation proof
  kIdleTimeout = 8,
  kProtocol = 9,        // the peer broke the flow's rules (window, order, offsets)
  kResumeFailed = 10,   // RESUME refused (unknown flow or bad proof; deliberately the same)
  kDetachedTimeout = 11,
  kTransportLost = 12,  // an open in progress when the transport broke
  kOpenTimeout = 13,
  kSessionError = 14,   // the session failed (malformed frames)
};
const char* to_string(Reason r);

struct Event {
  enum class Type {
    kIncoming,    // peer opened a flow for `service`: call accept() or refuse()
    kOpened,      // our open_flow() was accepted and the proof checked
    kOpenFailed,  // our open_flow() failed (reason); the flow is gone
    kReadable,    // read() has bytes or the end of stream (edge: again after a read)
    kWritable,    // write() was short and now has room
    kPeerClosed,  // the peer sent FIN and every byte before it has arrived
    kReset,       // the flow was reset (reason); it is gone
    kClosed,      // both directions finished and acknowledged; the flow is gone
    kTransportDead,  // keepalive timeout: the driver should close the transport
    kSessionFailed,  // malformed input; every flow was reset; drop the session
    kSessionExpired,  // detached longer than detached_timeout_ms; drop the session
  };
  Type type;
  FlowId flow = 0;
  Reason reason = Reason::kNone;
  ServiceId service;  // kIncoming
};

struct FlowStatus {
  bool exists = false;
  FlowId peer_id = 0;  // the peer's ID for this flow (0 until known)
  bool established = false;
  bool opener = false;
  bool resuming = false;
  std::uint64_t sent_acked = 0;   // bytes the peer confirmed
  std::uint64_t written = 0;      // bytes the app wrote
  std::size_t send_buffered = 0;  // unacked + unsent
  std::size_t recv_buffered = 0;  // received, not read
  std::uint64_t received = 0;
  bool peer_fin = false;
};

// Checks the provider's delegation proof from OPEN_OK against the peer key
// proven by TLS. Returns false to refuse the flow.
using ProofCheck = std::function<bool(const ServiceId& service, const XOnlyPubKey& peer, ByteView proof, TimeMs now)>;
// Fills bytes with unpredictable values (flow IDs). E.g. a bc::Rng seeded
// from the CSPRNG by the driver, or bc::random_bytes.
using RandomFill = std::function<void(std::span<std::uint8_t>)>;

struct Flow;

class Session {
 public:
  enum class State { kDetached, kAttached, kFailed, kExpired };

  Session(const XOnlyPubKey& peer, SessionConfig config, SharedLimits& limits, RandomFill random,
          ProofCheck check_proof, metrics::Registry& registry, TimeMs now);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // ---- transport ----
  // binding: the TLS exporter value of this connection (32..64 bytes);
  // peer: the node key TLS proved. Refused (false, counted) for another peer
  // key, a bad binding, or a failed/expired session. Attaching while attached
  // replaces the old transport (as if it were lost first).
  bool attach_transport(TimeMs now, ByteView binding, const XOnlyPubKey& peer);
  void on_transport_bytes(TimeMs now, ByteView data);
  void on_transport_lost(TimeMs now);
  void on_tick(TimeMs now);
  TimeMs next_wakeup() const;

  bool has_output() const;
  // Framed bytes for the transport, about max_bytes at most (control frames
  // first, then DATA round-robin over flows). Empty when detached.
  Bytes take_output(TimeMs now, std::size_t max_bytes = 256 * 1024);
  // The same into `out` (cleared first), reusing its capacity.
  void take_output(TimeMs now, Bytes& out, std::size_t max_bytes);
  std::optional<Event> poll_event();

  // ---- flows ----
  // Opens a flow to `service`; OPEN goes out now, or at the next attach.
  // Fails with Errc::kSessionClosed (failed or expired session) or
  // Errc::kFlowLimit (per-session or node-wide limit).
  Result<FlowId> open_flow(TimeMs now, const ServiceId& service);
  // Answers an Incoming event. proof: the provider's delegation certificate
  // (opaque here, checked by the opener). False if the flow is not pending.
  bool accept(TimeMs now, FlowId flow, ByteView proof);
  bool refuse(TimeMs now, FlowId flow, Reason reason = Reason::kRefused);
  // Copies up to the free buffer space (per flow and session-wide); returns
  // how much was taken. 0 after shutdown, for unknown flows, or when full
  // (a Writable event follows when room appears).
  std::size_t write(TimeMs now, FlowId flow, ByteView data);
  // Ordered bytes; 0 when nothing is buffered (see at_eof()).
  std::size_t read(TimeMs now, FlowId flow, std::span<std::uint8_t> out);
  // True once every byte up to the peer's FIN has been read.
  bool at_eof(FlowId flow) const;
  // No more writes; FIN follows the buffered bytes.
  void shutdown(TimeMs now, FlowId flow);
  // shutdown() and discard whatever arrives; the flow ends (Closed) after
  // both FINs are acknowledged.
  void close(TimeMs now, FlowId flow);
  // Abort: RESET to the peer, the flow is gone at once (no event).
  void reset(TimeMs now, FlowId flow, Reason reason = Reason::kAppReset);

  // ---- inspection ----
  State state() const { return state_; }
  const XOnlyPubKey& peer() const { return peer_; }
  std::size_t flow_count() const { return flows_.size(); }
  FlowStatus status(FlowId flow) const;
  std::size_t send_buffered() const { return tx_buffered_; }
  std::size_t recv_buffered() const { return rx_buffered_; }
  // Size of one flow's fixed state (buffers not included), for memory figures.
  static std::size_t flow_state_bytes();

 private:
  struct Metrics;

  // input
  void handle_frame(TimeMs now, const Frame& f);
  void on_open(TimeMs now, const Frame& f);
  void on_open_ok(TimeMs now, const Frame& f);
  void on_open_fail(TimeMs now, const Frame& f);
  void on_data(TimeMs now, const Frame& f);
  void on_ack(TimeMs now, const Frame& f);
  void on_fin(TimeMs now, const Frame& f);
  void on_reset(TimeMs now, const Frame& f);
  void on_resume(TimeMs now, const Frame& f);
  void on_resume_ok(TimeMs now, const Frame& f);
  void on_resume_fail(TimeMs now, const Frame& f);
  void fail_session(const std::string& reason);  // counted under this drop reason
  bool check_backlog();
  void detach(TimeMs now);

  // flows
  Flow* find(FlowId id) const;
  FlowId new_flow_id();
  Flow& add_flow(TimeMs now, FlowId id, bool opener);
  void remove_flow(FlowId id);
  void kill_flow(TimeMs now, Flow& f, Reason reason, bool tell_peer, bool event);
  void drop(const char* reason);
  bool apply_peer_received(Flow& f, std::uint64_t received, std::uint64_t limit, std::uint8_t flags,
                           bool resume);
  bool maybe_finish(TimeMs now, Flow& f);  // true if the flow was removed
  void check_peer_closed(Flow& f);
  void schedule(Flow& f);
  void queue_ack(TimeMs now, Flow& f, bool urgent);
  void after_input(TimeMs now);
  void grant_credit(Flow& f);
  void release_credit(Flow& f);
  void notify_writable();
  void emit(Event e) { events_.push_back(e); }
  void send(const Frame& f);  // queues a control frame
  void send_open(TimeMs now, Flow& f);
  void send_resume(Flow& f);
  void flush_acks();
  void send_ack(Flow& f);
  void grant_initial(Flow& f);
  bool take_tokens(TimeMs now);
  void expire(TimeMs now);
  void sweep(TimeMs now);
  std::uint64_t fresh_limit(Flow& f);

  XOnlyPubKey peer_;
  SessionConfig cfg_;
  SharedLimits& limits_;
  RandomFill random_;
  ProofCheck check_proof_;
  std::unique_ptr<Metrics> m_;

  State state_ = State::kDetached;
  Bytes binding_;  // current transport's exporter value
  TimeMs detached_since_;
  TimeMs last_rx_ = 0;
  TimeMs last_tx_ = 0;
  TimeMs next_sweep_;
  TimeMs ack_deadline_ = 0;  // 0: no ACK waiting

  std::unordered_map<FlowId, std::unique_ptr<Flow>> flows_;
  // A flow that closed cleanly, remembered so a transport break that ate
  // our last ACK does not turn the peer's clean close into a reset: the
  // next attach resumes it from here (docs/sal-flows.md, "Closing").
  struct ClosedFlow {
    FlowId peer_id = 0;
    bool opener = false;
    FlowSecret secret{};
    std::uint64_t rx_final = 0;
    TimeMs until = 0;
  };
  std::unordered_map<FlowId, ClosedFlow> closed_;
  void send_closed_resume(FlowId id, const ClosedFlow& c);
  std::deque<FlowId> sendable_;   // round-robin of flows with DATA/FIN to send
  std::vector<FlowId> acks_;      // flows with an ACK to send
  std::vector<FlowId> blocked_;   // flows whose write() was short
  std::vector<FlowId> starved_;   // flows granted less than a full window
  std::vector<FlowId> pending_resets_;  // peer IDs to RESET at the next attach
  Bytes ctrl_;                    // control frames waiting for take_output()
  Bytes partial_;                 // an incomplete frame from the transport
  std::deque<Event> events_;
  std::size_t tx_buffered_ = 0;
  std::size_t rx_buffered_ = 0;
  std::size_t rx_promised_ = 0;  // credit granted and not yet read, all flows
  double open_tokens_;
  TimeMs open_tokens_at_;
};

}  // namespace bc::sal
