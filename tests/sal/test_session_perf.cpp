// Session figures: memory per idle flow (10,000 flows) and in-memory
// throughput of two sessions. Printed, not asserted against time: speed
// goals belong to benchmarks. Memory is asserted (heap bytes, not time).
#include <doctest/doctest.h>
#include <malloc.h>

#include <chrono>
#include <cstdlib>

#include "tests/sal/test_session_harness.hpp"

using namespace bc;
using namespace bc::sal;
using namespace bc::sal::test;

namespace {

std::size_t heap_in_use() { return mallinfo2().uordblks; }

}  // namespace

TEST_CASE("session: 10,000 idle flows cost well under 1 KiB each") {
  SessionConfig cfg;
  cfg.max_flows = 20000;
  cfg.open_rate_per_s = 1e9;
  cfg.open_burst = 1e9;
  Pair p(cfg);
  p.attach();
  const std::size_t before = heap_in_use();
  const std::size_t n = 10000;
  const ServiceId svc = service_named("idle");
  const Bytes proof = cert_for(svc);
  for (std::size_t i = 0; i < n; ++i) REQUIRE(p.a.session.open_flow(p.now, svc));
  p.pump();
  std::size_t accepted = 0;
  for (const Event& e : p.b.events) {
    if (e.type == Event::Type::kIncoming) accepted += p.b.session.accept(p.now, e.flow, proof);
  }
  p.pump();
  p.a.events.clear();
  p.b.events.clear();
  p.a.events.shrink_to_fit();
  p.b.events.shrink_to_fit();
  CHECK(accepted == n);
  CHECK(p.a.session.flow_count() == n);
  CHECK(p.b.session.flow_count() == n);
  const std::size_t after = heap_in_use();
  MESSAGE("flow state = " << Session::flow_state_bytes() << " bytes, sizeof(Session) = " << sizeof(Session) << " bytes");
  if (before == 0 && after == 0) return;  // allocator without mallinfo (sanitizers)
  const double per_flow_side = static_cast<double>(after - before) / static_cast<double>(2 * n);
  MESSAGE("10,000 idle flows: heap grew " << (after - before) << " bytes over both sessions = " << per_flow_side
                                          << " bytes per flow per side");
  CHECK(per_flow_side < 1024);
}

TEST_CASE("session: throughput of one flow between two sessions in memory") {
  Pair p;
  p.attach();
  auto [fa, fb] = open_accepted(p);
  std::size_t total = 256u << 20;
  if (const char* env = std::getenv("BC_SAL_THROUGHPUT_MIB")) total = std::strtoull(env, nullptr, 10) << 20;
  Bytes block(1 << 20);
  Rng rng(3);
  rng.fill(block);
  std::vector<std::uint8_t> rbuf(256 * 1024);
  std::size_t written = 0, got = 0;
  const auto t0 = std::chrono::steady_clock::now();
  while (got < total) {
    while (written < total) {
      const std::size_t off = written % block.size();
      const std::size_t n = p.a.session.write(p.now, fa, ByteView(block).subspan(off, std::min(block.size() - off, total - written)));
      if (n == 0) break;
      written += n;
    }
    Bytes out = p.a.session.take_output(p.now, 256 * 1024);
    p.b.session.on_transport_bytes(p.now, out);
    while (std::size_t n = p.b.session.read(p.now, fb, rbuf)) got += n;
    Bytes back = p.b.session.take_output(p.now, 256 * 1024);
    p.a.session.on_transport_bytes(p.now, back);
    while (p.a.session.poll_event()) {
    }
    while (p.b.session.poll_event()) {
    }
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  CHECK(got == total);
  MESSAGE("one flow, two sessions in memory: " << (total >> 20) << " MiB in " << secs << " s = "
                                               << static_cast<double>(total) / secs / 1e6 << " MB/s");
}
