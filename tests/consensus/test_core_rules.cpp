// BftCore driven by hand-made messages from the other validators: the lock
// rules (22, 28, 36), invalid values, decisions with certificates, restart
// from the durable writes, evidence and counted drops.
#include <doctest/doctest.h>

#include <map>

#include "consensus/bft/core.hpp"

using namespace bc;
using namespace bc::bft;

namespace {

class FakeApp final : public Application {
 public:
  explicit FakeApp(ValidatorSet set) : set_(std::move(set)) {}
  std::optional<ValidatorSet> validators(std::uint64_t) override { return set_; }
  Value propose_value(std::uint64_t height, TimeMs) override { return value("mine"); }
  bool valid_value(std::uint64_t, const Value& v) override {
    return sha256(v.bytes) == v.hash && !v.bytes.empty() && v.bytes[0] != 'X';
  }
  std::optional<CommitCertificate> certificate(std::uint64_t) override { return std::nullopt; }
  static Value value(const std::string& s) {
    Value v{{}, Bytes(s.begin(), s.end())};
    v.hash = sha256(v.bytes);
    return v;
  }

 private:
  ValidatorSet set_;
};

constexpr TimeMs kStart = 1'000'000;
constexpr PeerId kPeer = 7;

struct Harness {
  std::vector<KeyPair> keys;
  std::optional<ValidatorSet> set;
  std::optional<FakeApp> app;
  std::unique_ptr<BftCore> core;
  std::map<std::string, Bytes> store;
  BftOptions options;
  std::size_t me = 0;
  TimeMs now = kStart;
  std::vector<Message> sent;  // what the core sent, decoded, in order

  Harness() {
    std::vector<Validator> members;
    for (int i = 0; i < 4; ++i) {
      std::array<std::uint8_t, 32> secret{};
      secret[0] = 2;
      secret[31] = static_cast<std::uint8_t>(i + 1);
      keys.push_back(*KeyPair::from_secret(secret));
      members.push_back({keys.back().public_key(), 1, 0});
    }
    set = *ValidatorSet::genesis(members);
    options.chain_id = sha256(as_bytes("rules"));
    // "me" is none of the proposers of rounds 0..2, so every proposal is the test's.
    for (std::size_t i = 0; i < 4; ++i) {
      bool proposes = false;
      for (std::uint32_t r = 0; r < 3; ++r) proposes |= set->proposer_for_round(r) == keys[i].public_key();
      if (!proposes) me = i;
    }
    REQUIRE_FALSE(set->proposer_for_round(0) == keys[me].public_key());
    app.emplace(*set);
    boot();
  }

  void boot() {
    Recovery r;
    if (store.count(std::string(kSignerKey))) r.signer_record = store[std::string(kSignerKey)];
    if (store.count(std::string(kDecidedKey))) r.decided_record = store[std::string(kDecidedKey)];
    auto c = BftCore::create(options, *app, keys[me], r);
    REQUIRE(c.ok());
    core = std::move(*c);
    Outbox out;
    core->start(now, out);
    take(out);
    core->on_peer_up(kPeer, Endpoint{}, true, now, out);
    take(out);
  }

  void take(Outbox& out) {
    for (const auto& w : out.writes)
      for (const auto& op : w.ops) store[op.key] = *op.value;
    for (const auto& f : out.frames) {
      auto m = decode(f.payload, CodecLimits{});
      REQUIRE(m.ok());
      sent.push_back(*m);
    }
    out.clear();
  }

  std::size_t other(int k) const {  // the k-th validator that is not me
    std::size_t i = 0;
    for (int seen = -1;; ++i) {
      if (i != me && ++seen == k) return i;
    }
  }
  std::size_t proposer(std::uint32_t round) const {
    for (std::size_t i = 0; i < 4; ++i)
      if (set->proposer_for_round(round) == keys[i].public_key()) return i;
    FAIL("no proposer");
    return 0;
  }

