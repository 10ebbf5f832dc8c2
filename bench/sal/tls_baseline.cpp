// bc-bench-sal-tls: the cost of binding TLS to node keys, measured in one run
// against plain OpenSSL TLS 1.3 with ordinary self-signed certificates.
//
//   handshakes/s  full mutual handshakes, both ends on this one thread, bytes
//                 moved in memory: our TlsChannel pair vs plain OpenSSL
//                 (self-signed certs trusted through an X509_STORE; mutual and
//                 server-only) with the same suites, groups and key types;
//   MB/s          one established pair, 256 KiB writes, encrypt + decrypt on
//                 one thread, vs plain OpenSSL over memory BIOs;
//   bytes/channel heap (mallinfo2) of 1,000 established, idle channel pairs,
//                 vs plain OpenSSL SSL objects with the same settings.
// Build and run: bench/sal/tls_baseline.sh [build-dir] [--quick]
#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "sal/records/node_cert.hpp"
#include "sal/host/tls_channel.hpp"

using namespace bc;
using namespace bc::sal;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::size_t kChunk = 256 * 1024;  // plaintext per write on the bulk path

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "bench: %s\n", what);
  ERR_print_errors_fp(stderr);
  std::exit(1);
}

// ---- ours ----

bool handshake(TlsChannel& c, TlsChannel& s) {
  for (int i = 0; i < 16; ++i) {
    Bytes a = c.take_ciphertext(), b = s.take_ciphertext();
    if (a.empty() && b.empty()) break;
    s.feed(a);
    c.feed(b);
  }
  return c.handshake_done() && s.handshake_done();
}

double ours_handshakes(const std::shared_ptr<TlsContext>& cc, const std::shared_ptr<TlsContext>& sc,
                       NodeId server_id, int n) {
  auto t = Clock::now();
  for (int i = 0; i < n; ++i) {
    TlsChannel c(cc, TlsRole::kClient, server_id);
    TlsChannel s(sc, TlsRole::kServer);
    if (!handshake(c, s)) die(("our handshake failed: " + c.error() + s.error()).c_str());
  }
  return n / seconds_since(t);
}

double ours_throughput(const std::shared_ptr<TlsContext>& cc, const std::shared_ptr<TlsContext>& sc,
                       std::size_t total) {
  TlsChannel c(cc, TlsRole::kClient);
  TlsChannel s(sc, TlsRole::kServer);
  if (!handshake(c, s)) die("handshake");
  Bytes chunk(kChunk, 0x5a), sink(kChunk);
  std::size_t got = 0;
  auto t = Clock::now();
  for (std::size_t sent = 0; sent < total; sent += chunk.size()) {
    if (c.write(chunk) != chunk.size()) die("short write");
    Bytes wire = c.take_ciphertext();
    if (s.feed(wire) != wire.size()) die("short feed");
    while (std::size_t n = s.read(sink)) got += n;
  }
  double secs = seconds_since(t);
  if (got != total) die("lost data");
  return total / secs / 1e6;
}

// ---- plain OpenSSL TLS 1.3 ----

SSL_CTX* plain_ctx(bool server, const NodeIdentity& own, X509* trusted_peer, bool mutual) {
  SSL_CTX* ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
  SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
  SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
  SSL_CTX_set_ciphersuites(ctx,
                           "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384");
  SSL_CTX_set1_groups_list(ctx, "X25519:P-256");
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_num_tickets(ctx, 0);
  SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  if (server || mutual) {
    if (SSL_CTX_use_certificate(ctx, own.cert()) != 1 || SSL_CTX_use_PrivateKey(ctx, own.key()) != 1)
      die("plain certificate");
  }
  X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), trusted_peer);
  int mode = server ? (mutual ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT : SSL_VERIFY_NONE)
                    : SSL_VERIFY_PEER;
  SSL_CTX_set_verify(ctx, mode, nullptr);
  return ctx;
}

