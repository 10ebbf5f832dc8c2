// Session migration: transfers across broken and re-attached transports,
// resume proofs (wrong, replayed, wrong peer), either side re-attaching.
#include <doctest/doctest.h>

#include <cstdlib>

#include "tests/sal/test_session_harness.hpp"

using namespace bc;
using namespace bc::sal;
using namespace bc::sal::test;

namespace {

// Writes a seeded random stream into a flow as fast as it is accepted.
struct Source {
  Source(std::uint64_t seed, std::size_t total) : rng(seed), total(total) {}
  void pump(Session& s, TimeMs now, FlowId f) {
    while (written < total) {
      if (pos == buf.size()) {
        buf.resize(std::min<std::size_t>(64 * 1024, total - written));
        rng.fill(buf);
        pos = 0;
      }
      const std::size_t n = s.write(now, f, ByteView(buf).subspan(pos));
      if (n == 0) return;
      hash.update(ByteView(buf).subspan(pos, n));
      pos += n;
      written += n;
    }
    if (!shut) {
      s.shutdown(now, f);
      shut = true;
    }
  }
  Rng rng;
  std::size_t total;
  std::size_t written = 0;
  Bytes buf;
  std::size_t pos = 0;
  bool shut = false;
  Sha256 hash;
};

struct Sink {
  void pump(Session& s, TimeMs now, FlowId f) {
    std::uint8_t buf[32 * 1024];
    while (std::size_t n = s.read(now, f, buf)) {
      hash.update(ByteView(buf, n));
      got += n;
    }
  }
  std::size_t got = 0;
  Sha256 hash;
};

}  // namespace

TEST_CASE("session: 64 MiB + 8 MiB survive 100 transport breaks at random bytes (mid-frame included)") {
  Pair p(SessionConfig{}, 7);
  p.attach();
  auto [fa, fb] = open_accepted(p);
  // BC_SAL_TRANSFER_MIB=1024 runs the 1 GiB variant.
  std::size_t mib = 64;
  if (const char* env = std::getenv("BC_SAL_TRANSFER_MIB")) mib = std::strtoull(env, nullptr, 10);
  Source src_ab(1001, mib << 20);
  Source src_ba(2002, 8u << 20);
  Sink sink_ab;
  Sink sink_ba;
  Rng breaker(4242);
  std::size_t delivered = 0;
  // Break points spread over the whole transfer (mean gap: total / 130 bytes).
  const std::uint64_t gap2 = 2 * (src_ab.total + src_ba.total) / 130;
  std::size_t next_break = 1 + breaker.uniform(gap2);
  int breaks = 0;
  int steps = 0;
  // A side is done once it read everything and saw the end (or already closed).
  auto done = [&](Session& s, FlowId f) { return !s.status(f).exists || s.at_eof(f); };
  while (!(sink_ab.got == src_ab.total && sink_ba.got == src_ba.total && done(p.a.session, fa) &&
           done(p.b.session, fb))) {
    if (++steps >= 2'000'000) {
      const FlowStatus sa = p.a.session.status(fa), sb = p.b.session.status(fb);
      MESSAGE("stuck: a exists=" << sa.exists << " resuming=" << sa.resuming << " acked=" << sa.sent_acked
                                 << " written=" << sa.written << " recv=" << sa.received << " | b exists=" << sb.exists
                                 << " resuming=" << sb.resuming << " acked=" << sb.sent_acked << " written="
                                 << sb.written << " recv=" << sb.received << " breaks=" << breaks);
      REQUIRE(false);
    }
    src_ab.pump(p.a.session, p.now, fa);
    src_ba.pump(p.b.session, p.now, fb);
    p.fill_queues();
    const std::size_t q = p.queued();
    if (q > 0) {
      std::size_t budget = std::min<std::size_t>(q, 1 + breaker.uniform(48 * 1024));
      if (breaks < 100 && delivered + budget >= next_break) {
        // Deliver up to the exact byte where the transport dies, then break.
        p.deliver_some(next_break - delivered);
        const int who = static_cast<int>(breaker.uniform(4));  // 0: nobody notices; 1: a; 2: b; 3: both
        p.break_link(who);
        p.now += static_cast<TimeMs>(breaker.uniform(200));
        p.attach();
        ++breaks;
        delivered = 0;
        next_break = 1 + breaker.uniform(gap2);
      } else {
        delivered += p.deliver_some(budget);
      }
    }
    sink_ab.pump(p.b.session, p.now, fb);
    sink_ba.pump(p.a.session, p.now, fa);
    p.now += 1;
    p.tick();
  }
  CHECK(breaks == 100);
  CHECK(sink_ab.got == src_ab.total);
  CHECK(sink_ba.got == src_ba.total);
  CHECK(sink_ab.hash.finish() == src_ab.hash.finish());
  CHECK(sink_ba.hash.finish() == src_ba.hash.finish());
  // Both FINs went through; the flow closes on both sides.
  p.pump();
  CHECK(p.a.count(Event::Type::kClosed, fa) == 1);
  CHECK(p.b.count(Event::Type::kClosed, fb) == 1);
  CHECK(p.a.count(Event::Type::kReset) == 0);
  CHECK(p.b.count(Event::Type::kReset) == 0);
  CHECK(p.a.resumes("failed") == 0);
  CHECK(p.b.resumes("failed") == 0);
  CHECK(p.a.resumes("ok") >= 90);  // a break inside the RESUME itself skips one
  CHECK(p.b.resumes("ok") == p.a.resumes("ok"));
  const auto retx = p.a.reg.counter_value("bc_sal_bytes_retransmitted_total") +
                    p.b.reg.counter_value("bc_sal_bytes_retransmitted_total");
  CHECK(retx > 0);
  MESSAGE("moved " << sink_ab.got << " + " << sink_ba.got << " bytes; 100 breaks: resumes ok a=" << p.a.resumes("ok") << " b=" << p.b.resumes("ok")
                                      << ", bytes retransmitted " << retx << ", steps " << steps);
}

