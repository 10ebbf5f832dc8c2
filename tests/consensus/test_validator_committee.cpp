// Four Validators (consensus/node/validator.hpp) on four real ledgers with
// one genesis, joined by an in-memory network: they finalise the same
// blocks, each block carries its parent's certificate, and a validator that
// restarts from its ledger and store rejoins without signing twice; a
// validator that double-signs (consensus/node/equivocator.hpp) is slashed
// and banned on chain by the others' blocks, once.
#include <doctest/doctest.h>

#include <deque>

#include "../ledger/cert_fixture.hpp"
#include "consensus/node/equivocator.hpp"
#include "consensus/node/file_store.hpp"
#include "consensus/node/validator.hpp"
#include "ledger/invariants.hpp"

using namespace bc;
using namespace bc::ledger;
using namespace bc::ledger::test;

namespace {

constexpr std::size_t kN = 4;

struct LiveCommittee {
  std::vector<std::unique_ptr<CertChain>> chains;
  std::vector<Mempool> pools = std::vector<Mempool>(kN);
  std::vector<TempDir> stores = std::vector<TempDir>(kN);
  std::vector<std::unique_ptr<consensus::Validator>> nodes = std::vector<std::unique_ptr<consensus::Validator>>(kN);
  std::vector<std::unique_ptr<consensus::Equivocator>> faulty = std::vector<std::unique_ptr<consensus::Equivocator>>(kN);
  std::deque<std::tuple<std::size_t, std::size_t, Bytes>> wire;  // to, from, frame
  TimeMs now = 1'700'000'000'000;

  LiveCommittee() {
    for (std::size_t i = 0; i < kN; ++i) chains.push_back(std::make_unique<CertChain>(6, kN, 1000));
    for (std::size_t i = 0; i < kN; ++i) boot(i);
  }

  static PeerId peer_of(std::size_t j) { return j + 1; }

  void boot(std::size_t i) {
    bft::BftOptions o;
    o.chain_id = chains[i]->ledger->genesis_hash();
    auto store = consensus::FileStore::open(stores[i].path);
    REQUIRE(store.ok());
    auto v = consensus::Validator::create(o, *chains[i]->ledger, pools[i], vote_key(i),
                                          std::make_unique<consensus::FileStore>(std::move(*store)),
                                          [this] { return now; });
    REQUIRE_MESSAGE(v.ok(), v.status().text());
    nodes[i] = std::move(*v);
    take(i, nodes[i]->start(now));
    for (std::size_t j = 0; j < kN; ++j) {
      if (j == i || !nodes[j]) continue;
      take(i, nodes[i]->peer_up(peer_of(j), Endpoint{}, true, now));
      take(j, nodes[j]->peer_up(peer_of(i), Endpoint{}, false, now));
    }
  }

  void crash(std::size_t i) {
    nodes[i].reset();
    for (std::size_t j = 0; j < kN; ++j)
      if (j != i && nodes[j]) take(j, nodes[j]->peer_down(peer_of(i), now));
  }

  void take(std::size_t from, consensus::ValidatorStep step) {
    REQUIRE_MESSAGE(step.fatal.ok(), step.fatal.text());
    if (faulty[from]) faulty[from]->apply(step.frames);
    for (auto& f : step.frames) wire.emplace_back(static_cast<std::size_t>(f.to - 1), from, std::move(f.payload));
  }

  // Delivers everything, then moves the clock to the next wakeup.
  void run_until(std::function<bool()> done, TimeMs limit_ms = 60'000) {
    const TimeMs end = now + limit_ms;
    while (!done() && now < end) {
      while (!wire.empty()) {
        auto [to, from, bytes] = std::move(wire.front());
        wire.pop_front();
        if (nodes[to]) take(to, nodes[to]->frame(peer_of(from), bytes, now));
      }
      TimeMs next = end;
      for (auto& n : nodes)
        if (n) next = std::min(next, n->next_wakeup());
      now = std::max(now + 1, next);
      for (std::size_t i = 0; i < kN; ++i)
        if (nodes[i] && nodes[i]->next_wakeup() <= now) take(i, nodes[i]->tick(now));
    }
  }

  std::uint64_t min_height() const {
    std::uint64_t h = UINT64_MAX;
    for (std::size_t i = 0; i < kN; ++i)
      if (nodes[i]) h = std::min(h, chains[i]->ledger->head().height);
    return h;
  }

  void expect_agreement(std::uint64_t upto) const {
    for (std::uint64_t h = 1; h <= upto; ++h) {
      auto first = chains[0]->ledger->block_at(h);
      REQUIRE(first.has_value());
      for (std::size_t i = 1; i < kN; ++i) CHECK(chains[i]->ledger->block_at(h) == first);
      CHECK(chains[0]->ledger->certificate_at(h).has_value());
    }
  }
};

}  // namespace

TEST_CASE("four validators on real ledgers finalise the same certified blocks") {
  LiveCommittee c;
  c.run_until([&] { return c.min_height() >= 5; });
  REQUIRE(c.min_height() >= 5);
  c.expect_agreement(5);
  auto b3 = decode_block(*c.chains[1]->ledger->block_at(3), c.chains[1]->ledger->params());
  REQUIRE(b3.ok());
  REQUIRE(b3->last_commit.has_value());
  CHECK(*b3->last_commit == *c.chains[1]->ledger->certificate_at(2));
}

