// SyncCore against hostile peers: a connection that never says Hello, a peer
// that claims a far head and never answers, one that falls silent, repeated
// faults from one address, and a producer that keeps producing through all
// of them. Every deadline is driven by the `now` passed in.
#include "ledger/sync.hpp"
#include "tests/ledger/ledger_fixture.hpp"

using namespace bc;
using namespace bc::ledger;
using namespace bc::ledger::test;

namespace {
constexpr std::uint64_t kFarHead = 1'000'000'000;

struct Guarded {
  Chain chain;
  Mempool mempool;
  LedgerBlocks blocks{*chain.ledger};
  SyncCore core{chain.ledger->params(), chain.ledger->genesis_hash(),
                ChainTip{chain.ledger->head().height, chain.ledger->head().hash}, blocks, SyncOptions{}};
  const TimeMs t0 = chain.now;
  TimeMs clock = t0;  // the latest `now` given to the core
  Outbox out;

  static Endpoint addr(std::uint32_t last_octet) { return Endpoint::v4(0x7f000000u | last_octet, 4000); }
  void up(PeerId p, std::uint32_t octet, bool outbound, TimeMs at) {
    clock = std::max(clock, at);
    core.on_peer_up(p, addr(octet), outbound, at, out);
  }
  void frame(PeerId p, const Bytes& m, TimeMs at) {
    clock = std::max(clock, at);
    core.on_frame(p, m, at, out);
    serve_sync_requests(core, *chain.ledger, mempool, at, out);
  }
  void hello(PeerId p, std::uint64_t height, TimeMs at) {
    frame(p, sync_hello(chain.ledger->genesis_hash(), height, Hash256{}), at);
  }
  // Runs the core's timer up to `until`, as a driver would: at each next_wakeup().
  void run_until(TimeMs until) {
    for (int i = 0; i < 1000; ++i) {
      const TimeMs at = std::max(core.next_wakeup(), clock);
      if (at > until) return;
      clock = at;
      core.on_tick(at, out);
    }
    FAIL("the core's timer did not settle");
  }
  bool dropped(PeerId p) const {
    return std::find(out.disconnects.begin(), out.disconnects.end(), p) != out.disconnects.end();
  }
  bool asked(PeerId p) const {
    for (const auto& f : out.frames)
      if (f.to == p && !f.payload.empty() && f.payload[0] == 3) return true;
    return false;
  }
};
}  // namespace

TEST_CASE("sync guard: a connection that never says Hello is dropped at the deadline and its address banned") {
  Guarded g;
  g.up(1, 10, false, g.t0);
  CHECK(g.core.next_wakeup() <= g.t0 + 5000);
  // Frames other than Hello do not count: they cannot postpone the deadline.
  g.frame(1, sync_get_blocks(1, 1), g.t0 + 4000);
  g.run_until(g.t0 + 4999);
  CHECK(!g.dropped(1));
  g.run_until(g.t0 + 5000);
  CHECK(g.dropped(1));
  CHECK(g.core.stats().hello_timeouts == 1);
  CHECK(g.core.peers().empty());
  CHECK(g.core.banned(Guarded::addr(10), g.t0 + 5001));
  CHECK(!g.core.banned(Guarded::addr(11), g.t0 + 5001));
  g.out.clear();
  g.up(2, 10, false, g.t0 + 6000);
  CHECK(g.dropped(2));
  CHECK(g.core.stats().refused_banned == 1);
}

