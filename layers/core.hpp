// The one sans-I/O contract that every protocol core follows: the DHT node,
// the SAL session, ledger sync, the BFT committee and the storage provider.
// docs/architecture.md ("The core contract") explains it with examples.
//
// A core is a deterministic state machine. It never touches a socket, a file,
// a thread, a clock or a global RNG. A driver (Asio in blockcloudd, MemNet and
// the whole-node simulator in tests, SimGrid in simulations/) owns all of
// that, feeds the core inputs and carries out the outputs the core leaves.
//
// Inputs (driver -> core), on one thread at a time, each with the driver's
// clock `now` and the Outbox the driver will drain after the call:
//   on_datagram(from, bytes, now, out)            datagram peers
//   on_peer_up(peer, remote, outbound, now, out)  framed-stream peers
//   on_frame(peer, bytes, now, out)
//   on_peer_down(peer, now, out)
//   on_tick(now, out)                  whenever now >= next_wakeup(); early is harmless
//   handle_*(..., now, out)            the answer to a request the core made
//                                      (a block validated, a write made durable)
//   API calls (..., now, out)          what the node's owner asks of the core
//
// Outputs (core -> driver), taken by the driver after every input, in order:
//   1. out.writes: durable store writes. The driver applies each atomically
//      and, when `sync`, makes it durable BEFORE it sends anything from the
//      same Outbox. A core that must not say something before it is on disk
//      (a vote, an acknowledged put) queues the write and the message in one
//      input: the driver's order makes the write ahead of the message.
//   2. out.datagrams, out.frames, out.disconnects: transmissions.
//   3. core-specific events, pulled with poll_event() until it is empty.
//   4. next_wakeup(): the next time the core wants on_tick (kNever for none).
// A core whose peer is one flow-controlled byte stream (the SAL session over
// TLS) is the one exception to 2: the transport's free room sets the pace, so
// the driver pulls those bytes with take_output(now, max_bytes) while the
// transport has room, exactly as quinn-proto's poll_transmit.
//
// Determinism: given the same inputs, times and seed (bc::Rng from the
// driver), a core leaves the same outputs. A failing seed in a test or a
// simulation reproduces its run.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "layers/bytes.hpp"
#include "layers/runtime.hpp"

namespace bc {

// A framed-stream connection, named by the driver. Ids are never reused
// within one driver, so a late input for a closed peer is recognisable.
using PeerId = std::uint64_t;

// next_wakeup() values at or above this mean "no tick wanted".
inline constexpr TimeMs kNever = INT64_MAX / 2;

// One atomic write to the core's store. Keys and values are opaque to the
// driver. The driver reports failure to the core through the core's own
// handle_* input (a store that cannot write stops the node; see the core).
struct StoreWrite {
  struct Op {
    std::string key;
    std::optional<Bytes> value;  // nullopt: delete the key
  };
  std::vector<Op> ops;
  bool sync = true;  // durable before any transmission of the same Outbox
};

// What a core leaves for its driver after one input (see the order above).
struct Outbox {
  struct Datagram {
    Endpoint to;
    Bytes payload;
  };
  struct Frame {
    PeerId to;
    Bytes payload;
  };
  std::vector<StoreWrite> writes;
  std::vector<Datagram> datagrams;
  std::vector<Frame> frames;
  std::vector<PeerId> disconnects;

  void send(const Endpoint& to, Bytes payload) { datagrams.push_back({to, std::move(payload)}); }
  void send_frame(PeerId to, Bytes payload) { frames.push_back({to, std::move(payload)}); }
  void disconnect(PeerId peer) { disconnects.push_back(peer); }
  void write(StoreWrite w) { writes.push_back(std::move(w)); }
  bool empty() const { return writes.empty() && datagrams.empty() && frames.empty() && disconnects.empty(); }
  void clear() {
    writes.clear();
    datagrams.clear();
    frames.clear();
    disconnects.clear();
  }
};

// The inputs every core has.
class Core {
 public:
  virtual ~Core() = default;
  virtual void on_tick(TimeMs now, Outbox& out) = 0;
  virtual TimeMs next_wakeup() const = 0;
};

// A core whose peers are datagram endpoints (the DHT node).
class DatagramProtocol : public virtual Core {
 public:
  virtual void on_datagram(const Endpoint& from, ByteView data, TimeMs now, Outbox& out) = 0;
};

// A core whose peers are framed-stream connections (ledger sync, the BFT
// committee). Frames on one peer arrive in order and complete; a peer is up
// from on_peer_up until on_peer_down (after which its id is never seen
// again). Connections are the driver's business; a core asks to close one
// with out.disconnect(peer).
class StreamProtocol : public virtual Core {
 public:
  virtual void on_peer_up(PeerId peer, const Endpoint& remote, bool outbound, TimeMs now, Outbox& out) = 0;
  virtual void on_frame(PeerId peer, ByteView frame, TimeMs now, Outbox& out) = 0;
  virtual void on_peer_down(PeerId peer, TimeMs now, Outbox& out) = 0;
};

}  // namespace bc
