// TLS channel and node certificates: real OpenSSL at both ends, bytes moved in memory.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "sal/records/node_cert.hpp"
#include "sal/host/tls_channel.hpp"

using namespace bc;
using namespace bc::sal;

namespace {

constexpr TimeMs kNow = 1'800'000'000'000;  // January 2027
constexpr TimeMs kDay = 24LL * 3600 * 1000;

std::shared_ptr<TlsContext> context_for(NodeIdentity id, const TimeMs* clock,
                                        TlsLimits limits = {}) {
  TlsContext::Config cfg;
  cfg.clock = [clock] { return *clock; };
  cfg.limits = limits;
  return TlsContext::create(std::move(id), cfg);
}

struct Node {
  KeyPair key = KeyPair::generate();
  std::shared_ptr<TlsContext> ctx;
  Node(const TimeMs* clock, CertKeyType type = CertKeyType::kEd25519, TlsLimits limits = {})
      : ctx(context_for(NodeIdentity::create(key, *clock, type), clock, limits)) {}
  NodeId id() const { return node_id_of(key.public_key()); }
};

Bytes noise_bytes(std::size_t n) {
  Bytes b(n);
  random_bytes(b);
  return b;
}

// Anything that speaks ciphertext: our channel or a raw OpenSSL peer.
struct Wire {
  virtual ~Wire() = default;
  virtual std::size_t feed(ByteView b) = 0;
  virtual Bytes take() = 0;
};

struct ChannelEnd : Wire {
  TlsChannel& ch;
  explicit ChannelEnd(TlsChannel& c) : ch(c) {}
  std::size_t feed(ByteView b) override { return ch.feed(b); }
  Bytes take() override { return ch.take_ciphertext(); }
};

// Plain OpenSSL over memory BIOs, for peers that do not follow our rules.
struct RawPeer : Wire {
  SSL_CTX* ctx = nullptr;
  SSL* ssl = nullptr;
  BIO* rbio = nullptr;
  BIO* wbio = nullptr;
  bool done = false;
  bool failed = false;

  RawPeer(bool client, int max_version, const NodeIdentity* id, const char* alpn) {
    ctx = SSL_CTX_new(client ? TLS_client_method() : TLS_server_method());
    SSL_CTX_set_max_proto_version(ctx, max_version);
    if (id != nullptr) {
      SSL_CTX_use_certificate(ctx, id->cert());
      SSL_CTX_use_PrivateKey(ctx, id->key());
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
    if (alpn != nullptr) {
      std::string w(1, static_cast<char>(std::strlen(alpn)));
      w += alpn;
      SSL_CTX_set_alpn_protos(ctx, reinterpret_cast<const unsigned char*>(w.data()),
                              static_cast<unsigned>(w.size()));
    }
    ssl = SSL_new(ctx);
    rbio = BIO_new(BIO_s_mem());
    wbio = BIO_new(BIO_s_mem());
    SSL_set_bio(ssl, rbio, wbio);
    if (client) SSL_set_connect_state(ssl); else SSL_set_accept_state(ssl);
    step();
  }
  ~RawPeer() override {
    SSL_free(ssl);
    SSL_CTX_free(ctx);
  }
  void step() {
    if (done || failed) return;
    int r = SSL_do_handshake(ssl);
    if (r == 1) done = true;
    else {
      int e = SSL_get_error(ssl, r);
      if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) failed = true;
    }
    ERR_clear_error();
  }
  std::size_t feed(ByteView b) override {
    BIO_write(rbio, b.data(), static_cast<int>(b.size()));
    step();
    return b.size();
  }
  Bytes take() override {
    Bytes out(static_cast<std::size_t>(BIO_ctrl_pending(wbio)));
    if (!out.empty()) BIO_read(wbio, out.data(), static_cast<int>(out.size()));
    return out;
  }
};

// Ciphertext in flight between two ends; `chunk` bytes per feed() call.
struct Link {
  Wire& a;
  Wire& b;
  std::size_t chunk;
  Bytes ab, ba;
  Link(Wire& x, Wire& y, std::size_t c = SIZE_MAX) : a(x), b(y), chunk(c) {}
  std::size_t ab_pos = 0, ba_pos = 0;