struct Plain {
  SSL* ssl;
  BIO* in;
  BIO* out;
  Plain(SSL_CTX* ctx, bool server) : ssl(SSL_new(ctx)), in(BIO_new(BIO_s_mem())), out(BIO_new(BIO_s_mem())) {
    SSL_set_bio(ssl, in, out);
    if (server) SSL_set_accept_state(ssl); else SSL_set_connect_state(ssl);
  }
  ~Plain() { SSL_free(ssl); }
  bool step() {
    int r = SSL_do_handshake(ssl);
    if (r == 1) return true;
    int e = SSL_get_error(ssl, r);
    if (e != SSL_ERROR_WANT_READ) die("plain handshake failed");
    return false;
  }
  // Moves pending ciphertext to `to`, as a driver would copy it to a socket.
  bool move_to(Plain& to, std::vector<char>& buf) {
    std::size_t n = BIO_ctrl_pending(out);
    if (n == 0) return false;
    buf.resize(n);
    BIO_read(out, buf.data(), static_cast<int>(n));
    BIO_write(to.in, buf.data(), static_cast<int>(n));
    return true;
  }
};

bool plain_handshake(Plain& c, Plain& s) {
  std::vector<char> buf;
  bool cd = c.step(), sd = false;
  for (int i = 0; i < 16; ++i) {
    bool moved = c.move_to(s, buf);
    sd = s.step();
    moved |= s.move_to(c, buf);
    cd = c.step();
    if (!moved) break;
  }
  return cd && sd;
}

double plain_handshakes(SSL_CTX* cc, SSL_CTX* sc, int n) {
  auto t = Clock::now();
  for (int i = 0; i < n; ++i) {
    Plain c(cc, false), s(sc, true);
    if (!plain_handshake(c, s)) die("plain handshake did not finish");
  }
  return n / seconds_since(t);
}

double plain_throughput(SSL_CTX* cc, SSL_CTX* sc, std::size_t total) {
  Plain c(cc, false), s(sc, true);
  if (!plain_handshake(c, s)) die("plain handshake");
  std::vector<char> chunk(kChunk, 0x5a), sink(kChunk), buf;
  std::size_t got = 0;
  auto t = Clock::now();
  for (std::size_t sent = 0; sent < total; sent += chunk.size()) {
    if (SSL_write(c.ssl, chunk.data(), static_cast<int>(chunk.size())) != static_cast<int>(chunk.size()))
      die("plain short write");
    c.move_to(s, buf);
    for (;;) {
      int n = SSL_read(s.ssl, sink.data(), static_cast<int>(sink.size()));
      if (n <= 0) break;
      got += static_cast<std::size_t>(n);
    }
  }
  double secs = seconds_since(t);
  if (got != total) die("plain lost data");
  return total / secs / 1e6;
}

// ---- idle memory ----

std::size_t heap_in_use() { return mallinfo2().uordblks; }

double ours_idle_bytes(const std::shared_ptr<TlsContext>& cc, const std::shared_ptr<TlsContext>& sc,
                       int pairs) {
  std::vector<std::unique_ptr<TlsChannel>> keep;
  keep.reserve(2 * pairs);
  std::size_t before = heap_in_use();
  for (int i = 0; i < pairs; ++i) {
    auto c = std::make_unique<TlsChannel>(cc, TlsRole::kClient);
    auto s = std::make_unique<TlsChannel>(sc, TlsRole::kServer);
    if (!handshake(*c, *s)) die("handshake");
    keep.push_back(std::move(c));
    keep.push_back(std::move(s));
  }
  return static_cast<double>(heap_in_use() - before) / (2.0 * pairs);
}

double plain_idle_bytes(SSL_CTX* cc, SSL_CTX* sc, int pairs) {
  std::vector<std::unique_ptr<Plain>> keep;
  keep.reserve(2 * pairs);
  std::size_t before = heap_in_use();
  for (int i = 0; i < pairs; ++i) {
    auto c = std::make_unique<Plain>(cc, false);
    auto s = std::make_unique<Plain>(sc, true);
    if (!plain_handshake(*c, *s)) die("plain handshake");
    keep.push_back(std::move(c));
    keep.push_back(std::move(s));
  }
  return static_cast<double>(heap_in_use() - before) / (2.0 * pairs);
}

