// libFuzzer: hostile ciphertext into live TLS channels (sal/host/tls_channel.hpp).
// The first input byte picks where the bytes go:
//   0: a server's first flight from the client (ClientHello position);
//   1: a client's response from the server, after a real ClientHello;
//   2: a server after a real ClientHello, as the client's second flight;
//   3: an established server, as application records;
//   4: a real ClientHello edited by the input, into a server;
//   5: verify_node_cert_der on the bytes (our certificate checks alone);
//   6: a real node certificate edited by the input, into verify_node_cert_der
//      (reaches the extension and signature checks that random bytes cannot).
// Every path must end in a clean state (done, waiting or failed with a
// reason), with buffers inside their limits. Remaining bytes are fed in
// chunks whose sizes come from the input, to exercise record reassembly.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>

#include "sal/host/tls_channel.hpp"

using namespace bc;
using namespace bc::sal;

namespace {

constexpr TimeMs kNow = 1'800'000'000'000;

struct Fixture {
  KeyPair client_key = KeyPair::generate();
  KeyPair server_key = KeyPair::generate();
  std::shared_ptr<TlsContext> client, server;
  Bytes cert_der;
  Fixture() {
    TlsContext::Config cfg;
    cfg.clock = [] { return kNow; };
    cfg.limits.max_input = 64 * 1024;
    client = TlsContext::create(NodeIdentity::create(client_key, kNow), cfg);
    server = TlsContext::create(NodeIdentity::create(server_key, kNow), cfg);
    cert_der = server->identity().cert_der();
  }
};

void check(bool ok) {
  if (!ok) std::abort();
}

void check_clean(const TlsChannel& ch, const TlsContext& ctx) {
  check(ch.buffered_input() <= ctx.limits().max_input);
  check(ch.pending_output() <= 64 * 1024);
  check(!ch.failed() || !ch.error().empty());
  check(!(ch.failed() && ch.handshake_done() && ch.export_keying_material("x", {}, 16)));
}

// Feeds `data` in chunks sized by its own bytes; returns after a failure.
void feed_chunked(TlsChannel& ch, ByteView data) {
  while (!data.empty() && !ch.failed()) {
    std::size_t n = std::min<std::size_t>(data.size(), 1 + data[0] * 8u);
    if (ch.feed(data.first(n)) == 0) break;
    data = data.subspan(n);
    std::uint8_t buf[4096];
    while (ch.read(buf) != 0) {
    }
    ch.take_ciphertext();
  }
}

// Applies the input as edits to `base`: the first byte truncates (0 keeps
// all), then (offset high, offset low, value) triples overwrite bytes.
Bytes edited(const Bytes& base, ByteView edits) {
  Bytes out = base;
  if (edits.empty() || out.empty()) return out;
  if (edits[0] != 0) out.resize(out.size() * edits[0] / 256);
  for (std::size_t i = 1; i + 2 < edits.size() && !out.empty(); i += 3)
    out[((edits[i] << 8) | edits[i + 1]) % out.size()] = edits[i + 2];
  return out;
}

void pump(TlsChannel& a, TlsChannel& b) {
  for (int i = 0; i < 16; ++i) {
    Bytes x = a.take_ciphertext(), y = b.take_ciphertext();
    if (x.empty() && y.empty()) return;
    b.feed(x);
    a.feed(y);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Fixture f;
  if (size == 0) return 0;
  ByteView in(data + 1, size - 1);
  switch (data[0] % 7) {
    case 0: {
      TlsChannel s(f.server, TlsRole::kServer);
      feed_chunked(s, in);
      check_clean(s, *f.server);
      break;
    }
    case 1: {
      TlsChannel c(f.client, TlsRole::kClient, node_id_of(f.server_key.public_key()));
      c.take_ciphertext();
      feed_chunked(c, in);
      check_clean(c, *f.client);
      check(!c.handshake_done());  // nobody can forge the server's node key
      break;
    }
    case 2: {
      TlsChannel c(f.client, TlsRole::kClient);
      TlsChannel s(f.server, TlsRole::kServer);
      s.feed(c.take_ciphertext());
      s.take_ciphertext();
      feed_chunked(s, in);
      check_clean(s, *f.server);
      check(!s.handshake_done());  // the client's Finished cannot be forged
      break;
    }
    case 3: {
      TlsChannel c(f.client, TlsRole::kClient);
      TlsChannel s(f.server, TlsRole::kServer);
      pump(c, s);
      check(c.handshake_done() && s.handshake_done());
      feed_chunked(s, in);
      check_clean(s, *f.server);
      break;
    }
    case 4: {
      TlsChannel c(f.client, TlsRole::kClient);
      TlsChannel s(f.server, TlsRole::kServer);
      s.feed(edited(c.take_ciphertext(), in));
      s.take_ciphertext();
      check_clean(s, *f.server);
      check(!s.handshake_done());
      break;
    }
    case 5: {
      Result<XOnlyPubKey> r = verify_node_cert_der(in, kNow);
      check(r.ok() != !r.status().message.empty());
      break;
    }
    case 6: {
      Bytes der = edited(f.cert_der, in);
      Result<XOnlyPubKey> r = verify_node_cert_der(der, kNow);
      check(r.ok() != !r.status().message.empty());
      // Any accepted edit must still name the server's node key: forging
      // another key's binding would need a BIP340 forgery.
      check(!r.ok() || *r == f.server_key.public_key());
      break;
    }
  }
  return 0;
}
