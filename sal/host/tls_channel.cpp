// TLS 1.3 over in-memory buffers, peers authenticated as nodes (docs/sal-tls.md).
#include "sal/host/tls_channel.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <stdexcept>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

namespace bc::sal {

namespace {

[[noreturn]] void throw_openssl(const char* what) {
  unsigned long e = ERR_get_error();
  char buf[256] = "no OpenSSL error queued";
  if (e != 0) ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  throw std::runtime_error(std::string("TLS context: ") + what + " failed (" + buf + ")");
}

// ALPN wire form: one length byte, then the name.
std::string alpn_wire() {
  std::string w(1, static_cast<char>(kSalAlpn.size()));
  w += kSalAlpn;
  return w;
}

int channel_index() {
  static const int idx = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return idx;
}

// Largest certificate message accepted from a peer: one node certificate
// with room for TLS framing; anything longer is refused before parsing.
constexpr long kMaxCertList = 2 * static_cast<long>(kMaxNodeCertDer);

std::string hex_id(const NodeId& id) { return id_to_text('n', id); }

}  // namespace

// Reaches the channel's private state from OpenSSL's C callbacks.
struct TlsChannel::Access {
  static TlsChannel* of(SSL* ssl) {
    return static_cast<TlsChannel*>(SSL_get_ex_data(ssl, channel_index()));
  }

  // One BIO serves as both read and write end: reads come from in_, writes
  // append to out_, so ciphertext goes straight into the driver's buffer.
  static int bio_read(BIO* b, char* out, size_t len, size_t* got) {
    auto* ch = static_cast<TlsChannel*>(BIO_get_data(b));
    BIO_clear_retry_flags(b);
    std::size_t avail = ch->buffered_input();
    if (avail == 0) {
      BIO_set_retry_read(b);
      *got = 0;
      return 0;
    }
    std::size_t n = std::min(avail, len);
    std::memcpy(out, ch->in_.data() + ch->in_pos_, n);
    ch->in_pos_ += n;
    *got = n;
    return 1;
  }
  static int bio_write(BIO* b, const char* data, size_t len, size_t* written) {
    auto* ch = static_cast<TlsChannel*>(BIO_get_data(b));
    BIO_clear_retry_flags(b);
    // Same element type on both sides, so this is one memmove.
    auto* p = reinterpret_cast<const std::uint8_t*>(data);
    ch->out_.insert(ch->out_.end(), p, p + len);
    *written = len;
    return 1;
  }
  static long bio_ctrl(BIO*, int cmd, long, void*) {
    // FLUSH and DUP must succeed; everything else (kTLS, EOF, ...) is unsupported.
    return (cmd == BIO_CTRL_FLUSH || cmd == BIO_CTRL_DUP) ? 1 : 0;
  }
  static int bio_create(BIO* b) {
    BIO_set_init(b, 1);
    return 1;
  }
  static const BIO_METHOD* bio_method() {
    static const BIO_METHOD* m = [] {
      BIO_METHOD* meth =
          BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "blockcloud-tls-channel");
      if (meth == nullptr || BIO_meth_set_read_ex(meth, bio_read) != 1 ||
          BIO_meth_set_write_ex(meth, bio_write) != 1 || BIO_meth_set_ctrl(meth, bio_ctrl) != 1 ||
          BIO_meth_set_create(meth, bio_create) != 1)
        throw_openssl("creating the BIO method");
      return meth;
    }();
    return m;
  }

  // Replaces X.509 chain building: a peer is exactly one node certificate.
  static int verify_cert(X509_STORE_CTX* sctx, void*) {
    auto* ssl = static_cast<SSL*>(
        X509_STORE_CTX_get_ex_data(sctx, SSL_get_ex_data_X509_STORE_CTX_idx()));
    TlsChannel* ch = ssl != nullptr ? of(ssl) : nullptr;
    if (ch == nullptr) return 0;
    auto refuse = [&](std::string why) {
      ch->verify_error_ = std::move(why);
      X509_STORE_CTX_set_error(sctx, X509_V_ERR_CERT_REJECTED);
      return 0;
    };
    STACK_OF(X509)* chain = X509_STORE_CTX_get0_untrusted(sctx);
    int count = chain != nullptr ? sk_X509_num(chain) : 1;
    if (count != 1)
      return refuse("peer sent " + std::to_string(count) +
                    " certificates; a Blockcloud node sends exactly one");
    Result<XOnlyPubKey> check = verify_node_cert(X509_STORE_CTX_get0_cert(sctx), ch->ctx_->now());
    if (!check.ok()) return refuse(check.status().message);
    NodeId id = node_id_of(*check);
    if (ch->expected_peer_ && *ch->expected_peer_ != id)
      return refuse("peer is node " + hex_id(id) + ", not the expected node " +
                    hex_id(*ch->expected_peer_) +
                    " (the endpoint now belongs to another node; resolve the service again)");
    ch->peer_key_ = *check;
    return 1;
  }

