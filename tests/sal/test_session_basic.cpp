// Session: opening, data both ways, closing, refusals, hostile frames,
// windows, timeouts and limits.
#include <doctest/doctest.h>

#include "tests/sal/test_session_harness.hpp"

using namespace bc;
using namespace bc::sal;
using namespace bc::sal::test;

TEST_CASE("session: open, accept, data both ways, close") {
  Pair p;
  p.attach();
  auto [fa, fb] = open_accepted(p);
  CHECK(p.a.session.status(fa).established);
  CHECK(p.b.session.status(fb).established);
  CHECK(p.a.session.status(fa).peer_id == fb);

  const Bytes hello(as_bytes("hello provider").begin(), as_bytes("hello provider").end());
  const Bytes reply(as_bytes("hello client").begin(), as_bytes("hello client").end());
  CHECK(p.a.session.write(p.now, fa, hello) == hello.size());
  p.pump();
  CHECK(p.b.count(Event::Type::kReadable, fb) == 1);
  CHECK(read_all(p.b.session, p.now, fb) == hello);
  CHECK(p.b.session.write(p.now, fb, reply) == reply.size());
  p.pump();
  CHECK(read_all(p.a.session, p.now, fa) == reply);

  // a shuts down: b sees the end of stream, then closes its side too.
  p.a.session.shutdown(p.now, fa);
  CHECK(p.a.session.write(p.now, fa, hello) == 0);  // no writes after shutdown
  p.pump();
  CHECK(p.b.count(Event::Type::kPeerClosed, fb) == 1);
  CHECK(p.b.session.at_eof(fb));
  p.b.session.shutdown(p.now, fb);
  p.pump();
  CHECK(p.a.count(Event::Type::kPeerClosed, fa) == 1);
  CHECK(p.b.count(Event::Type::kClosed, fb) == 1);
  CHECK(p.a.count(Event::Type::kClosed, fa) == 1);
  CHECK(p.a.session.flow_count() == 0);
  CHECK(p.b.session.flow_count() == 0);
  CHECK(p.limits_a.flows_total == 0);
  CHECK(p.a.reg.counter_value("bc_sal_frames_total", {{"dir", "tx"}, {"type", "open"}}) == 1);
  CHECK(p.b.reg.counter_value("bc_sal_frames_total", {{"dir", "rx"}, {"type", "fin"}}) == 1);
}

TEST_CASE("session: many flows are independent and interleave") {
  Pair p;
  p.attach();
  std::vector<std::pair<FlowId, FlowId>> flows;
  for (int i = 0; i < 20; ++i) flows.push_back(open_accepted(p, "svc" + std::to_string(i)));
  for (std::size_t i = 0; i < flows.size(); ++i) {
    Bytes msg(1000 + i * 37, static_cast<std::uint8_t>(i));
    CHECK(p.a.session.write(p.now, flows[i].first, msg) == msg.size());
  }
  p.pump();
  for (std::size_t i = 0; i < flows.size(); ++i) {
    CHECK(read_all(p.b.session, p.now, flows[i].second) == Bytes(1000 + i * 37, static_cast<std::uint8_t>(i)));
  }
}

TEST_CASE("session: the opener refuses a flow whose delegation proof fails") {
  Pair p;
  p.attach();
  const ServiceId svc = service_named("svc");
  const auto r = p.a.session.open_flow(p.now, svc);
  REQUIRE(r);
  p.pump();
  const FlowId bid = p.b.last(Event::Type::kIncoming)->flow;
  REQUIRE(p.b.session.accept(p.now, bid, cert_for(service_named("another service"))));
  p.pump();
  const Event* failed = p.a.last(Event::Type::kOpenFailed);
  REQUIRE(failed != nullptr);
  CHECK(failed->flow == *r);
  CHECK(failed->reason == Reason::kBadProof);
  CHECK(p.a.drops("open_bad_proof") == 1);
  CHECK(p.a.count(Event::Type::kOpened) == 0);
  CHECK(p.a.session.flow_count() == 0);
  // The provider's half is reset too.
  CHECK(p.b.count(Event::Type::kReset, bid) == 1);
  CHECK(p.b.session.flow_count() == 0);
}