  Vote vote(std::size_t who, VoteType type, std::uint32_t round, VoteValue value, std::uint64_t height = 1) {
    Vote v{options.chain_id, type, height, round, value, {}, {}};
    sign_vote(v, keys[who]);
    return v;
  }
  ProposalMsg proposal(std::uint32_t round, const Value& v, std::int32_t pol = -1, std::vector<Vote> proof = {},
                       std::uint64_t height = 1) {
    ProposalMsg m{Proposal{options.chain_id, height, round, pol, v.hash, {}, {}}, v.bytes, std::move(proof)};
    sign_proposal(m.proposal, keys[proposer(round)]);
    return m;
  }
  void feed(const Message& m) { feed_bytes(encode(m)); }
  void feed_bytes(const Bytes& b) {
    Outbox out;
    core->on_frame(kPeer, b, now, out);
    take(out);
  }
  void advance(TimeMs ms) {
    now += ms;
    Outbox out;
    core->on_tick(now, out);
    take(out);
  }
  // The last vote of this node of type in round, if it sent one.
  std::optional<Vote> my_vote(VoteType type, std::uint32_t round) const {
    std::optional<Vote> found;
    for (const auto& m : sent) {
      if (auto* v = std::get_if<Vote>(&m); v && v->validator == keys[me].public_key() && v->type == type &&
                                           v->round == round)
        found = *v;
    }
    return found;
  }
};

}  // namespace

