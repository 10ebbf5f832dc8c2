// Sans-I/O TLS 1.3 channel whose peer is authenticated as a Blockcloud node
// (docs/sal-tls.md). No sockets: the driver moves ciphertext between the
// channel and its transport; the SAL reads and writes plaintext.
//
//   driver:  ch.feed(bytes from socket)     -> send ch.take_ciphertext()
//   SAL:     ch.write(plaintext); ch.read(buf); ch.export_keying_material(...)
//
// Both sides present node certificates (sal/records/node_cert.hpp) and check each
// other's; only TLS 1.3, ALPN "blockcloud-sal/1", no session resumption.
#pragma once
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <openssl/types.h>

#include "layers/bytes.hpp"
#include "layers/crypto.hpp"
#include "layers/ids.hpp"
#include "layers/runtime.hpp"
#include "sal/records/node_cert.hpp"

namespace bc::sal {

inline constexpr std::string_view kSalAlpn = "blockcloud-sal/1";

// Per-channel buffer bounds. Each is a backpressure point, never a crash:
// feed() and write() accept only what fits.
struct TlsLimits {
  std::size_t max_input = 1 << 20;           // ciphertext fed but not yet decrypted
  std::size_t max_output = 4 << 20;          // ciphertext not yet taken by the driver
  std::size_t max_early_plaintext = 256 << 10;  // written before the handshake completes
  std::size_t max_exporter_length = 1024;    // export_keying_material() length
};

// One per node: the SSL_CTX with the node identity, shared by all channels.
class TlsContext {
 public:
  struct Config {
    TlsLimits limits;
    // Wall clock for certificate validity (ms since the epoch); the system
    // clock when empty. Tests inject a fixed time.
    std::function<TimeMs()> clock;
  };
  // Throws std::runtime_error if OpenSSL refuses the identity or settings.
  static std::shared_ptr<TlsContext> create(NodeIdentity identity, Config config);
  static std::shared_ptr<TlsContext> create(NodeIdentity identity) {
    return create(std::move(identity), Config{});
  }
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  const NodeIdentity& identity() const { return identity_; }
  const TlsLimits& limits() const { return config_.limits; }
  TimeMs now() const;
  SSL_CTX* native() const { return ctx_; }

 private:
  TlsContext(NodeIdentity identity, Config config) : identity_(std::move(identity)), config_(std::move(config)) {}
  NodeIdentity identity_;
  Config config_;
  SSL_CTX* ctx_ = nullptr;
};

enum class TlsRole { kClient, kServer };

class TlsChannel {
 public:
  // `expected_peer` pins the peer's node ID: the handshake fails unless the
  // peer proves that node key. A client sends its first flight at once
  // (take_ciphertext()). Never throws after construction; construction
  // throws std::runtime_error only if OpenSSL cannot allocate.
  TlsChannel(std::shared_ptr<const TlsContext> ctx, TlsRole role,
             std::optional<NodeId> expected_peer = std::nullopt);
  ~TlsChannel();
  TlsChannel(const TlsChannel&) = delete;
  TlsChannel& operator=(const TlsChannel&) = delete;

  // --- transport side ---
  // Ciphertext received from the peer. Returns how many bytes were accepted:
  // fewer than offered when the input buffer is full (read() drains it).
  // Drives the handshake. Nothing is accepted once failed().
  std::size_t feed(ByteView ciphertext);
  // Zero-copy variant: a writable span of up to `max` bytes at the end of the
  // input buffer (smaller if the buffer is nearly full; empty if full or
  // failed) to receive into directly, then commit_input(n) with n <= its size.
  std::span<std::uint8_t> prepare_input(std::size_t max);
  void commit_input(std::size_t n);
  // All ciphertext waiting to be sent (handshake, records, alerts,
  // close_notify), moved out. After a failure it still holds the alert.
  Bytes take_ciphertext();
  // The same into `out` (cleared first), whose buffer the channel keeps for
  // the next ciphertext: a driver that passes back the buffer it last wrote
  // seals into memory already in use instead of a fresh allocation.
  void take_ciphertext(Bytes& out);
  std::size_t pending_output() const { return out_.size(); }
  // Frees the input buffer if it holds nothing (OpenSSL's record buffers are
  // freed whenever idle already). The input buffer keeps its capacity between
  // feeds for speed; call this when the transport goes quiet, e.g. when a
  // socket read would block, so an idle channel holds only OpenSSL's state.
  void trim();

  // --- application side ---
  // Encrypts plaintext (buffered until the handshake completes). Returns the
  // bytes accepted: fewer when the output or early buffer is full; 0 after
  // failure or close().
  std::size_t write(ByteView plaintext);
  // Decrypts into `out`; returns bytes read, 0 when nothing is available now
  // (or after close_notify: see peer_closed()).
  std::size_t read(std::span<std::uint8_t> out);
  // Sends close_notify; further write()s are refused.
  void close();

  bool handshake_done() const { return done_; }
  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }
  bool peer_closed() const { return peer_closed_; }
  TlsRole role() const { return role_; }
  // The peer's proven node key (set during the handshake, once its
  // certificate verified; the handshake may still fail after that).
  const std::optional<XOnlyPubKey>& peer_node_key() const { return peer_key_; }
  std::optional<NodeId> peer_node_id() const;
  // RFC 8446 exporter (SSL_export_keying_material with context); nullopt
  // before the handshake completes, after failure, or for length 0 or above
  // limits.max_exporter_length. Equal at both ends of one connection.
  std::optional<Bytes> export_keying_material(std::string_view label, ByteView context,
                                              std::size_t length) const;
  // Negotiated cipher suite name, e.g. "TLS_AES_128_GCM_SHA256"; empty before.
  std::string cipher() const;
  // Ciphertext fed but not yet consumed by TLS.
  std::size_t buffered_input() const { return in_end_ - in_pos_; }

  // Internals reached from OpenSSL callbacks.
  struct Access;

 private:
  void advance_handshake();
  void flush_early();
  // Seals plaintext while pending output stays under `limit`; bytes taken.
  std::size_t encrypt(ByteView plaintext, std::size_t limit);
  void fail(std::string reason);
  void fail_from_ssl(int ret, const char* during);
  void compact_input();
  void reserve_input(std::size_t n);

  std::shared_ptr<const TlsContext> ctx_;
  TlsRole role_;
  std::optional<NodeId> expected_peer_;
  SSL* ssl_ = nullptr;
  // Input storage: bytes [in_pos_, in_end_) await TLS; in_.size() is the
  // usable capacity, so refilling it never zero-fills again.
  Bytes in_;
  std::size_t in_pos_ = 0;     // next byte TLS reads
  std::size_t in_end_ = 0;     // end of received bytes
  std::size_t prepared_ = 0;   // bytes after in_end_ handed out by prepare_input()
  Bytes out_;
  Bytes early_;  // plaintext written before the handshake completed
  std::optional<XOnlyPubKey> peer_key_;
  std::string verify_error_;  // why our certificate check refused the peer
  std::string error_;         // the failed state's detail (failed() is the state), not an operation's result
  bool done_ = false;
  bool closed_ = false;
  bool peer_closed_ = false;
};

}  // namespace bc::sal