TEST_CASE("session: either side may re-attach, and either side may be the opener") {
  for (int variant = 0; variant < 4; ++variant) {
    CAPTURE(variant);
    Pair p(SessionConfig{}, 100 + variant);
    p.attach();
    // Variants 2 and 3: b opens, so a is the acceptor.
    FlowId fa = 0, fb = 0;
    if (variant < 2) {
      std::tie(fa, fb) = open_accepted(p);
    } else {
      const ServiceId svc = service_named("reverse");
      const auto r = p.b.session.open_flow(p.now, svc);
      p.pump();
      fa = p.a.last(Event::Type::kIncoming)->flow;
      REQUIRE(p.a.session.accept(p.now, fa, cert_for(svc)));
      p.pump();
      fb = *r;
      REQUIRE(p.b.count(Event::Type::kOpened, fb) == 1);
    }
    const Bytes one(40000, 1), two(50000, 2);
    CHECK(p.a.session.write(p.now, fa, one) == one.size());
    CHECK(p.b.session.write(p.now, fb, two) == two.size());
    p.fill_queues();
    p.deliver_some(20000);  // part of it arrives, then the transport dies
    // Only one side notices; the other learns when its new transport is attached.
    p.break_link(variant % 2 == 0 ? 1 : 2);
    CHECK(p.a.session.write(p.now, fa, one) == one.size());  // writes continue while detached
    p.attach();
    p.pump();
    Bytes want_b = one;
    want_b.insert(want_b.end(), one.begin(), one.end());
    CHECK(read_all(p.b.session, p.now, fb) == want_b);
    CHECK(read_all(p.a.session, p.now, fa) == two);
    CHECK(p.a.resumes("ok") == 1);
    CHECK(p.b.resumes("ok") == 1);
  }
}

