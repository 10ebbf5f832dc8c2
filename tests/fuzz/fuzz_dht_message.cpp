// libFuzzer target: hostile datagrams into the DHT message decoder and into
// a live DhtNode.
//
// Input byte 0 picks the path:
//   even: the rest is a raw datagram (decoder and node see it unchanged);
//   odd:  the rest is read as an Envelope, its sender id/key replaced by a
//         real key pair, and re-encoded, so the fuzzer gets past the id check
//         and reaches every body handler of the node.
// Checks: decode never crashes; whatever decodes re-encodes to the same
// envelope; the node never crashes, leaks or grows without bound (ASan/LSan).
#include <capnp/message.h>
#include <capnp/serialize.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "layers/memnet.hpp"
#include "routing/dht.hpp"
#include "routing/messages.hpp"
#include "routing/wire/dht.capnp.h"

using namespace bc;
using namespace bc::routing;

namespace {

void require(bool ok) {
  if (!ok) __builtin_trap();
}

KeyPair key(std::uint8_t b) {
  std::uint8_t s[32];
  std::memset(s, b, sizeof s);
  return *KeyPair::from_secret(ByteView(s, 32));
}

struct Harness {
  metrics::Registry reg;
  KeyPair peer_key = key(0x22);
  Endpoint peer = *Endpoint::parse("127.0.0.9:4000");
  DhtNode node{key(0x11), *Endpoint::parse("127.0.0.2:4000"), DhtConfig{}, 1, reg};
  TimeMs now = MemNet::kDefaultStart;
  Outbox out;
};

Harness& harness() {
  static Harness h;
  return h;
}

// Rewrites an arbitrary Envelope so its sender fields are valid.
Bytes with_valid_sender(ByteView data, const KeyPair& k) {
  if (data.size() % 8 != 0 || data.size() < 8 || data.size() > 8192) return {};
  kj::Array<capnp::word> words = kj::heapArray<capnp::word>(data.size() / 8);
  std::memcpy(words.begin(), data.data(), data.size());
  try {
    capnp::ReaderOptions opts;
    opts.traversalLimitInWords = 2048;
    opts.nestingLimit = 8;
    capnp::FlatArrayMessageReader reader(words.asPtr(), opts);
    capnp::MallocMessageBuilder mb;
    mb.setRoot(reader.getRoot<wire::Envelope>());
    auto e = mb.getRoot<wire::Envelope>();
    NodeId id = node_id_of(k.public_key());
    e.setVersion(kProtocolVersion);
    e.setSenderId(capnp::Data::Reader(id.data(), 32));
    e.setSenderKey(capnp::Data::Reader(k.public_key().bytes.data(), 32));
    auto flat = capnp::messageToFlatArray(mb);
    return Bytes(flat.asBytes().begin(), flat.asBytes().end());
  } catch (const kj::Exception&) {
    return {};
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  Harness& h = harness();
  ByteView rest(data + 1, size - 1);
  Bytes fixed;
  if (data[0] & 1) {
    fixed = with_valid_sender(rest, h.peer_key);
    if (fixed.empty()) return 0;
    rest = ByteView(fixed.data(), fixed.size());
  }

  DecodeResult r = decode(rest, DecodeLimits{});
  if (r.ok()) {
    Bytes again = encode(*r.envelope);
    DecodeResult r2 = decode(again, DecodeLimits{8192 * 4, 1u << 16, 8});
    require(r2.ok());
    require(*r2.envelope == *r.envelope);
  }

  h.now += 1 + (data[0] >> 1);  // time moves so timers and expiries run
  h.out.clear();
  h.node.on_datagram(h.peer, rest, h.now, h.out);
  if (h.now >= h.node.next_wakeup()) h.node.on_tick(h.now, h.out);
  for (const auto& d : h.out.datagrams) require(d.payload.size() <= 8192);
  require(h.node.status().pending_requests <= 8192);
  return 0;
}