  static std::size_t deliver(Bytes& q, std::size_t& pos, Wire& to, std::size_t chunk) {
    std::size_t moved = 0;
    while (pos < q.size()) {
      std::size_t n = to.feed(ByteView(q).subspan(pos, std::min(chunk, q.size() - pos)));
      if (n == 0) break;
      pos += n;
      moved += n;
    }
    if (pos == q.size()) q.clear(), pos = 0;
    return moved;
  }
  static void append(Bytes& q, const Bytes& more) { q.insert(q.end(), more.begin(), more.end()); }
  bool step() {
    append(ab, a.take());
    append(ba, b.take());
    return deliver(ab, ab_pos, b, chunk) + deliver(ba, ba_pos, a, chunk) > 0;
  }
  void run() {
    for (int i = 0; i < 1'000'000 && step(); ++i) {
    }
  }
};

void handshake(TlsChannel& c, TlsChannel& s, std::size_t chunk = SIZE_MAX) {
  ChannelEnd ce(c), se(s);
  Link link{ce, se, chunk};
  link.run();
}

// Reads whatever is available into `into`.
void drain(TlsChannel& ch, Bytes& into) {
  std::uint8_t buf[64 * 1024];
  while (std::size_t n = ch.read(buf)) into.insert(into.end(), buf, buf + n);
}

}  // namespace

TEST_CASE("tls: node certificate verifies and names the node key") {
  KeyPair k = KeyPair::generate();
  for (CertKeyType t : {CertKeyType::kEd25519, CertKeyType::kP256}) {
    NodeIdentity id = NodeIdentity::create(k, kNow, t);
    Bytes der = id.cert_der();
    CHECK(der.size() < 1024);
    Result<XOnlyPubKey> c = verify_node_cert_der(der, kNow);
    REQUIRE_MESSAGE(c.ok(), c.status().text());
    CHECK(*c == k.public_key());
    CHECK(id.not_after() == kNow + NodeIdentityOptions{}.lifetime_ms);
    // Validity window.
    CHECK(verify_node_cert_der(der, kNow - 2 * 3600 * 1000).status().message.find("not yet valid") !=
          std::string::npos);
    CHECK(verify_node_cert_der(der, kNow + 31 * kDay).status().message.find("expired") != std::string::npos);
    // Truncated, trailing bytes, oversize: refused with a reason.
    CHECK_FALSE(verify_node_cert_der(ByteView(der).first(der.size() - 1), kNow).ok());
    Bytes longer = der;
    longer.push_back(0);
    CHECK(verify_node_cert_der(longer, kNow).status().message.find("trailing") != std::string::npos);
    CHECK_FALSE(verify_node_cert_der(Bytes(kMaxNodeCertDer + 1, 0x30), kNow).ok());
    CHECK(verify_node_cert_der({}, kNow).status().code == bc::Errc::kPermissionDenied);
  }
}

TEST_CASE("tls: extension codec accepts exactly the 102-byte form") {
  KeyPair k = KeyPair::generate();
  Signature sig = k.sign(tagged_hash("x", as_bytes("y")));
  Bytes ext = encode_node_cert_extension(k.public_key(), sig);
  REQUIRE(ext.size() == kNodeCertExtensionSize);
  auto d = decode_node_cert_extension(ext);
  REQUIRE(d);
  CHECK(d->first == k.public_key());
  CHECK(d->second == sig);
  for (std::size_t i : {0, 1, 2, 3, 36, 37}) {
    Bytes bad = ext;
    bad[i] ^= 0x01;
    CHECK_FALSE(decode_node_cert_extension(bad));
  }
  CHECK_FALSE(decode_node_cert_extension(ByteView(ext).first(101)));
  Bytes longer = ext;
  longer.push_back(0);
  CHECK_FALSE(decode_node_cert_extension(longer));
}