TEST_CASE("a restarted validator rejoins and the chain goes on; two of four down halt it") {
  LiveCommittee c;
  c.run_until([&] { return c.min_height() >= 3; });
  c.crash(2);
  const std::uint64_t at_crash = c.chains[0]->ledger->head().height;
  c.run_until([&] { return c.chains[0]->ledger->head().height >= at_crash + 3; });
  CHECK(c.chains[0]->ledger->head().height >= at_crash + 3);  // 3 of 4 equal powers: +2/3

  c.crash(3);
  const std::uint64_t halted = c.chains[0]->ledger->head().height;
  c.run_until([] { return false; }, 5'000);
  CHECK(c.chains[0]->ledger->head().height <= halted + 1);  // a decision under way may land

  c.boot(3);  // back: 3 of 4 again, and it catches up from certificates
  const std::uint64_t resumed = c.chains[0]->ledger->head().height;
  c.run_until([&] { return c.chains[3]->ledger->head().height >= resumed + 2; });
  CHECK(c.chains[3]->ledger->head().height >= resumed + 2);
  CHECK(c.chains[3]->ledger->block_at(resumed) == c.chains[0]->ledger->block_at(resumed));
}

namespace {
// The heights whose block carries evidence, and the effects against `who`, on one ledger.
struct Punishment {
  std::vector<std::uint64_t> evidence_heights;
  std::vector<std::pair<std::uint64_t, Effect>> effects;
  std::vector<Hash256> evidence_hashes;
};
Punishment punishment_on(const Ledger& l, const Address& who) {
  Punishment p;
  for (std::uint64_t h = 1; h <= l.head().height; ++h) {
    auto b = decode_block(*l.block_at(h), l.params());
    REQUIRE(b.ok());
    if (!b->evidence.empty()) p.evidence_heights.push_back(h);
    for (const auto& e : b->evidence) p.evidence_hashes.push_back(evidence_hash(e));
    for (const auto& e : b->effects)
      if (e.account == who && e.kind != Effect::Kind::kReward && e.kind != Effect::Kind::kFeeShare) p.effects.emplace_back(h, e);
  }
  return p;
}
}  // namespace

TEST_CASE("a validator that double-signs is slashed 5% and banned by the committee's blocks, once") {
  LiveCommittee c;
  c.run_until([&] { return c.min_height() >= 2; });
  const Address offender = c.chains[3]->addr(3);
  const Amount bonded = c.chains[0]->ledger->account(offender)->bonded;
  c.faulty[3] = std::make_unique<consensus::Equivocator>(vote_key(3), bft::CodecLimits{});
  auto banned = [&](std::size_t i) {
    const Validator* v = c.chains[i]->ledger->state().validator(offender);
    return v && v->status == Validator::Status::kBanned;
  };
  c.run_until([&] { return banned(0); });
  REQUIRE(banned(0));
  const std::uint64_t at_ban = c.chains[0]->ledger->head().height;
  // The offender goes on double-signing; the chain goes on finalising, and
  // its later evidence is never offered (the ledger applied the first).
  c.run_until([&] { return c.min_height() >= at_ban + 4; });
  REQUIRE(c.min_height() >= at_ban + 4);
  c.expect_agreement(at_ban + 4);
  CHECK(c.faulty[3]->forged() > 4);

  const Ledger& l = *c.chains[0]->ledger;
  const Punishment p = punishment_on(l, offender);
  REQUIRE(p.evidence_heights.size() == 1);  // applied evidence is not re-included
  REQUIRE(p.evidence_hashes.size() == 1);
  REQUIRE(p.effects.size() == 2);
  CHECK(p.effects[0].second.kind == Effect::Kind::kSlash);
  CHECK(p.effects[0].second.amount == bonded / 20);  // 5%
  CHECK(p.effects[1].second.kind == Effect::Kind::kBan);
  for (const auto& [h, e] : p.effects) {
    CHECK(h == p.evidence_heights[0]);
    CHECK(e.reason == p.evidence_hashes[0]);  // the reason is the evidence
  }
  CHECK(l.account(offender)->bonded == bonded - bonded / 20);
  CHECK(l.state().supply().burned == bonded / 20);
  for (std::size_t i = 0; i < kN; ++i) {
    CHECK(banned(i));
    CHECK(check_supply(c.chains[i]->ledger->state()) == "");
    CHECK(check_staking(c.chains[i]->ledger->state()) == "");
  }
  // Evidence of the slot being decided waits in the pools until the next
  // commit prunes it: once the offender stops, every pool empties.
  c.faulty[3].reset();
  const std::uint64_t stopped = c.min_height();
  c.run_until([&] { return c.min_height() >= stopped + 2; });
  for (std::size_t i = 0; i < kN; ++i) {
    CHECK(c.nodes[i]->evidence().size() == 0);
    if (i != 3) CHECK(c.nodes[i]->evidence().stats().pruned > 0);
  }
}
