// libFuzzer target: hostile bytes into the SAL frame decoder and into live
// Sessions (docs/sal-flows.md).
//
// Input byte 0 picks the path:
//   even: the rest is a raw byte stream. Every frame it decodes must
//         re-encode to the same bytes; then the whole stream goes into a
//         live session that has an established flow.
//   odd:  the rest is a script of operations on two connected sessions a
//         and b: raw bytes, frames whose flow IDs are rewritten to real ones
//         (so the fuzzer reaches every handler), app writes/reads/closes,
//         transport breaks and re-attaches, ticks.
// Checks: no crash, no leak, bounded memory (ASan/LSan); buffer accounting
// never exceeds the configured budgets.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "layers/crypto.hpp"
#include "layers/metrics.hpp"
#include "sal/session/frames.hpp"
#include "sal/session/session.hpp"

using namespace bc;
using namespace bc::sal;

namespace {

void require(bool ok) {
  if (!ok) __builtin_trap();
}

KeyPair key(std::uint8_t b) {
  std::uint8_t s[32];
  std::memset(s, b, sizeof s);
  return *KeyPair::from_secret(ByteView(s, 32));
}

const KeyPair& key_a() {
  static const KeyPair k = key(0x11);
  return k;
}
const KeyPair& key_b() {
  static const KeyPair k = key(0x22);
  return k;
}

SessionConfig small_config() {
  SessionConfig c;
  c.flow_window = 32 * 1024;
  c.min_flow_window = 4 * 1024;
  c.flow_send_buffer = 64 * 1024;
  c.send_budget = 256 * 1024;
  c.recv_budget = 256 * 1024;
  c.max_flows = 16;
  return c;
}

struct Side {
  Side(const KeyPair& other, std::uint64_t seed, TimeMs now)
      : rng(seed),
        s(other.public_key(), small_config(), limits, [this](std::span<std::uint8_t> b) { rng.fill(b); },
          [](const ServiceId&, const XOnlyPubKey&, ByteView proof, TimeMs) { return !proof.empty() && proof[0] == 1; },
          reg, now) {}
  metrics::Registry reg;
  SharedLimits limits;
  Rng rng;
  Session s;
  std::vector<FlowId> flows;  // every flow ID this side has seen
  void drain() {
    while (auto e = s.poll_event()) {
      if (e->type == Event::Type::kIncoming) s.accept(0, e->flow, Bytes{1});
      if (e->flow != 0 && flows.size() < 64) flows.push_back(e->flow);
    }
    require(s.send_buffered() <= small_config().send_budget);
  }
};

struct World {
  TimeMs now = 1'700'000'000'000;
  Side a{key_b(), 1, now};
  Side b{key_a(), 2, now};
  int generation = 0;

  void attach() {
    Hash256 h = sha256(as_bytes("fuzz-binding-" + std::to_string(++generation)));
    a.s.attach_transport(now, h.view(), key_b().public_key());
    b.s.attach_transport(now, h.view(), key_a().public_key());
  }
  void pump(int rounds) {
    for (int i = 0; i < rounds; ++i) {
      Bytes ab = a.s.take_output(now, 64 * 1024);
      Bytes ba = b.s.take_output(now, 64 * 1024);
      if (ab.empty() && ba.empty()) break;
      b.s.on_transport_bytes(now, ab);
      a.s.on_transport_bytes(now, ba);
      a.drain();
      b.drain();
    }
  }
  void setup() {
    attach();
    const auto r = a.s.open_flow(now, sha256(as_bytes("svc")));
    if (r) a.flows.push_back(*r);
    pump(8);
  }
  FlowId pick(Side& s, std::uint8_t sel) {
    if (s.flows.empty() || sel % 5 == 4) return (std::uint64_t{sel} << 32) | 0x9e3779b9u;  // a guess
    return s.flows[sel % s.flows.size()];
  }
};

void check_codec(ByteView in) {
  while (!in.empty()) {
    Frame f;
    std::size_t used = 0;
    if (decode_frame(in, f, used) != FrameError::kOk) return;
    require(used >= kFrameHeaderBytes && used <= in.size());
    Bytes again;
    encode_frame(f, again);
    require(again.size() == used && std::memcmp(again.data(), in.data(), used) == 0);
    in = in.subspan(used);
  }
}

void run_script(World& w, ByteView in) {
  std::size_t i = 0;
  auto next = [&]() -> std::uint8_t { return i < in.size() ? in[i++] : 0; };
  int ops = 0;
  while (i < in.size() && ++ops < 256) {
    const std::uint8_t op = next();
    Side& to = (op & 0x80) ? w.a : w.b;
    Side& other = (op & 0x80) ? w.b : w.a;
    switch (op & 0x0f) {
      case 0: {  // raw bytes into a session
        const std::size_t n = std::min<std::size_t>(next(), in.size() - i);
        to.s.on_transport_bytes(w.now, in.subspan(i, n));
        i += n;
        break;
      }
      case 1: {  // a frame with real flow IDs
        Frame f;
        std::size_t used = 0;
        if (decode_frame(in.subspan(i), f, used) != FrameError::kOk) {
          ++i;
          break;
        }
        i += used;
        if (f.dest != 0) f.dest = w.pick(to, static_cast<std::uint8_t>(f.dest));
        if (f.src != 0) f.src = w.pick(other, static_cast<std::uint8_t>(f.src));
        Bytes wire;
        encode_frame(f, wire);
        to.s.on_transport_bytes(w.now, wire);
        break;
      }
      case 2: {  // app write
        Bytes data(static_cast<std::size_t>(next()) * 97, 0x5a);
        to.s.write(w.now, w.pick(to, next()), data);
        break;
      }
      case 3: {  // app read
        std::uint8_t buf[8192];
        to.s.read(w.now, w.pick(to, next()), buf);
        break;
      }
      case 4: w.pump(next() % 16); break;
      case 5: {  // transport breaks, then maybe re-attached
        const std::uint8_t how = next();
        if (how & 1) w.a.s.on_transport_lost(w.now);
        if (how & 2) w.b.s.on_transport_lost(w.now);
        if (how & 4) w.attach();
        break;
      }
      case 6: {  // time passes
        w.now += static_cast<TimeMs>(next()) * 250;
        if (w.now >= w.a.s.next_wakeup()) w.a.s.on_tick(w.now);
        if (w.now >= w.b.s.next_wakeup()) w.b.s.on_tick(w.now);
        break;
      }
      case 7: {  // app flow operations
        const std::uint8_t what = next();
        const FlowId f = w.pick(to, next());
        switch (what % 5) {
          case 0: {
            const auto r = to.s.open_flow(w.now, sha256(ByteView(&what, 1)));
            if (r && to.flows.size() < 64) to.flows.push_back(*r);
            break;
          }
          case 1: to.s.shutdown(w.now, f); break;
          case 2: to.s.close(w.now, f); break;
          case 3: to.s.reset(w.now, f); break;
          case 4: to.s.refuse(w.now, f); break;
        }
        break;
      }
      case 8: {  // drop whatever a session would send (lost in flight)
        (void)to.s.take_output(w.now, static_cast<std::size_t>(next()) * 512 + 1);
        break;
      }
      default: break;
    }
    w.a.drain();
    w.b.drain();
  }
  w.pump(32);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0 || size > 64 * 1024) return 0;
  const ByteView rest(data + 1, size - 1);
  World w;
  w.setup();
  if ((data[0] & 1) == 0) {
    check_codec(rest);
    w.b.s.on_transport_bytes(w.now, rest);
    w.b.drain();
    w.pump(8);
  } else {
    run_script(w, rest);
  }
  return 0;
}