  // Server side: accept only our protocol; anything else ends the handshake.
  static int alpn_select(SSL*, const unsigned char** out, unsigned char* outlen,
                         const unsigned char* in, unsigned int inlen, void*) {
    unsigned int i = 0;
    while (i < inlen) {
      unsigned int len = in[i];
      if (len == 0 || i + 1 + len > inlen) break;
      if (len == kSalAlpn.size() && std::memcmp(in + i + 1, kSalAlpn.data(), len) == 0) {
        *out = in + i + 1;
        *outlen = static_cast<unsigned char>(len);
        return SSL_TLSEXT_ERR_OK;
      }
      i += 1 + len;
    }
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
};

std::shared_ptr<TlsContext> TlsContext::create(NodeIdentity identity, Config config) {
  std::shared_ptr<TlsContext> c(new TlsContext(std::move(identity), std::move(config)));
  SSL_CTX* ctx = SSL_CTX_new(TLS_method());
  if (ctx == nullptr) throw_openssl("SSL_CTX_new");
  c->ctx_ = ctx;
  const std::string alpn = alpn_wire();
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
      SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1)
    throw_openssl("restricting to TLS 1.3");
  if (SSL_CTX_use_certificate(ctx, c->identity_.cert()) != 1 ||
      SSL_CTX_use_PrivateKey(ctx, c->identity_.key()) != 1 ||
      SSL_CTX_check_private_key(ctx) != 1)
    throw_openssl("installing the node certificate");
  // AES-128-GCM first: fastest with AES-NI, and 128-bit security matches secp256k1's.
  if (SSL_CTX_set_ciphersuites(
          ctx, "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384") != 1)
    throw_openssl("setting cipher suites");
  if (SSL_CTX_set1_sigalgs_list(ctx, "ed25519:ECDSA+SHA256") != 1)
    throw_openssl("setting signature algorithms");
  if (SSL_CTX_set1_groups_list(ctx, "X25519:P-256") != 1) throw_openssl("setting key shares");
  if (SSL_CTX_set_alpn_protos(ctx, reinterpret_cast<const unsigned char*>(alpn.data()),
                              static_cast<unsigned>(alpn.size())) != 0)  // 0 means success here
    throw_openssl("setting ALPN");
  SSL_CTX_set_alpn_select_cb(ctx, &TlsChannel::Access::alpn_select, nullptr);
  // Mutual authentication by our rules only; no CA store is consulted.
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  SSL_CTX_set_cert_verify_callback(ctx, &TlsChannel::Access::verify_cert, nullptr);
  SSL_CTX_set_max_cert_list(ctx, kMaxCertList);
  // No resumption: a resumed session would skip the node certificate check,
  // and SAL sessions multiplex flows instead. No tickets saves a flight too.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_num_tickets(ctx, 0);
  SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION |
                               SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
  // RELEASE_BUFFERS frees the 16 KiB record buffers whenever a channel is idle.
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  ERR_clear_error();
  return c;
}

TlsContext::~TlsContext() { SSL_CTX_free(ctx_); }