TEST_SUITE("bft_core_rules") {
  TEST_CASE("lock on a polka, keep the lock against a fresh value, follow a later proof of lock") {
    Harness h;
    const Value a = FakeApp::value("a"), b = FakeApp::value("b"), c = FakeApp::value("c");
    h.feed(h.proposal(0, a));  // rule 22: not locked, valid -> prevote a
    REQUIRE(h.my_vote(VoteType::kPrevote, 0));
    CHECK(h.my_vote(VoteType::kPrevote, 0)->value == VoteValue(a.hash));
    CHECK(h.store.count(std::string(kSignerKey)) == 1);
    h.feed(h.vote(h.other(0), VoteType::kPrevote, 0, a.hash));
    CHECK_FALSE(h.my_vote(VoteType::kPrecommit, 0));
    h.feed(h.vote(h.other(1), VoteType::kPrevote, 0, a.hash));  // 3 of 4: rule 36
    REQUIRE(h.my_vote(VoteType::kPrecommit, 0));
    CHECK(h.my_vote(VoteType::kPrecommit, 0)->value == VoteValue(a.hash));
    CHECK(h.core->lock().locked_round == 0);
    // +2/3 precommits of any kind, then timeout_precommit: round 1.
    h.feed(h.vote(h.other(0), VoteType::kPrecommit, 0, std::nullopt));
    h.feed(h.vote(h.other(1), VoteType::kPrecommit, 0, std::nullopt));
    h.advance(h.options.precommit_ms);
    REQUIRE(h.core->round() == 1);
    h.feed(h.proposal(1, c));  // rule 22: locked on a -> prevote nil
    REQUIRE(h.my_vote(VoteType::kPrevote, 1));
    CHECK(h.my_vote(VoteType::kPrevote, 1)->value == VoteValue{});
    // Round 2 re-proposes b with a proof of lock from round 1 (3 prevotes).
    std::vector<Vote> proof;
    for (int k = 0; k < 3; ++k) proof.push_back(h.vote(h.other(k), VoteType::kPrevote, 1, b.hash));
    h.feed(h.proposal(2, b, 1, proof));
    CHECK(h.core->round() == 1);  // +1/3 not yet in round 2
    std::size_t skipper = h.other(0) == h.proposer(2) ? h.other(1) : h.other(0);
    h.feed(h.vote(skipper, VoteType::kPrevote, 2, b.hash));  // rule 55: +1/3 in round 2
    REQUIRE(h.core->round() == 2);
    REQUIRE(h.my_vote(VoteType::kPrevote, 2));  // rule 28: locked_round 0 <= pol_round 1
    CHECK(h.my_vote(VoteType::kPrevote, 2)->value == VoteValue(b.hash));
  }

  TEST_CASE("an invalid value gets a nil prevote") {
    Harness h;
    h.feed(h.proposal(0, FakeApp::value("X-invalid")));
    REQUIRE(h.my_vote(VoteType::kPrevote, 0));
    CHECK(h.my_vote(VoteType::kPrevote, 0)->value == VoteValue{});
  }

  TEST_CASE("+2/3 precommits decide, with a certificate, durably; a restart resumes at the next height") {
    Harness h;
    const Value a = FakeApp::value("a");
    h.feed(h.proposal(0, a));
    for (int k = 0; k < 2; ++k) h.feed(h.vote(h.other(k), VoteType::kPrecommit, 0, a.hash));
    CHECK_FALSE(h.core->poll_event().has_value());
    h.feed(h.vote(h.other(2), VoteType::kPrecommit, 0, a.hash));
    auto e = h.core->poll_event();
    REQUIRE(e.has_value());
    const auto* d = std::get_if<Decided>(&*e);
    REQUIRE(d != nullptr);
    CHECK(d->height == 1);
    CHECK(d->value == a);
    CHECK(verify_certificate(d->certificate, h.options.chain_id, *h.set).ok());
    CHECK(h.store.count(std::string(kDecidedKey)) == 1);
    h.advance(h.options.commit_ms);
    CHECK(h.core->height() == 2);
    h.boot();  // a restart from the store
    CHECK(h.core->height() == 2);
    CHECK(h.core->round() == 0);
  }

  TEST_CASE("a proposal and votes of the next height that arrive during the commit pause are handled when it starts") {
    Harness h;
    const Value a = FakeApp::value("a"), b = FakeApp::value("b");
    h.feed(h.proposal(0, a));
    for (int k = 0; k < 3; ++k) h.feed(h.vote(h.other(k), VoteType::kPrecommit, 0, a.hash));
    REQUIRE(h.core->poll_event().has_value());  // decided height 1; timeout_commit runs
    REQUIRE(h.core->height() == 1);
    // A peer that committed first already proposes and prevotes height 2.
    h.feed(h.proposal(0, b, -1, {}, 2));
    h.feed(h.vote(h.other(0), VoteType::kPrevote, 0, b.hash, 2));
    CHECK(h.core->stats().held == 2);
    for (int k = 0; k < 10; ++k) h.feed(h.vote(h.other(0), VoteType::kPrevote, 0, b.hash, 2));  // one peer's slots are bounded
    CHECK(h.core->stats().held == h.core->kHeldVotesPerPeer + 1);
    h.advance(h.options.commit_ms);
    REQUIRE(h.core->height() == 2);
    // Without waiting for the proposer's gossip: this node prevotes b at once.
    std::optional<Vote> prevote;
    for (const auto& m : h.sent)
      if (auto* v = std::get_if<Vote>(&m); v && v->height == 2 && v->validator == h.keys[h.me].public_key()) prevote = *v;
    REQUIRE(prevote.has_value());
    CHECK(prevote->type == VoteType::kPrevote);
    CHECK(prevote->value == VoteValue(b.hash));
    // The held prevote counts like any other once the height starts: with
    // this node's own it makes 2 of 4; a third completes +2/3 and this node
    // precommits.
    const auto precommitted = [&] {
      for (const auto& m : h.sent)
        if (auto* v = std::get_if<Vote>(&m); v && v->height == 2 && v->type == VoteType::kPrecommit) return true;
      return false;
    };
    CHECK_FALSE(precommitted());
    h.feed(h.vote(h.other(1), VoteType::kPrevote, 0, b.hash, 2));
    CHECK(precommitted());
  }

  TEST_CASE("a restart after a precommit keeps the lock and re-sends the same vote, never another") {
    Harness h;
    const Value a = FakeApp::value("a");
    h.feed(h.proposal(0, a));
    h.feed(h.vote(h.other(0), VoteType::kPrevote, 0, a.hash));
    h.feed(h.vote(h.other(1), VoteType::kPrevote, 0, a.hash));
    const Vote precommit = *h.my_vote(VoteType::kPrecommit, 0);
    h.sent.clear();
    h.boot();  // all memory lost but the store
    CHECK(h.core->lock().locked_round == 0);
    REQUIRE(h.core->lock().locked_value.has_value());
    CHECK(h.core->lock().locked_value->hash == a.hash);
    CHECK(h.core->step() == Step::kPrecommit);
    h.advance(h.options.gossip_ms);
    REQUIRE(h.my_vote(VoteType::kPrecommit, 0));
    CHECK(*h.my_vote(VoteType::kPrecommit, 0) == precommit);  // the very same signature: re-sent, not re-signed
    // Round 1 with a fresh value: the restored lock makes it prevote nil.
    h.feed(h.vote(h.other(0), VoteType::kPrecommit, 0, std::nullopt));
    h.feed(h.vote(h.other(1), VoteType::kPrecommit, 0, std::nullopt));
    h.advance(h.options.precommit_ms);
    REQUIRE(h.core->round() == 1);
    h.feed(h.proposal(1, FakeApp::value("fresh")));
    REQUIRE(h.my_vote(VoteType::kPrevote, 1));
    CHECK(h.my_vote(VoteType::kPrevote, 1)->value == VoteValue{});
  }

  TEST_CASE("a validator restarted while locked re-proposes its value with the proof of lock") {
    // Without the proof its re-proposal convinces nobody, and where the
    // others need its power to reach +2/3 the height never ends.
    Harness h;
    const Value a = FakeApp::value("a");
    h.feed(h.proposal(0, a));
    h.feed(h.vote(h.other(0), VoteType::kPrevote, 0, a.hash));
    h.feed(h.vote(h.other(1), VoteType::kPrevote, 0, a.hash));  // rule 36: locked on a in round 0
    REQUIRE(h.core->lock().locked_round == 0);
    h.boot();  // all memory lost but the store: the prevotes of round 0 too
    std::uint32_t mine = 3;
    while (h.proposer(mine) != h.me && mine < 40) ++mine;
    REQUIRE(h.proposer(mine) == h.me);
    h.sent.clear();
    for (int k = 0; k < 2; ++k) h.feed(h.vote(h.other(k), VoteType::kPrevote, mine, std::nullopt));  // rule 55
    REQUIRE(h.core->round() == mine);
    const ProposalMsg* sent = nullptr;
    for (const auto& m : h.sent)
      if (auto* p = std::get_if<ProposalMsg>(&m); p && p->proposal.round == mine) sent = p;
    REQUIRE(sent != nullptr);
    CHECK(sent->proposal.pol_round == 0);
    CHECK(sent->proposal.value_hash == a.hash);
    std::int64_t power = 0;
    for (const Vote& v : sent->pol_prevotes) {
      CHECK(verify_vote(v, *h.set).ok());
      CHECK((v.type == VoteType::kPrevote && v.round == 0 && v.value == VoteValue(a.hash)));
      power += h.set->power_of(*h.set->index_of(v.validator));
    }
    CHECK(h.set->two_thirds(power));
  }

  TEST_CASE("an equivocation becomes evidence, an event and a relayed message") {
    Harness h;
    const Value a = FakeApp::value("a");
    h.feed(h.vote(h.other(0), VoteType::kPrevote, 0, a.hash));
    h.sent.clear();
    h.feed(h.vote(h.other(0), VoteType::kPrevote, 0, std::nullopt));
    REQUIRE(h.core->evidence().size() == 1);
    auto e = h.core->poll_event();
    REQUIRE(e.has_value());
    CHECK(std::holds_alternative<EvidenceFound>(*e));
    REQUIRE(h.sent.size() == 1);
    CHECK(std::holds_alternative<DuplicateVoteEvidence>(h.sent[0]));
    h.feed(h.vote(h.other(0), VoteType::kPrevote, 0, FakeApp::value("b").hash));
    CHECK(h.core->evidence().size() == 1);  // one per validator and slot
  }

  TEST_CASE("bad messages are dropped and counted by reason") {
    Harness h;
    h.feed_bytes(Bytes{1, 2, 3});
    CHECK(h.core->stats().drops.at("malformed") == 1);
    Vote stranger{h.options.chain_id, VoteType::kPrevote, 1, 0, std::nullopt, {}, {}};
    sign_vote(stranger, KeyPair::generate());
    h.feed(stranger);
    CHECK(h.core->stats().drops.at("unknown_validator") == 1);
    Vote forged = h.vote(h.other(0), VoteType::kPrevote, 0, std::nullopt);
    forged.signature.bytes[5] ^= 1;
    h.feed(forged);
    CHECK(h.core->stats().drops.at("bad_signature") == 1);
    ProposalMsg wrong = h.proposal(0, FakeApp::value("a"));
    sign_proposal(wrong.proposal, h.keys[h.proposer(1)]);
    if (h.proposer(1) != h.proposer(0)) {
      h.feed(wrong);
      CHECK(h.core->stats().drops.at("wrong_proposer") == 1);
    }
    Vote other_chain = h.vote(h.other(0), VoteType::kPrevote, 0, std::nullopt);
    other_chain.chain_id = sha256(as_bytes("elsewhere"));
    h.feed(other_chain);
    CHECK(h.core->stats().drops.at("wrong_chain") == 1);
    // A round number far ahead is not worth finding its proposer for (that
    // costs validators x round steps): counted and dropped, at once.
    ProposalMsg far{Proposal{h.options.chain_id, 1, 4'000'000'000u, -1, FakeApp::value("a").hash, {}, {}},
                    FakeApp::value("a").bytes, {}};
    sign_proposal(far.proposal, h.keys[h.other(0)]);
    const auto future = h.core->stats().future;
    h.feed(far);
    CHECK(h.core->stats().future == future + 1);
    CHECK_FALSE(h.my_vote(VoteType::kPrevote, 0).has_value());  // nothing of it moved the round
  }
}