TEST_CASE("tls: forged and plain certificates are refused by verify_node_cert") {
  KeyPair owner = KeyPair::generate(), other = KeyPair::generate();
  EvpPkeyPtr key = generate_cert_key(CertKeyType::kEd25519);
  // Extension names `owner` but the signature is by `other`.
  Bytes ext = encode_node_cert_extension(owner.public_key(), other.sign(node_cert_digest(key.get())));
  X509Ptr forged = make_self_signed_cert(key.get(), ext, kNow - kDay, kNow + kDay);
  CHECK(verify_node_cert(forged.get(), kNow).status().message.find("signature") != std::string::npos);
  // Signature over a different certificate key.
  EvpPkeyPtr key2 = generate_cert_key(CertKeyType::kEd25519);
  Bytes ext2 = encode_node_cert_extension(owner.public_key(), owner.sign(node_cert_digest(key2.get())));
  X509Ptr swapped = make_self_signed_cert(key.get(), ext2, kNow - kDay, kNow + kDay);
  CHECK_FALSE(verify_node_cert(swapped.get(), kNow).ok());
  // No extension at all.
  X509Ptr plain = make_self_signed_cert(key.get(), {}, kNow - kDay, kNow + kDay);
  CHECK(verify_node_cert(plain.get(), kNow).status().message.find("no Blockcloud node key extension") !=
        std::string::npos);
  // Malformed extension value.
  Bytes junk(102, 0x30);
  X509Ptr bad = make_self_signed_cert(key.get(), junk, kNow - kDay, kNow + kDay);
  CHECK(verify_node_cert(bad.get(), kNow).status().message.find("malformed") != std::string::npos);
  // The honest one, for contrast.
  Bytes good_ext = encode_node_cert_extension(owner.public_key(), owner.sign(node_cert_digest(key.get())));
  X509Ptr good = make_self_signed_cert(key.get(), good_ext, kNow - kDay, kNow + kDay);
  CHECK(verify_node_cert(good.get(), kNow).ok());
  // The certificate key must match the one that signed the certificate.
  CHECK_THROWS(NodeIdentity::from_openssl(good.get(), key2.get()));
}

TEST_CASE("tls: handshake authenticates both nodes and agrees on exporters") {
  TimeMs now = kNow;
  for (auto [ct, st] : {std::pair{CertKeyType::kEd25519, CertKeyType::kEd25519},
                        std::pair{CertKeyType::kP256, CertKeyType::kP256},
                        std::pair{CertKeyType::kEd25519, CertKeyType::kP256}}) {
    Node a(&now, ct), b(&now, st);
    TlsChannel c(a.ctx, TlsRole::kClient, b.id());
    TlsChannel s(b.ctx, TlsRole::kServer);
    CHECK(c.pending_output() > 0);  // ClientHello is ready at once
    handshake(c, s);
    REQUIRE_MESSAGE(c.handshake_done(), c.error());
    REQUIRE_MESSAGE(s.handshake_done(), s.error());
    CHECK_FALSE(c.failed());
    CHECK_FALSE(s.failed());
    CHECK(*c.peer_node_key() == b.key.public_key());
    CHECK(*s.peer_node_key() == a.key.public_key());
    CHECK(*c.peer_node_id() == b.id());
    CHECK(*s.peer_node_id() == a.id());
    CHECK(c.cipher() == "TLS_AES_128_GCM_SHA256");

    auto ec = c.export_keying_material("EXPORTER-blockcloud-flow", as_bytes("ctx"), 32);
    auto es = s.export_keying_material("EXPORTER-blockcloud-flow", as_bytes("ctx"), 32);
    REQUIRE(ec);
    REQUIRE(es);
    CHECK(*ec == *es);
    CHECK(*c.export_keying_material("EXPORTER-blockcloud-flow", as_bytes("ctx2"), 32) != *ec);
    CHECK(*c.export_keying_material("EXPORTER-other", as_bytes("ctx"), 32) != *ec);
    CHECK(*c.export_keying_material("EXPORTER-blockcloud-flow", {}, 32) ==
          *s.export_keying_material("EXPORTER-blockcloud-flow", {}, 32));
    CHECK_FALSE(c.export_keying_material("x", {}, 0));
    CHECK_FALSE(c.export_keying_material("x", {}, 1025));

    // A second connection between the same nodes has different keying material.
    TlsChannel c2(a.ctx, TlsRole::kClient, b.id());
    TlsChannel s2(b.ctx, TlsRole::kServer);
    handshake(c2, s2);
    REQUIRE(c2.handshake_done());
    CHECK(*c2.export_keying_material("EXPORTER-blockcloud-flow", as_bytes("ctx"), 32) != *ec);
  }
}