TimeMs TlsContext::now() const {
  if (config_.clock) return config_.clock();
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

TlsChannel::TlsChannel(std::shared_ptr<const TlsContext> ctx, TlsRole role,
                       std::optional<NodeId> expected_peer)
    : ctx_(std::move(ctx)), role_(role), expected_peer_(expected_peer) {
  ERR_clear_error();
  ssl_ = SSL_new(ctx_->native());
  if (ssl_ == nullptr) throw_openssl("SSL_new");
  BIO* bio = BIO_new(Access::bio_method());
  if (bio == nullptr) {
    SSL_free(ssl_);
    throw_openssl("BIO_new");
  }
  BIO_set_data(bio, this);
  SSL_set_bio(ssl_, bio, bio);  // one reference serves both directions
  SSL_set_ex_data(ssl_, channel_index(), this);
  // No read-ahead: OpenSSL then takes exactly one record at a time from the
  // input buffer (measured no faster with it), so buffered_input() is exact.
  if (role_ == TlsRole::kClient) {
    SSL_set_connect_state(ssl_);
    advance_handshake();  // ClientHello now
  } else {
    SSL_set_accept_state(ssl_);
  }
}

TlsChannel::~TlsChannel() { SSL_free(ssl_); }

void TlsChannel::fail(std::string reason) {
  if (error_.empty()) error_ = std::move(reason);
  early_ = Bytes();
  ERR_clear_error();
}

void TlsChannel::fail_from_ssl(int ret, const char* during) {
  std::string why;
  if (!verify_error_.empty()) {
    why = verify_error_;
  } else if (unsigned long e = ERR_peek_last_error(); e != 0) {
    const char* r = ERR_reason_error_string(e);
    why = r != nullptr ? r : "OpenSSL error " + std::to_string(e);
  } else {
    why = SSL_get_error(ssl_, ret) == SSL_ERROR_ZERO_RETURN ? "peer closed the connection"
                                                            : "unexpected end of TLS stream";
  }
  fail(std::string("TLS ") + during + " failed: " + why +
       "; drop this connection (send take_ciphertext() first to tell the peer)");
}

void TlsChannel::advance_handshake() {
  if (done_ || failed()) return;
  ERR_clear_error();
  int r = SSL_do_handshake(ssl_);
  if (r != 1) {
    int e = SSL_get_error(ssl_, r);
    if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) fail_from_ssl(r, "handshake");
    return;
  }
  const unsigned char* proto = nullptr;
  unsigned int len = 0;
  SSL_get0_alpn_selected(ssl_, &proto, &len);
  if (len != kSalAlpn.size() || std::memcmp(proto, kSalAlpn.data(), len) != 0)
    return fail("TLS handshake failed: peer did not agree on ALPN \"blockcloud-sal/1\" "
                "(it is not a Blockcloud SAL endpoint)");
  if (!peer_key_)  // cannot happen with SSL_VERIFY_FAIL_IF_NO_PEER_CERT; checked anyway
    return fail("TLS handshake failed: peer presented no verified node certificate");
  done_ = true;
  trim();  // the handshake's input buffer is not needed any more
  flush_early();
  if (closed_) SSL_shutdown(ssl_);
  ERR_clear_error();
}

void TlsChannel::flush_early() {
  // Not held to max_output: early_ is itself bounded by max_early_plaintext.
  std::size_t off = 0;
  while (off < early_.size() && !failed()) {
    std::size_t n = encrypt(ByteView(early_).subspan(off), SIZE_MAX);
    if (n == 0) break;
    off += n;
  }
  Bytes().swap(early_);
}

void TlsChannel::compact_input() {
  if (prepared_ != 0) return;
  if (in_pos_ == in_end_) {
    in_pos_ = in_end_ = 0;
  } else if (in_pos_ > 0 && in_pos_ >= in_end_ / 2) {
    // Less than half is live: moving it is cheaper than growing.
    std::memmove(in_.data(), in_.data() + in_pos_, in_end_ - in_pos_);
    in_end_ -= in_pos_;
    in_pos_ = 0;
  }
}

// Makes room for n more bytes after in_end_ (zero-fills only new capacity).
void TlsChannel::reserve_input(std::size_t n) {
  compact_input();
  if (in_.size() < in_end_ + n) in_.resize(std::max(in_end_ + n, 2 * in_.size()));
}

std::size_t TlsChannel::feed(ByteView ciphertext) {
  if (failed() || prepared_ != 0) return 0;
  std::size_t limit = ctx_->limits().max_input;
  std::size_t n = std::min(ciphertext.size(), limit - std::min(limit, buffered_input()));
  if (n == 0) return 0;
  reserve_input(n);
  std::memcpy(in_.data() + in_end_, ciphertext.data(), n);
  in_end_ += n;
  advance_handshake();
  return n;
}