TEST_CASE("session: wrong and replayed resume proofs are refused and counted; the flow survives") {
  Pair p;
  p.attach();
  const Bytes open_binding = p.binding;
  auto [fa, fb] = open_accepted(p);
  const Bytes first(10000, 1);
  CHECK(p.a.session.write(p.now, fa, first) == first.size());
  p.pump();
  CHECK(read_all(p.b.session, p.now, fb) == first);

  // Migration 1: capture the genuine RESUME a sends on the new connection.
  p.break_link();
  p.attach();
  const Bytes binding2 = p.binding;
  Bytes a_out = p.a.session.take_output(p.now);
  Bytes captured;
  {
    Frame f;
    std::size_t used = 0;
    REQUIRE(decode_frame(a_out, f, used) == FrameError::kOk);
    REQUIRE(f.type == FrameType::kResume);
    CHECK(f.dest == fb);
    CHECK(f.src == fa);
    captured.assign(a_out.begin(), a_out.begin() + static_cast<std::ptrdiff_t>(used));
  }
  p.b.session.on_transport_bytes(p.now, a_out);
  p.pump();
  CHECK_FALSE(p.b.session.status(fb).resuming);
  CHECK(p.b.resumes("ok") == 1);

  // Migration 2: replay the captured RESUME (a valid proof for binding 2),
  // forge one with garbage, and one computed from the open connection's
  // binding, before the genuine RESUME arrives.
  p.break_link();
  const Bytes second(7000, 2);
  CHECK(p.a.session.write(p.now, fa, second) == second.size());
  p.attach();
  CHECK(p.binding != binding2);
  p.b.session.on_transport_bytes(p.now, captured);
  Frame forged;
  forged.type = FrameType::kResume;
  forged.dest = fb;
  forged.src = fa;
  Bytes garbage(32, 0x5a);
  forged.payload = garbage;
  Pair::inject(p.b, p.now, forged);
  const FlowSecret secret = derive_flow_secret(open_binding, fa, fb);
  const ResumeProof stale = resume_proof(secret, open_binding, fa, fb, ProofRole::kResume);
  forged.payload = ByteView(stale.data(), stale.size());
  Pair::inject(p.b, p.now, forged);
  p.collect();
  CHECK(p.b.drops("resume_bad_proof") == 3);
  CHECK(p.b.resumes("failed") == 3);
  CHECK(p.b.session.status(fb).exists);
  CHECK(p.b.session.status(fb).resuming);  // not hijacked: still waiting for a's proof

  // A forged RESUME_OK at the opener is dropped too.
  Frame fake_ok;
  fake_ok.type = FrameType::kResumeOk;
  fake_ok.dest = fa;
  fake_ok.src = fb;
  fake_ok.payload = garbage;
  Pair::inject(p.a, p.now, fake_ok);
  CHECK(p.a.drops("resume_ok_bad_proof") == 1);
  CHECK(p.a.session.status(fa).resuming);

  // The genuine resume still works; the RESUME_FAILs answering the forgeries
  // do not match a's own RESUME and are ignored.
  p.pump();
  CHECK(p.a.drops("resume_fail_mismatch") == 3);
  CHECK_FALSE(p.a.session.status(fa).resuming);
  CHECK_FALSE(p.b.session.status(fb).resuming);
  CHECK(read_all(p.b.session, p.now, fb) == second);
  CHECK(p.a.count(Event::Type::kReset) == 0);
  CHECK(p.b.count(Event::Type::kReset) == 0);
}

TEST_CASE("session: a resume from a different peer key is refused") {
  Pair p;
  p.attach();
  auto [fa, fb] = open_accepted(p);
  p.break_link();
  const KeyPair stranger = fixed_key(0x44);
  CHECK_FALSE(p.b.session.attach_transport(p.now, p.next_binding(), stranger.public_key()));
  CHECK(p.b.drops("attach_wrong_peer") == 1);
  CHECK(p.b.session.state() == Session::State::kDetached);
  CHECK(p.b.session.status(fb).resuming);
  // The right peer can still resume.
  p.attach();
  p.pump();
  CHECK_FALSE(p.b.session.status(fb).resuming);
  CHECK(p.b.resumes("ok") == 1);
}