TEST_CASE("tls: exporter is unavailable before the handshake completes") {
  TimeMs now = kNow;
  Node a(&now), b(&now);
  TlsChannel c(a.ctx, TlsRole::kClient);
  TlsChannel s(b.ctx, TlsRole::kServer);
  CHECK_FALSE(c.export_keying_material("EXPORTER-x", {}, 32));
  CHECK_FALSE(c.peer_node_key());
  CHECK(c.cipher().empty());
  Bytes buf(16);
  CHECK(c.read(buf) == 0);
}

TEST_CASE("tls: handshake one byte at a time") {
  TimeMs now = kNow;
  Node a(&now), b(&now);
  TlsChannel c(a.ctx, TlsRole::kClient, b.id());
  TlsChannel s(b.ctx, TlsRole::kServer, a.id());  // servers may pin too
  handshake(c, s, 1);
  REQUIRE_MESSAGE(c.handshake_done(), c.error());
  REQUIRE_MESSAGE(s.handshake_done(), s.error());
  CHECK(*c.export_keying_material("EXPORTER-t", {}, 16) ==
        *s.export_keying_material("EXPORTER-t", {}, 16));
}

TEST_CASE("tls: several MB both ways, with early data and backpressure") {
  TimeMs now = kNow;
  TlsLimits small;
  small.max_input = 100'000;
  small.max_output = 300'000;
  Node a(&now, CertKeyType::kEd25519, small), b(&now, CertKeyType::kEd25519, small);
  TlsChannel c(a.ctx, TlsRole::kClient, b.id());
  TlsChannel s(b.ctx, TlsRole::kServer);
  const Bytes up = noise_bytes(5'000'000), down = noise_bytes(3'000'000);
  // Written before the handshake: buffered, bounded, delivered afterwards.
  std::size_t cw = c.write(ByteView(up).first(400'000));
  CHECK(cw == small.max_early_plaintext);
  std::size_t sw = 0;
  Bytes got_up, got_down;
  ChannelEnd ce(c), se(s);
  Link link{ce, se};
  for (int i = 0; i < 100'000 && (got_up.size() < up.size() || got_down.size() < down.size());
       ++i) {
    if (c.handshake_done()) cw += c.write(ByteView(up).subspan(cw, std::min<std::size_t>(up.size() - cw, 64 * 1024)));
    if (s.handshake_done()) sw += s.write(ByteView(down).subspan(sw, std::min<std::size_t>(down.size() - sw, 64 * 1024)));
    CHECK(c.pending_output() <= small.max_output + 1024);
    link.step();
    CHECK(s.buffered_input() <= small.max_input);
    drain(s, got_up);
    drain(c, got_down);
    REQUIRE_FALSE(c.failed());
    REQUIRE_FALSE(s.failed());
  }
  CHECK(got_up == up);
  CHECK(got_down == down);
}

TEST_CASE("tls: zero-copy input path") {
  TimeMs now = kNow;
  Node a(&now), b(&now);
  TlsChannel c(a.ctx, TlsRole::kClient);
  TlsChannel s(b.ctx, TlsRole::kServer);
  // The driver receives straight into the channel's buffer.
  auto move = [](TlsChannel& from, TlsChannel& to) {
    Bytes b = from.take_ciphertext();
    std::size_t off = 0;
    while (off < b.size()) {
      auto span = to.prepare_input(b.size() - off);
      REQUIRE(!span.empty());
      std::memcpy(span.data(), b.data() + off, span.size());
      to.commit_input(span.size());
      off += span.size();
    }
    return !b.empty();
  };
  for (int i = 0; i < 10 && (move(c, s) | move(s, c)); ++i) {
  }
  REQUIRE(c.handshake_done());
  REQUIRE(s.handshake_done());
  const Bytes msg = noise_bytes(100'000);
  CHECK(c.write(msg) == msg.size());
  move(c, s);
  Bytes got;
  drain(s, got);
  CHECK(got == msg);
  // Committing less than prepared keeps only the committed bytes.
  auto span = s.prepare_input(50);
  CHECK(span.size() == 50);
  s.commit_input(0);
  CHECK(s.buffered_input() == 0);
}

TEST_CASE("tls: pinned node ID mismatch fails with a reason at both ends") {
  TimeMs now = kNow;
  Node a(&now), b(&now), stranger(&now);
  TlsChannel c(a.ctx, TlsRole::kClient, stranger.id());
  TlsChannel s(b.ctx, TlsRole::kServer);
  handshake(c, s);
  CHECK(c.failed());
  CHECK_FALSE(c.handshake_done());
  CHECK(c.error().find("not the expected node") != std::string::npos);
  CHECK(c.error().find(id_to_text('n', b.id())) != std::string::npos);
  CHECK(s.failed());  // it got our alert
  CHECK_FALSE(c.export_keying_material("EXPORTER-x", {}, 32));
  CHECK(c.write(as_bytes("x")) == 0);
  CHECK(c.feed(as_bytes("x")) == 0);
}

TEST_CASE("tls: a server refuses a client whose pinned ID differs") {
  TimeMs now = kNow;
  Node a(&now), b(&now), stranger(&now);
  TlsChannel c(a.ctx, TlsRole::kClient, b.id());
  TlsChannel s(b.ctx, TlsRole::kServer, stranger.id());
  ChannelEnd ce(c), se(s);
  Link link{ce, se};
  link.run();
  CHECK(s.failed());
  CHECK(s.error().find("not the expected node") != std::string::npos);
  // In TLS 1.3 the client finishes first; it learns of the refusal on read.
  Bytes sink;
  drain(c, sink);
  CHECK(c.failed());
  CHECK(sink.empty());
}

TEST_CASE("tls: certificate signed into a different node key fails") {
  TimeMs now = kNow;
  Node a(&now);
  KeyPair claimed = KeyPair::generate(), signer = KeyPair::generate();
  EvpPkeyPtr key = generate_cert_key(CertKeyType::kEd25519);
  Bytes ext = encode_node_cert_extension(claimed.public_key(), signer.sign(node_cert_digest(key.get())));
  X509Ptr cert = make_self_signed_cert(key.get(), ext, kNow - kDay, kNow + kDay);
  auto forged_ctx = context_for(NodeIdentity::from_openssl(cert.get(), key.get()), &now);

  SUBCASE("forged server") {
    TlsChannel c(a.ctx, TlsRole::kClient);
    TlsChannel s(forged_ctx, TlsRole::kServer);
    handshake(c, s);
    CHECK(c.failed());
    CHECK(c.error().find("signature over the certificate key does not verify") != std::string::npos);
    CHECK_FALSE(c.peer_node_key());
  }
  SUBCASE("forged client") {
    TlsChannel c(forged_ctx, TlsRole::kClient);
    TlsChannel s(a.ctx, TlsRole::kServer);
    handshake(c, s);
    CHECK(s.failed());
    CHECK(s.error().find("signature over the certificate key does not verify") != std::string::npos);
    CHECK_FALSE(s.handshake_done());
    CHECK_FALSE(s.peer_node_key());
  }
}

TEST_CASE("tls: plain self-signed certificate without the extension fails") {
  TimeMs now = kNow;
  Node a(&now);
  EvpPkeyPtr key = generate_cert_key(CertKeyType::kP256);
  X509Ptr cert = make_self_signed_cert(key.get(), {}, kNow - kDay, kNow + kDay);
  auto plain_ctx = context_for(NodeIdentity::from_openssl(cert.get(), key.get()), &now);
  TlsChannel c(a.ctx, TlsRole::kClient);
  TlsChannel s(plain_ctx, TlsRole::kServer);
  handshake(c, s);
  CHECK(c.failed());
  CHECK(c.error().find("no Blockcloud node key extension") != std::string::npos);
  CHECK(s.failed());
}

TEST_CASE("tls: expired peer certificate fails") {
  TimeMs now = kNow;
  Node a(&now), b(&now);
  now = kNow + 31 * kDay;  // b's certificate lived 30 days
  TlsChannel c(a.ctx, TlsRole::kClient);
  TlsChannel s(b.ctx, TlsRole::kServer);
  handshake(c, s);
  CHECK(c.failed());
  CHECK(c.error().find("expired") != std::string::npos);
}

TEST_CASE("tls: a certificate chain longer than one is refused") {
  TimeMs now = kNow;
  Node a(&now), b(&now);
  NodeIdentity extra = NodeIdentity::create(KeyPair::generate(), kNow);
  REQUIRE(SSL_CTX_add1_chain_cert(b.ctx->native(), extra.cert()) == 1);
  TlsChannel c(a.ctx, TlsRole::kClient);
  TlsChannel s(b.ctx, TlsRole::kServer);
  handshake(c, s);
  CHECK(c.failed());
  CHECK(c.error().find("exactly one") != std::string::npos);
}

TEST_CASE("tls: garbage, truncated and tampered ciphertext fail cleanly") {
  TimeMs now = kNow;
  Node a(&now), b(&now);
  SUBCASE("garbage as first flight") {
    TlsChannel s(b.ctx, TlsRole::kServer);
    Bytes junk = noise_bytes(5000);
    junk[0] = 0x16;  // a handshake record type, then nonsense
    s.feed(junk);
    CHECK(s.failed());
    CHECK(s.error().find("TLS handshake failed") != std::string::npos);
    INFO("garbage: ", s.error());
  }
  SUBCASE("well-framed record with a garbage handshake message") {
    TlsChannel s(b.ctx, TlsRole::kServer);
    Bytes rec = {0x16, 0x03, 0x01, 0x01, 0x00};
    Bytes body = noise_bytes(0x100);
    body[0] = 0x01;  // ClientHello type, random contents
    rec.insert(rec.end(), body.begin(), body.end());
    s.feed(rec);
    CHECK(s.failed());
    CHECK(s.take_ciphertext().size() > 0);  // an alert tells the peer why
    INFO("framed garbage: ", s.error());
  }
  SUBCASE("truncated first flight waits, then completes") {
    TlsChannel c(a.ctx, TlsRole::kClient);
    TlsChannel s(b.ctx, TlsRole::kServer);
    Bytes hello = c.take_ciphertext();
    CHECK(s.feed(ByteView(hello).first(hello.size() / 2)) == hello.size() / 2);
    CHECK_FALSE(s.failed());
    CHECK(s.take_ciphertext().empty());
    s.feed(ByteView(hello).subspan(hello.size() / 2));
    handshake(c, s);
    CHECK(c.handshake_done());
    CHECK(s.handshake_done());
  }
  SUBCASE("tampered server flight") {
    TlsChannel c(a.ctx, TlsRole::kClient);
    TlsChannel s(b.ctx, TlsRole::kServer);
    s.feed(c.take_ciphertext());
    Bytes flight = s.take_ciphertext();
    flight[flight.size() - 10] ^= 0x40;
    c.feed(flight);
    CHECK(c.failed());
    CHECK_FALSE(c.handshake_done());
  }
  SUBCASE("forged record after the handshake") {
    TlsChannel c(a.ctx, TlsRole::kClient);
    TlsChannel s(b.ctx, TlsRole::kServer);
    handshake(c, s);
    REQUIRE(s.handshake_done());
    Bytes rec = {0x17, 0x03, 0x03, 0x00, 0x40};
    Bytes body = noise_bytes(0x40);
    rec.insert(rec.end(), body.begin(), body.end());
    s.feed(rec);
    Bytes got;
    drain(s, got);
    CHECK(got.empty());
    CHECK(s.failed());
    CHECK(s.error().find("TLS read failed") != std::string::npos);
  }
  SUBCASE("oversized input is refused, not buffered") {
    TlsChannel s(b.ctx, TlsRole::kServer);
    Bytes hello = TlsChannel(a.ctx, TlsRole::kClient).take_ciphertext();
    s.feed(ByteView(hello).first(3));  // an incomplete record header
    Bytes huge(5 << 20, 0x17);
    std::size_t took = s.feed(huge);
    CHECK(took <= TlsLimits{}.max_input);
    CHECK(s.buffered_input() <= TlsLimits{}.max_input);
  }
}

TEST_CASE("tls: TLS 1.2-only peers are refused") {
  TimeMs now = kNow;
  Node a(&now), b(&now);
  NodeIdentity valid = NodeIdentity::create(KeyPair::generate(), kNow);
  SUBCASE("TLS 1.2 client") {
    RawPeer old(true, TLS1_2_VERSION, &valid, "blockcloud-sal/1");
    TlsChannel s(b.ctx, TlsRole::kServer);
    ChannelEnd se(s);
    Link link{old, se};
    link.run();
    CHECK(s.failed());
    CHECK(s.error().find("unsupported protocol") != std::string::npos);
    CHECK(old.failed);
  }
  SUBCASE("TLS 1.2 server") {
    RawPeer old(false, TLS1_2_VERSION, &valid, nullptr);
    TlsChannel c(a.ctx, TlsRole::kClient);
    ChannelEnd ce(c);
    Link link{ce, old};
    link.run();
    CHECK(c.failed());
    CHECK_FALSE(old.done);
  }
}

TEST_CASE("tls: ALPN other than blockcloud-sal/1 is refused") {
  TimeMs now = kNow;
  Node b(&now);
  NodeIdentity valid = NodeIdentity::create(KeyPair::generate(), kNow);
  SUBCASE("no ALPN") {
    RawPeer peer(true, TLS1_3_VERSION, &valid, nullptr);
    TlsChannel s(b.ctx, TlsRole::kServer);
    ChannelEnd se(s);
    Link link{peer, se};
    link.run();
    CHECK(s.failed());
    CHECK(s.error().find("ALPN") != std::string::npos);
    CHECK_FALSE(s.handshake_done());
  }
  SUBCASE("wrong ALPN") {
    RawPeer peer(true, TLS1_3_VERSION, &valid, "h2");
    TlsChannel s(b.ctx, TlsRole::kServer);
    ChannelEnd se(s);
    Link link{peer, se};
    link.run();
    CHECK(s.failed());
    CHECK(peer.failed);
  }
}

TEST_CASE("tls: close_notify is seen by the peer") {
  TimeMs now = kNow;
  Node a(&now), b(&now);
  TlsChannel c(a.ctx, TlsRole::kClient);
  TlsChannel s(b.ctx, TlsRole::kServer);
  handshake(c, s);
  REQUIRE(c.handshake_done());
  REQUIRE(s.handshake_done());
  CHECK(c.write(as_bytes("last words")) == 10);
  c.close();
  CHECK(c.write(as_bytes("more")) == 0);
  s.feed(c.take_ciphertext());
  Bytes got;
  drain(s, got);
  CHECK(got == Bytes(as_bytes("last words").begin(), as_bytes("last words").end()));
  CHECK(s.peer_closed());
  CHECK_FALSE(s.failed());
  // The server answers with its own close_notify.
  s.close();
  c.feed(s.take_ciphertext());
  Bytes none;
  drain(c, none);
  CHECK(c.peer_closed());
  CHECK(none.empty());
}

TEST_CASE("tls: close before the handshake completes takes effect after it") {
  TimeMs now = kNow;
  Node a(&now), b(&now);
  TlsChannel c(a.ctx, TlsRole::kClient);
  TlsChannel s(b.ctx, TlsRole::kServer);
  CHECK(c.write(as_bytes("hi")) == 2);
  c.close();
  handshake(c, s);
  REQUIRE(s.handshake_done());
  Bytes got;
  drain(s, got);
  CHECK(got == Bytes{'h', 'i'});
  CHECK(s.peer_closed());
}

TEST_CASE("tls: early plaintext larger than the output limit is delivered whole") {
  TimeMs now = kNow;
  TlsLimits tight;
  tight.max_output = 10'000;
  Node a(&now, CertKeyType::kEd25519, tight), b(&now);
  TlsChannel c(a.ctx, TlsRole::kClient);
  TlsChannel s(b.ctx, TlsRole::kServer);
  const Bytes early = noise_bytes(200'000);
  REQUIRE(c.write(early) == early.size());
  handshake(c, s);
  REQUIRE(c.handshake_done());
  Bytes got;
  drain(s, got);
  CHECK(got == early);
  // After the handshake the normal bound applies again.
  CHECK(c.write(noise_bytes(50'000)) <= tight.max_output);
}