TEST_CASE("session: refuse answers OPEN_FAIL with the reason") {
  Pair p;
  p.attach();
  const auto r = p.a.session.open_flow(p.now, service_named("nobody"));
  p.pump();
  REQUIRE(p.b.session.refuse(p.now, p.b.last(Event::Type::kIncoming)->flow, Reason::kNoService));
  p.pump();
  REQUIRE(p.a.last(Event::Type::kOpenFailed) != nullptr);
  CHECK(p.a.last(Event::Type::kOpenFailed)->flow == *r);
  CHECK(p.a.last(Event::Type::kOpenFailed)->reason == Reason::kNoService);
  CHECK(p.a.session.flow_count() == 0);
}

TEST_CASE("session: reset reaches the peer; the flow is gone on both sides") {
  Pair p;
  p.attach();
  auto [fa, fb] = open_accepted(p);
  p.a.session.reset(p.now, fa);
  p.pump();
  CHECK(p.b.count(Event::Type::kReset, fb) == 1);
  CHECK(p.b.last(Event::Type::kReset)->reason == Reason::kAppReset);
  CHECK(p.a.session.flow_count() == 0);
  CHECK(p.b.session.flow_count() == 0);
}

TEST_CASE("session: guessed flow IDs are dropped, counted and never answered") {
  Pair p;
  p.attach();
  auto [fa, fb] = open_accepted(p);
  p.pump();
  (void)p.a.session.take_output(p.now);
  Rng guess(99);
  for (int i = 0; i < 50; ++i) {
    const FlowId id = guess.next() | 1;
    Frame d;
    d.type = FrameType::kData;
    d.dest = id;
    Bytes payload(10, 7);
    d.payload = payload;
    Pair::inject(p.b, p.now, d);
    Frame ack;
    ack.type = FrameType::kAck;
    ack.dest = id;
    Pair::inject(p.b, p.now, ack);
    Frame rst;
    rst.type = FrameType::kReset;
    rst.dest = id;
    Pair::inject(p.b, p.now, rst);
    Frame fin;
    fin.type = FrameType::kFin;
    fin.dest = id;
    Pair::inject(p.b, p.now, fin);
  }
  CHECK(p.b.drops("unknown_flow") == 200);
  CHECK_FALSE(p.b.session.has_output());  // nothing to say to a guesser
  CHECK(p.b.session.state() == Session::State::kAttached);
  // The real flow is untouched.
  const Bytes msg(100, 1);
  CHECK(p.a.session.write(p.now, fa, msg) == msg.size());
  p.pump();
  CHECK(read_all(p.b.session, p.now, fb) == msg);
}

