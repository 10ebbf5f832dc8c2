// Framed TCP messages between nodes, for payloads too large for the DHT's
// UDP datagrams (ledger blocks). Runs on the caller's io_context, on one
// thread: every callback runs on the io thread.
//
// Frame: u32 big-endian length, then that many bytes. A frame longer than
// max_frame_bytes closes the connection (counted). Each connection has a
// bounded send queue; a peer that does not drain it is disconnected rather
// than buffered without bound. Peers added with connect() are redialled with
// exponential backoff (250 ms .. 8 s) while they are down; the backoff
// resets only once a connection has delivered a frame, so a peer that
// accepts and closes at once is not redialled in a tight loop.
//
// Slots: outbound connections (to peers added with connect()) have their own
// cap, max_outbound, which inbound connections never use up, so a node can
// always reach the peers it chose. Inbound connections are capped in total
// and per remote IP; when the inbound slots are full, a newcomer from an
// address holding fewer than the most-represented address, less one, takes
// the slot of that address's newest connection (fair shares between sources:
// a flood from a few addresses cannot keep a new source out); failing that, a
// newcomer from the address of a peer this node dials (connect()) takes the
// slot of the newest connection from an address it does not dial, so peers
// that know each other stay reachable both ways during a flood from many
// addresses.
//
// Silent paths: see user_timeout_ms and dial_timeout_ms below.
//
// Memory bounds against hostile peers: a frame's announced length is never
// allocated up front; the body grows as bytes arrive, read_chunk_bytes at a
// time. Inbound connections over the caps are closed at once (counted). Bytes held for partially received frames
// across all connections are capped at max_partial_bytes: past it, the
// connection with the largest partial frame is closed (counted).
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include <boost/asio/io_context.hpp>

#include "layers/metrics.hpp"
#include "layers/runtime.hpp"

namespace bc {

struct StreamNetOptions {
  std::size_t max_frame_bytes = 32u << 20;
  std::size_t max_queue_bytes = 96u << 20;  // per connection
  std::size_t max_outbound = 32;            // dialled connections (never taken by inbound ones)
  std::size_t max_inbound = 64;             // accepted connections
  std::size_t max_inbound_per_ip = 8;       // accepted connections from one remote address
  std::size_t max_partial_bytes = 256u << 20;  // all partial frames together; keep >= max_frame_bytes
  std::size_t read_chunk_bytes = 64u << 10;    // body growth per read
  // A path that silently drops packets (a partition, a dead peer) must not
  // leave a connection stalled in TCP's backed-off retransmissions after
  // the path heals: a connection whose sent data stays unacknowledged for
  // user_timeout_ms is closed (TCP_USER_TIMEOUT) and, if dialled, redialled;
  // a dial that has not connected within dial_timeout_ms is abandoned and
  // retried with the usual backoff. 0: the kernel's defaults (minutes).
  unsigned user_timeout_ms = 5000;
  unsigned dial_timeout_ms = 3000;
  metrics::Registry* metrics = nullptr;     // bc_stream_* counters
};

struct StreamNetStats {
  std::uint64_t frames_in = 0, frames_out = 0, bytes_in = 0, bytes_out = 0;
  std::uint64_t oversized = 0, queue_overflows = 0, connects = 0, accepts = 0, refused = 0;
  std::uint64_t refused_per_ip = 0;     // part of refused: the remote address had too many
  std::uint64_t fair_evictions = 0;     // inbound closed to make room for a less-represented source or a dialled peer
  std::uint64_t partial_evictions = 0;  // closed for holding the largest partial frame
  std::uint64_t partial_bytes = 0;      // now: bytes held for partially received frames
  std::uint64_t partial_bytes_peak = 0;
};

class StreamNet {
 public:
  using ConnId = std::uint64_t;
  // remote: the dialled endpoint (outbound) or the peer's address (inbound).
  using OnConnect = std::function<void(ConnId, const Endpoint& remote, bool outbound)>;
  using OnFrame = std::function<void(ConnId, ByteView frame)>;
  using OnClose = std::function<void(ConnId)>;

  // Binds TCP on `bind`; throws std::runtime_error naming the address if it cannot.
  StreamNet(boost::asio::io_context& io, const Endpoint& bind, StreamNetOptions options,
            OnConnect on_connect, OnFrame on_frame, OnClose on_close);
  ~StreamNet();
  StreamNet(const StreamNet&) = delete;
  StreamNet& operator=(const StreamNet&) = delete;

  void start();
  void stop();  // closes everything; idempotent
  // Keeps a connection to `peer` (no-op if already wanted).
  void connect(const Endpoint& peer);
  bool wants(const Endpoint& peer) const;
  // Queues a frame; false if the connection is gone or its queue overflowed (then closed).
  bool send(ConnId conn, Bytes frame);
  void close(ConnId conn);
  std::size_t connections() const;
  Endpoint local_endpoint() const;
  StreamNetStats stats() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace bc