TEST_CASE("sync guard: a peer claiming a far head that never answers GetBlocks is distrusted; the producer never waits") {
  Guarded g;
  g.up(2, 21, true, g.t0);  // an honest peer level with us
  g.hello(2, 0, g.t0);
  g.up(1, 20, false, g.t0 + 5500);
  g.hello(1, kFarHead, g.t0 + 6000);
  REQUIRE(g.asked(1));
  CHECK(g.core.requesting());
  CHECK(g.core.best_peer_height() == kFarHead);
  // The claim does not hold the producer (past its start-up window), nor does the unanswered request.
  CHECK(g.core.producer_may_build(g.t0, g.t0 + 6000));
  CHECK(g.core.producer_may_build(g.t0, g.t0 + 10'000));
  // The honest peer keeps talking; the liar stays silent past the request deadline.
  g.hello(2, 0, g.t0 + 8000);
  g.hello(2, 0, g.t0 + 10'000);
  g.run_until(g.t0 + 10'999);
  CHECK(!g.dropped(1));
  g.run_until(g.t0 + 11'000);
  CHECK(g.dropped(1));
  CHECK(!g.dropped(2));
  CHECK(g.core.stats().request_timeouts == 1);
  CHECK(!g.core.requesting());
  CHECK(g.core.best_peer_height() == 0);
  CHECK(g.core.banned(Guarded::addr(20), g.t0 + 11'001));
  // Not asked again: its reconnections are refused for the ban.
  g.out.clear();
  g.up(3, 20, false, g.t0 + 20'000);
  CHECK(g.dropped(3));
  CHECK(!g.asked(3));
}

TEST_CASE("sync guard: repeated faults from one address are banned longer each time") {
  Guarded g;
  TimeMs at = g.t0;
  TimeMs previous_ban = 0;
  for (int round = 0; round < 4; ++round) {
    const PeerId p = 10 + round;
    // Each time, come back as soon as the ban ends and stay silent.
    while (g.core.banned(Guarded::addr(30), at)) at += 1000;
    const TimeMs back = at;
    g.up(p, 30, false, at);
    g.run_until(at + 5000);
    REQUIRE(g.dropped(p));
    TimeMs until = at + 5000;
    while (g.core.banned(Guarded::addr(30), until)) until += 1000;
    const TimeMs ban = until - (back + 5000);
    CHECK(ban > previous_ban);
    previous_ban = ban;
    at = until;
  }
  CHECK(previous_ban >= 8 * 30'000 - 1000);  // 30 s, 60 s, 120 s, 240 s
  CHECK(g.core.stats().hello_timeouts == 4);
}

TEST_CASE("sync guard: a peer silent after its Hello is dropped at the idle deadline") {
  Guarded g;
  g.up(1, 40, true, g.t0);
  g.hello(1, 0, g.t0 + 100);
  g.run_until(g.t0 + 100 + 14'999);
  CHECK(!g.dropped(1));
  g.run_until(g.t0 + 100 + 15'000);
  CHECK(g.dropped(1));
  CHECK(g.core.stats().idle_timeouts == 1);
}

TEST_CASE("sync guard: blocks are asked of an outbound peer before an inbound one claiming more") {
  Guarded g;
  g.up(1, 50, false, g.t0);  // inbound, claims a far head
  g.up(2, 51, true, g.t0);   // outbound: a peer this node chose
  g.hello(1, kFarHead, g.t0);
  g.out.clear();
  g.hello(2, 5, g.t0);
  // The inbound liar was asked first (no outbound peer was ahead then); its
  // deadline passes and the outbound peer is asked next.
  g.run_until(g.t0 + 5000);
  CHECK(g.dropped(1));
  REQUIRE(g.asked(2));
  SUBCASE("and with both known at once, the outbound one is asked straight away") {
    Guarded h;
    h.up(1, 50, false, h.t0);
    h.up(2, 51, true, h.t0);
    h.core.on_frame(2, sync_hello(h.chain.ledger->genesis_hash(), 5, Hash256{}), h.t0, h.out);
    h.out.clear();
    // The outbound request is in flight; a far claim from inbound changes nothing.
    h.hello(1, kFarHead, h.t0);
    CHECK(!h.asked(1));
    CHECK(h.core.requesting());
  }
}

TEST_CASE("sync guard: a producer waits only at start-up, until it has heard a peer and its request is answered") {
  Guarded g;
  const TimeMs started = g.t0;
  CHECK(!g.core.producer_may_build(started, started));         // nobody heard yet
  CHECK(g.core.producer_may_build(started, started + 5000));   // the window closed
  g.up(1, 60, true, started);
  g.hello(1, 0, started + 10);
  CHECK(g.core.producer_may_build(started, started + 10));     // level with its peer: go
  g.up(2, 61, false, started);
  g.hello(2, kFarHead, started + 20);
  CHECK(g.core.requesting());
  CHECK(!g.core.producer_may_build(started, started + 20));    // might be behind: learn first...
  CHECK(g.core.producer_may_build(started, started + 5000));   // ...but never past the window
}