TEST_CASE("session: a malformed frame is counted and fails the session without a crash") {
  struct Case {
    const char* name;
    Bytes bytes;
    const char* reason;
  };
  const std::vector<Case> cases = {
      {"unknown type", {0x42, 0, 1, 0}, "malformed_unknown_type"},
      {"type zero", {0, 0, 0}, "malformed_unknown_type"},
      {"ack too short", {5, 0, 3, 1, 2, 3}, "malformed_bad_length"},
      {"data too long", {4, 0xff, 0xff}, "malformed_bad_length"},
      {"keepalive bad flag", {11, 0, 1, 0x80}, "malformed_bad_value"},
      {"empty data", {4, 0, 16, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0}, "malformed_bad_value"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    Pair p;
    p.attach();
    auto [fa, fb] = open_accepted(p);
    p.b.session.on_transport_bytes(p.now, c.bytes);
    p.collect();
    CHECK(p.b.session.state() == Session::State::kFailed);
    CHECK(p.b.drops(c.reason) == 1);
    CHECK(p.b.count(Event::Type::kSessionFailed) == 1);
    CHECK(p.b.count(Event::Type::kReset, fb) == 1);
    CHECK(p.b.session.flow_count() == 0);
    // A failed session takes nothing more and refuses a new transport.
    p.b.session.on_transport_bytes(p.now, c.bytes);
    CHECK_FALSE(p.b.session.attach_transport(p.now, p.next_binding(), p.a.key.public_key()));
  }
}

TEST_CASE("session: windows bound a non-reading receiver and the sender's buffer") {
  SessionConfig cfg;
  cfg.flow_window = 64 * 1024;
  cfg.min_flow_window = 16 * 1024;
  cfg.flow_send_buffer = 128 * 1024;
  Pair p(cfg);
  p.attach();
  auto [fa, fb] = open_accepted(p);
  auto [fa2, fb2] = open_accepted(p, "second");
  Bytes big(1 << 20, 0xab);
  std::size_t accepted = 0;
  for (int i = 0; i < 50; ++i) {
    accepted += p.a.session.write(p.now, fa, ByteView(big).subspan(accepted));
    p.pump(50);
  }
  // b never reads: it holds one window, a holds the rest, nothing more is taken.
  CHECK(p.b.session.status(fb).recv_buffered == cfg.flow_window);
  CHECK(p.a.session.status(fa).send_buffered == cfg.flow_send_buffer);
  CHECK(accepted == cfg.flow_window + cfg.flow_send_buffer);
  CHECK(p.a.session.write(p.now, fa, big) == 0);
  CHECK(p.a.session.status(fa).sent_acked == cfg.flow_window);  // the receiver has it
  // Another flow still moves: one slow reader does not stall the session.
  Bytes msg(5000, 3);
  CHECK(p.a.session.write(p.now, fa2, msg) == msg.size());
  p.pump();
  CHECK(read_all(p.b.session, p.now, fb2) == msg);
  // Reading frees credit; the writer is told it may write again.
  Bytes got = read_all(p.b.session, p.now, fb);
  CHECK(got.size() == cfg.flow_window);
  p.pump();
  CHECK(p.a.count(Event::Type::kWritable, fa) >= 1);
  CHECK(p.a.session.write(p.now, fa, ByteView(big).subspan(accepted, 1000)) == 1000);
}

TEST_CASE("session: the session-wide send budget caps all flows together") {
  SessionConfig cfg;
  cfg.flow_send_buffer = 100 * 1024;
  cfg.send_budget = 150 * 1024;
  Pair p(cfg);
  // Detached: nothing can drain, so buffers only fill.
  const auto f1 = p.a.session.open_flow(p.now, service_named("x"));
  const auto f2 = p.a.session.open_flow(p.now, service_named("y"));
  Bytes big(200 * 1024, 1);
  CHECK(p.a.session.write(p.now, *f1, big) == 100 * 1024);
  CHECK(p.a.session.write(p.now, *f2, big) == 50 * 1024);
  CHECK(p.a.session.send_buffered() == cfg.send_budget);
}

TEST_CASE("session: per-session and node-wide flow limits") {
  SessionConfig cfg;
  cfg.max_flows = 3;
  Pair p(cfg);
  p.attach();
  for (int i = 0; i < 3; ++i) CHECK(p.a.session.open_flow(p.now, service_named("s")));
  const auto over = p.a.session.open_flow(p.now, service_named("s"));
  CHECK_FALSE(over);
  CHECK(over.status().message.find("max_flows") != std::string::npos);
  CHECK(over.status().code == sal::Errc::kFlowLimit);
  p.pump();
  CHECK(p.b.session.flow_count() == 3);

  // Node-wide: the shared object caps flows across sessions.
  Pair q;
  q.limits_b.max_flows_total = 2;
  q.attach();
  for (int i = 0; i < 3; ++i) CHECK(q.a.session.open_flow(q.now, service_named("t")));
  q.pump();
  CHECK(q.b.session.flow_count() == 2);
  CHECK(q.b.drops("open_flow_limit") == 1);
  CHECK(q.a.count(Event::Type::kOpenFailed) == 1);
  CHECK(q.a.last(Event::Type::kOpenFailed)->reason == Reason::kFlowLimit);
}

TEST_CASE("session: incoming OPENs are rate limited per session") {
  SessionConfig cfg;
  cfg.open_rate_per_s = 10;
  cfg.open_burst = 5;
  Pair p(cfg);
  p.attach();
  for (int i = 0; i < 8; ++i) (void)p.a.session.open_flow(p.now, service_named("r"));
  p.pump(20);
  CHECK(p.b.count(Event::Type::kIncoming) == 5);
  CHECK(p.b.drops("open_rate_limited") == 3);
  CHECK(p.a.count(Event::Type::kOpenFailed) == 3);
  // Tokens come back with time.
  p.now += 1000;
  (void)p.a.session.open_flow(p.now, service_named("r"));
  p.pump(20);
  CHECK(p.b.count(Event::Type::kIncoming) == 6);
}

TEST_CASE("session: idle flows are reset after idle_timeout") {
  SessionConfig cfg;
  cfg.idle_timeout_ms = 5000;
  cfg.keepalive_interval_ms = 1000;
  Pair p(cfg);
  p.attach();
  auto [fa, fb] = open_accepted(p);
  for (int i = 0; i < 4; ++i) {
    p.advance(1000);
    p.pump(10);
  }
  CHECK(p.a.session.status(fa).exists);
  for (int i = 0; i < 3; ++i) {
    p.advance(1000);
    p.pump(10);
  }
  CHECK_FALSE(p.a.session.status(fa).exists);
  CHECK_FALSE(p.b.session.status(fb).exists);
  CHECK(p.a.last(Event::Type::kReset)->reason == Reason::kIdleTimeout);
  // Keepalives kept the transport itself alive.
  CHECK(p.a.session.state() == Session::State::kAttached);
  CHECK(p.a.reg.counter_value("bc_sal_frames_total", {{"dir", "tx"}, {"type", "keepalive"}}) > 0);
}

TEST_CASE("session: a detached session expires after detached_timeout") {
  SessionConfig cfg;
  cfg.detached_timeout_ms = 60000;
  Pair p(cfg);
  p.attach();
  auto [fa, fb] = open_accepted(p);
  p.break_link();
  Bytes msg(3000, 5);
  CHECK(p.a.session.write(p.now, fa, msg) == msg.size());  // writes still buffer while detached
  p.advance(59000);
  CHECK(p.a.session.status(fa).exists);
  CHECK(p.a.session.state() == Session::State::kDetached);
  p.advance(1000);
  CHECK(p.a.session.state() == Session::State::kExpired);
  CHECK(p.a.count(Event::Type::kSessionExpired) == 1);
  CHECK(p.a.last(Event::Type::kReset)->reason == Reason::kDetachedTimeout);
  CHECK(p.a.session.flow_count() == 0);
  CHECK(p.a.session.send_buffered() == 0);
  CHECK(p.limits_a.flows_total == 0);
}

TEST_CASE("session: a silent transport is declared dead after keepalive_timeout") {
  SessionConfig cfg;
  cfg.keepalive_interval_ms = 1000;
  cfg.keepalive_timeout_ms = 3000;
  Pair p(cfg);
  p.attach();
  auto [fa, fb] = open_accepted(p);
  // The pipe swallows everything: a hears nothing back.
  for (int i = 0; i < 4; ++i) {
    p.advance(1000);
    (void)p.a.session.take_output(p.now);
  }
  CHECK(p.a.count(Event::Type::kTransportDead) == 1);
  CHECK(p.a.session.state() == Session::State::kDetached);
  CHECK(p.a.session.status(fa).resuming);
}

TEST_CASE("session: an unanswered incoming OPEN and an unanswered OPEN time out") {
  SessionConfig cfg;
  cfg.accept_timeout_ms = 2000;
  cfg.open_timeout_ms = 5000;
  Pair p(cfg);
  p.attach();
  const auto r = p.a.session.open_flow(p.now, service_named("slow"));
  p.pump();
  const FlowId bid = p.b.last(Event::Type::kIncoming)->flow;
  p.advance(2000);
  p.pump();
  CHECK(p.b.count(Event::Type::kReset, bid) == 1);
  CHECK(p.b.last(Event::Type::kReset)->reason == Reason::kAcceptTimeout);
  CHECK(p.a.last(Event::Type::kOpenFailed)->reason == Reason::kAcceptTimeout);

  // An OPEN that is never answered at all (its bytes are lost).
  const auto r2 = p.a.session.open_flow(p.now, service_named("void"));
  (void)p.a.session.take_output(p.now);
  for (int i = 0; i < 6; ++i) {
    p.advance(1000);
    p.pump(5);
  }
  CHECK(p.a.count(Event::Type::kOpenFailed, *r2) == 1);
  CHECK(p.a.last(Event::Type::kOpenFailed)->reason == Reason::kOpenTimeout);
  (void)r;
}

TEST_CASE("session: attach refuses a different peer key and a bad binding") {
  Pair p;
  const KeyPair stranger = fixed_key(0x33);
  const Bytes binding = p.next_binding();
  CHECK_FALSE(p.a.session.attach_transport(p.now, binding, stranger.public_key()));
  CHECK(p.a.drops("attach_wrong_peer") == 1);
  CHECK_FALSE(p.a.session.attach_transport(p.now, Bytes(16, 1), p.b.key.public_key()));
  CHECK(p.a.drops("attach_bad_binding") == 1);
  CHECK(p.a.session.state() == Session::State::kDetached);
}

TEST_CASE("session: an open made while detached goes out at the next attach") {
  Pair p;
  const auto r = p.a.session.open_flow(p.now, service_named("later"));
  REQUIRE(r);
  const Bytes early(777, 9);
  CHECK(p.a.session.write(p.now, *r, early) == early.size());
  p.attach();
  p.pump();
  const FlowId bid = p.b.last(Event::Type::kIncoming)->flow;
  REQUIRE(p.b.session.accept(p.now, bid, cert_for(service_named("later"))));
  p.pump();
  CHECK(p.a.count(Event::Type::kOpened, *r) == 1);
  CHECK(read_all(p.b.session, p.now, bid) == early);
}

TEST_CASE("session: a peer exceeding its window is reset and counted") {
  SessionConfig cfg;
  cfg.flow_window = 32 * 1024;
  cfg.min_flow_window = 16 * 1024;
  Pair p(cfg);
  p.attach();
  auto [fa, fb] = open_accepted(p);
  Bytes payload(kMaxDataPayload, 1);
  for (std::uint64_t off = 0; off < 3 * kMaxDataPayload; off += kMaxDataPayload) {
    Frame d;
    d.type = FrameType::kData;
    d.dest = fb;
    d.offset = off;
    d.payload = payload;
    Pair::inject(p.b, p.now, d);
  }
  p.collect();
  CHECK(p.b.drops("flow_control") == 1);
  CHECK(p.b.count(Event::Type::kReset, fb) == 1);
  CHECK(p.b.last(Event::Type::kReset)->reason == Reason::kProtocol);
  CHECK(p.b.session.state() == Session::State::kAttached);
}

TEST_CASE("session: a peer that makes us answer but never reads cannot grow our queue without bound") {
  Pair p;
  p.attach();
  open_accepted(p);
  Bytes storm;
  Frame k;
  k.type = FrameType::kKeepalive;
  k.flags = kFlagReplyWanted;
  for (int i = 0; i < 300000; ++i) encode_frame(k, storm);
  p.b.session.on_transport_bytes(p.now, storm);  // b's driver never takes output
  p.collect();
  CHECK(p.b.session.state() == Session::State::kFailed);
  CHECK(p.b.drops("control_backlog") == 1);
  CHECK(p.b.count(Event::Type::kSessionFailed) == 1);
  CHECK_FALSE(p.b.session.has_output());
}

TEST_CASE("session: the receive budget limits credit; starved flows are topped up when it frees") {
  SessionConfig cfg;
  cfg.flow_window = 64 * 1024;
  cfg.min_flow_window = 16 * 1024;
  cfg.recv_budget = 96 * 1024;
  Pair p(cfg);
  p.attach();
  auto [fa1, fb1] = open_accepted(p, "one");
  auto [fa2, fb2] = open_accepted(p, "two");
  auto [fa3, fb3] = open_accepted(p, "three");
  // b granted 64 KiB to the first flow, the 32 KiB left to the second, and
  // the floor of 16 KiB to the third (over budget by design, bounded by max_flows).
  Bytes big(256 * 1024, 1);
  for (FlowId f : {fa1, fa2, fa3}) p.a.session.write(p.now, f, big);
  p.pump();
  CHECK(p.b.session.status(fb1).recv_buffered == 64 * 1024);
  CHECK(p.b.session.status(fb2).recv_buffered == 32 * 1024);
  CHECK(p.b.session.status(fb3).recv_buffered == 16 * 1024);
  // The first flow goes away: its credit returns to the budget and the
  // starved flows get more at the next sweep.
  p.b.session.reset(p.now, fb1);
  p.advance(1000);
  p.pump();
  CHECK(p.b.session.status(fb2).recv_buffered + p.b.session.status(fb3).recv_buffered > 48 * 1024);
  CHECK(p.b.session.recv_buffered() <= cfg.recv_budget + cfg.min_flow_window);
  // Reading lets both finish; every byte arrives once.
  std::size_t got2 = 0, got3 = 0;
  for (int i = 0; i < 200 && (got2 < big.size() || got3 < big.size()); ++i) {
    got2 += read_all(p.b.session, p.now, fb2).size();
    got3 += read_all(p.b.session, p.now, fb3).size();
    p.pump(20);
  }
  CHECK(got2 == big.size());
  CHECK(got3 == big.size());
  (void)fa1;
}