void row(const char* what, double ours, double peer, const char* unit) {
  std::printf("%-44s %12.1f %12.1f %8.3f  %s\n", what, ours, peer, ours / peer, unit);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

// The machine is shared: measure ours and the peer alternately in rounds and
// report medians and the median of per-round ratios.
template <class A, class B>
void paired(const char* what, int rounds, A ours, B peer, const char* unit) {
  std::vector<double> o, p, r;
  for (int i = 0; i < rounds; ++i) {
    o.push_back(ours());
    p.push_back(peer());
    r.push_back(o.back() / p.back());
  }
  std::printf("%-44s %12.1f %12.1f %8.3f  %s\n", what, median(o), median(p), median(r), unit);
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  const int hs = quick ? 200 : 2000;
  const std::size_t bulk = quick ? (64u << 20) : (1024u << 20);
  const int idle = 1000;
  const int rounds = 5;
  TimeMs now = std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
  std::printf("OpenSSL %s; %d handshakes, %zu MiB bulk, %d idle pairs per figure\n",
              OpenSSL_version(OPENSSL_VERSION), hs, bulk >> 20, idle);
  std::printf("%-44s %12s %12s %8s\n", "measure", "ours", "plain", "ratio");
  for (CertKeyType type : {CertKeyType::kEd25519, CertKeyType::kP256}) {
    const char* name = type == CertKeyType::kEd25519 ? "Ed25519" : "P-256";
    KeyPair ck = KeyPair::generate(), sk = KeyPair::generate();
    auto cc = TlsContext::create(NodeIdentity::create(ck, now, type));
    auto sc = TlsContext::create(NodeIdentity::create(sk, now, type));
    // Plain peers: ordinary self-signed certificates (no extension) of the same key type.
    EvpPkeyPtr pck = generate_cert_key(type), psk = generate_cert_key(type);
    X509Ptr pcc = make_self_signed_cert(pck.get(), {}, now - 3600000, now + 86400000);
    X509Ptr psc = make_self_signed_cert(psk.get(), {}, now - 3600000, now + 86400000);
    NodeIdentity pci = NodeIdentity::from_openssl(pcc.get(), pck.get());
    NodeIdentity psi = NodeIdentity::from_openssl(psc.get(), psk.get());
    SSL_CTX* mc = plain_ctx(false, pci, psc.get(), true);
    SSL_CTX* ms = plain_ctx(true, psi, pcc.get(), true);
    SSL_CTX* oc = plain_ctx(false, pci, psc.get(), false);
    SSL_CTX* os = plain_ctx(true, psi, pcc.get(), false);

    // Warm up caches and lazy OpenSSL initialisation.
    ours_handshakes(cc, sc, node_id_of(sk.public_key()), 20);
    plain_handshakes(mc, ms, 20);
    const NodeId sid = node_id_of(sk.public_key());
    const int per = hs / rounds;
    std::string label = std::string("handshakes/s, ") + name + ", vs plain mutual";
    paired(label.c_str(), rounds, [&] { return ours_handshakes(cc, sc, sid, per); },
           [&] { return plain_handshakes(mc, ms, per); }, "handshakes/s (both ends, one core)");
    label = std::string("handshakes/s, ") + name + ", vs plain server-only";
    paired(label.c_str(), rounds, [&] { return ours_handshakes(cc, sc, sid, per); },
           [&] { return plain_handshakes(oc, os, per); }, "handshakes/s (both ends, one core)");
    if (type == CertKeyType::kEd25519) {
      paired("bulk MB/s, AES-128-GCM, encrypt+decrypt", rounds,
             [&] { return ours_throughput(cc, sc, bulk / rounds / kChunk * kChunk); },
             [&] { return plain_throughput(mc, ms, bulk / rounds / kChunk * kChunk); }, "MB/s plaintext, one core");
      row("idle established channel, heap bytes", ours_idle_bytes(cc, sc, idle),
          plain_idle_bytes(mc, ms, idle), "bytes per channel (mallinfo2)");
    }
    std::printf("%-44s %12zu\n", (std::string("certificate DER bytes, ") + name).c_str(),
                cc->identity().cert_der().size());
    SSL_CTX_free(mc);
    SSL_CTX_free(ms);
    SSL_CTX_free(oc);
    SSL_CTX_free(os);
  }
  std::printf("sizeof(TlsChannel) = %zu\n", sizeof(TlsChannel));
  return 0;
}