std::span<std::uint8_t> TlsChannel::prepare_input(std::size_t max) {
  if (failed() || prepared_ != 0) return {};
  std::size_t limit = ctx_->limits().max_input;
  std::size_t n = std::min(max, limit - std::min(limit, buffered_input()));
  if (n == 0) return {};
  reserve_input(n);
  prepared_ = n;
  return {in_.data() + in_end_, n};
}

void TlsChannel::commit_input(std::size_t n) {
  n = std::min(n, prepared_);
  in_end_ += n;
  prepared_ = 0;
  if (n != 0) advance_handshake();
}

void TlsChannel::trim() {
  if (buffered_input() == 0 && prepared_ == 0) {
    Bytes().swap(in_);
    in_pos_ = in_end_ = 0;
  }
  if (out_.empty()) Bytes().swap(out_);
}

Bytes TlsChannel::take_ciphertext() {
  Bytes out;
  out.swap(out_);
  return out;
}

void TlsChannel::take_ciphertext(Bytes& out) {
  out.clear();
  out.swap(out_);
}

std::size_t TlsChannel::write(ByteView plaintext) {
  if (failed() || closed_ || plaintext.empty()) return 0;
  if (!done_) {
    std::size_t room = ctx_->limits().max_early_plaintext - early_.size();
    std::size_t n = std::min(room, plaintext.size());
    early_.insert(early_.end(), plaintext.begin(), plaintext.begin() + static_cast<std::ptrdiff_t>(n));
    return n;
  }
  return encrypt(plaintext, ctx_->limits().max_output);
}

std::size_t TlsChannel::encrypt(ByteView plaintext, std::size_t limit) {
  // Bounds plaintext accepted; records add 22 bytes per 16 KiB on top.
  std::size_t n = std::min(plaintext.size(), limit - std::min(limit, out_.size()));
  if (n == 0) return 0;
  // The BIO never blocks, so SSL_write_ex seals every record of n at once;
  // one allocation for all of them (22 bytes of framing and tag per record).
  out_.reserve(out_.size() + n + (n / 16384 + 1) * 22);
  ERR_clear_error();
  std::size_t written = 0;
  int r = SSL_write_ex(ssl_, plaintext.data(), n, &written);
  if (r != 1) {
    int e = SSL_get_error(ssl_, r);
    if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) fail_from_ssl(r, "write");
    return 0;
  }
  return written;
}

std::size_t TlsChannel::read(std::span<std::uint8_t> out) {
  if (failed() || !done_ || peer_closed_ || out.empty()) return 0;
  std::size_t total = 0;
  while (total < out.size()) {
    ERR_clear_error();
    std::size_t got = 0;
    int r = SSL_read_ex(ssl_, out.data() + total, out.size() - total, &got);
    if (r == 1) {
      total += got;
      continue;
    }
    int e = SSL_get_error(ssl_, r);
    if (e == SSL_ERROR_ZERO_RETURN) {
      peer_closed_ = true;
    } else if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
      fail_from_ssl(r, "read");
    }
    break;
  }
  // Keep the buffer's capacity for the next feed: freeing large buffers on
  // the bulk path costs more than the copy (trim() frees it when idle).
  if (buffered_input() == 0 && prepared_ == 0) in_pos_ = in_end_ = 0;
  return total;
}

void TlsChannel::close() {
  if (closed_ || failed()) return;
  closed_ = true;
  if (done_) {
    ERR_clear_error();
    SSL_shutdown(ssl_);  // queues close_notify; the peer's is seen by read()
    ERR_clear_error();
  }
}

std::optional<NodeId> TlsChannel::peer_node_id() const {
  if (!peer_key_) return std::nullopt;
  return node_id_of(*peer_key_);
}

std::optional<Bytes> TlsChannel::export_keying_material(std::string_view label, ByteView context,
                                                        std::size_t length) const {
  if (!done_ || failed() || length == 0 || length > ctx_->limits().max_exporter_length)
    return std::nullopt;
  Bytes out(length);
  if (SSL_export_keying_material(ssl_, out.data(), out.size(), label.data(), label.size(),
                                 context.data(), context.size(), 1) != 1) {
    ERR_clear_error();
    return std::nullopt;
  }
  return out;
}

std::string TlsChannel::cipher() const {
  if (!done_) return {};
  const SSL_CIPHER* c = SSL_get_current_cipher(ssl_);
  return c != nullptr ? SSL_CIPHER_get_name(c) : "";
}

}  // namespace bc::sal