TEST_CASE("session: a RESUME for an unknown flow is answered exactly like a bad proof") {
  Pair p;
  p.attach();
  auto [fa, fb] = open_accepted(p);
  p.break_link();
  p.attach();
  p.pump();
  // After the resume, RESUME naming an unknown flow, and RESUME naming the
  // real (no longer resuming) flow: both get the same RESUME_FAIL.
  (void)p.b.session.take_output(p.now);
  auto answer = [&](FlowId dest) {
    Frame r;
    r.type = FrameType::kResume;
    r.dest = dest;
    r.src = fa;
    Bytes proof(32, 1);
    r.payload = proof;
    Pair::inject(p.b, p.now, r);
    Bytes out = p.b.session.take_output(p.now);
    Frame f;
    std::size_t used = 0;
    REQUIRE(decode_frame(out, f, used) == FrameError::kOk);
    CHECK(f.type == FrameType::kResumeFail);
    CHECK(used == out.size());
    return std::make_pair(f.code, out.size());
  };
  const auto unknown = answer(0x1234567890abcdefULL);
  const auto known = answer(fb);
  CHECK(unknown == known);
  CHECK(p.b.drops("unknown_flow") == 1);
  CHECK(p.b.session.status(fb).exists);
}

TEST_CASE("session: a flow the acceptor lost is reset at the opener on resume") {
  Pair p;
  p.attach();
  auto [fa, fb] = open_accepted(p);
  p.break_link();
  p.b.session.reset(p.now, fb);  // b drops the flow while detached
  p.attach();
  p.pump();
  CHECK_FALSE(p.a.session.status(fa).exists);
  CHECK(p.a.count(Event::Type::kReset, fa) == 1);
}

TEST_CASE("session: an acceptor flow whose opener never resumes is reset at the resume deadline") {
  SessionConfig cfg;
  cfg.resume_timeout_ms = 3000;
  Pair p(cfg);
  p.attach();
  auto [fa, fb] = open_accepted(p);
  p.break_link();
  p.attach();
  (void)p.a.session.take_output(p.now);  // a's RESUME is lost
  for (int i = 0; i < 5; ++i) {
    p.advance(1000);
    (void)p.a.session.take_output(p.now);
    (void)p.b.session.take_output(p.now);
  }
  CHECK_FALSE(p.b.session.status(fb).exists);
  CHECK(p.b.last(Event::Type::kReset)->reason == Reason::kResumeFailed);
}

TEST_CASE("session: a close whose last ACK is lost to a transport break still ends Closed on both sides") {
  // variant 0: the opener (a) closes last and its final ACK is lost;
  // variant 1: the acceptor (b) closes last and its final ACK is lost.
  for (int variant = 0; variant < 2; ++variant) {
    CAPTURE(variant);
    Pair p;
    p.attach();
    auto [fa, fb] = open_accepted(p);
    Side& first = variant == 0 ? p.b : p.a;
    Side& last = variant == 0 ? p.a : p.b;
    const FlowId ff = variant == 0 ? fb : fa;
    const FlowId lf = variant == 0 ? fa : fb;
    const Bytes msg(3000, 4);
    CHECK(first.session.write(p.now, ff, msg) == msg.size());
    last.session.shutdown(p.now, lf);
    p.pump();
    CHECK(read_all(last.session, p.now, lf) == msg);
    // `first` shuts down; its FIN reaches `last`, which closes and ACKs, but
    // that ACK is lost with the transport.
    first.session.shutdown(p.now, ff);
    Bytes fin = first.session.take_output(p.now);
    last.session.on_transport_bytes(p.now, fin);
    p.collect();
    CHECK(last.count(Event::Type::kClosed, lf) == 1);
    (void)last.session.take_output(p.now);
    CHECK(first.session.status(ff).exists);
    p.break_link();
    p.attach();
    p.pump();
    CHECK(first.count(Event::Type::kClosed, ff) == 1);
    CHECK(first.count(Event::Type::kReset) == 0);
    CHECK(last.count(Event::Type::kReset) == 0);
    CHECK(p.a.session.flow_count() == 0);
    CHECK(p.b.session.flow_count() == 0);
  }
}
