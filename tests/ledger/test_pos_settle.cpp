// Settlement on the ledger (docs/proof-of-service.md, "Settlement on the
// ledger"): epoch 2 is audited, its client pays through an escrow, and the
// first block of epoch 4 settles it: held usage paid by score, the rest back
// to the client, report fees to the agreeing auditors, the bond of a
// provider below delta burned, reputations updated; more effects than one
// block's budget settled in slices over several blocks, alike on a second
// ledger and across a restart; and contradictions punished by block
// effects. Supply and staking invariants after every block.
#include <doctest/doctest.h>

#include <algorithm>

#include <array>

#include "ledger/pos/codec.hpp"
#include "pos_fixture.hpp"

using namespace bc;
using namespace bc::ledger;
using namespace bc::ledger::test;

namespace {

constexpr std::size_t kClient = 6;
constexpr Amount kUsage = 10'000;

void expect_invariants(const Chain& c) {
  const std::string supply = check_supply(c.ledger->state()), staking = check_staking(c.ledger->state());
  REQUIRE_MESSAGE(supply.empty(), supply);
  REQUIRE_MESSAGE(staking.empty(), staking);
}

// Epoch 2 prepared; the client opens an escrow to the offer's account and the
// provider claims kUsage of it in epoch 2.
struct Settling : PosChain {
  std::vector<std::size_t> assigned;
  Hash256 escrow;
  Hash256 offer_id;
  explicit Settling(const pos::PosParams& pos = fixture_pos()) : PosChain(pos) {
    prepare_epoch(2);
    offer_id = pos::offer_id(offer);
    assigned = drawn(2, offer);
    REQUIRE(assigned.size() == 3);
    const std::string chain = ledger->params().chain_id;
    REQUIRE(include(tx(kClient, EscrowOpen{addr(kOwner), 50'000, 1000})).ok());
    escrow = escrow_id_of(addr(kClient), nonce(kClient) - 1);
    REQUIRE(include(tx(kOwner, EscrowClaim{escrow, {sign_receipt(key(kClient), chain, escrow, kUsage)}})).ok());
    REQUIRE(epoch_now() == 2);
  }
  // The three auditors' reports, the i-th with failures[i] probes timed out.
  void send_reports(std::array<std::uint32_t, 3> failures) {
    std::vector<Tx> txs;
    for (std::size_t i = 0; i < 3; ++i) txs.push_back(tx(kClient, PosReport{report(assigned[i], 2, offer, failures[i])}, 1, nonce(kClient) + i));
    REQUIRE(include(txs).ok());
  }
  // Empty blocks, invariants after each, until the next block is the first of `epoch`.
  void advance_to(std::uint64_t epoch) {
    while (ledger->head().height + 1 < first_height_of(epoch, ledger->params())) {
      REQUIRE(include(std::vector<Tx>{}).ok());
      expect_invariants(*this);
    }
  }
  // Applies the first block of epoch 4 (it settles epoch 2) and returns its effects.
  std::vector<Effect> settle() {
    advance_to(4);
    REQUIRE(include(std::vector<Tx>{}).ok());
    expect_invariants(*this);
    auto b = decode_block(*ledger->block_at(ledger->head().height), ledger->params());
    REQUIRE(b.ok());
    return b->effects;
  }
  Hash256 usage_id() const { return pos_usage_id(2, addr(kOwner), escrow); }
};

// Settling with kSliced more escrows opened to the offer's account and
// claimed in the last block of epoch 2, and the reports {1, 1, 0} (median
// 9375) in epoch 3: 301 held entries, 602 usage effects, more than two
// blocks' settlement budget.
constexpr std::size_t kSliced = 300;
constexpr Amount kSmallUsage = 50;
struct Sliced : Settling {
  Sliced() {
    const std::string chain = ledger->params().chain_id;
    const std::uint64_t client = nonce(kClient), owner = nonce(kOwner);
    std::vector<Tx> txs;
    for (std::size_t i = 0; i < kSliced; ++i) txs.push_back(tx(kClient, EscrowOpen{addr(kOwner), 100, 1000}, 1, client + i));
    for (std::size_t i = 0; i < kSliced; ++i) {
      const Hash256 id = escrow_id_of(addr(kClient), client + i);
      txs.push_back(tx(kOwner, EscrowClaim{id, {sign_receipt(key(kClient), chain, id, kSmallUsage)}}, 1, owner + i));
    }
    REQUIRE(include(txs).ok());
    REQUIRE(ledger->state().pos_usages().size() == kSliced + 1);
    REQUIRE(epoch_now() == 3);
    send_reports({1, 1, 0});
  }
  // Blocks from the first of epoch 4 while a settlement is stored, invariants after each: their effects.
  std::vector<std::vector<Effect>> settle_sliced() {
    advance_to(4);
    std::vector<std::vector<Effect>> out;
    do {
      REQUIRE(include(std::vector<Tx>{}).ok());
      expect_invariants(*this);
      auto b = decode_block(*ledger->block_at(ledger->head().height), ledger->params());
      REQUIRE(b.ok());
      out.push_back(b->effects);
      if (const PosSettling* st = ledger->state().pos_settling()) CHECK(st->epoch == 2);
    } while (ledger->state().pos_settling() != nullptr && out.size() < 10);
    return out;
  }
};

std::size_t count(const std::vector<Effect>& effects, Effect::Kind k) {
  return static_cast<std::size_t>(std::count_if(effects.begin(), effects.end(), [k](const Effect& e) { return e.kind == k; }));
}
const Effect* find(const std::vector<Effect>& effects, Effect::Kind k) {
  for (const Effect& e : effects)
    if (e.kind == k) return &e;
  return nullptr;
}

// Applies every block of `a` to `b`, reset to a fresh ledger of the same
// genesis; each block must apply (b derives the same effects). after(h)
// runs once b holds block h.
template <typename After>
void replay_on_fresh_ledger(const Chain& a, Chain& b, After after) {
  b.ledger.reset();
  std::filesystem::remove_all(b.dir.path);
  b.tg.genesis.params = a.tg.genesis.params;
  b.reopen();
  REQUIRE(b.ledger->genesis_hash() == a.ledger->genesis_hash());
  for (std::uint64_t h = 1; h <= a.ledger->head().height; ++h) {
    const Status s = b.ledger->apply_block(*a.ledger->block_at(h));
    REQUIRE_MESSAGE(s.ok(), "height " << h << ": " << s.text());
    after(h);
  }
}

}  // namespace

TEST_CASE("pos settle: usage pay is held until the epoch's settlement, then paid by score; auditors earn the report fee") {
  Settling c;
  const ProviderOffer before = *c.ledger->state().offer(c.offer_id);
  const PosUsage* held = c.ledger->state().pos_usage(c.usage_id());
  REQUIRE(held != nullptr);
  CHECK(held->amount == kUsage);
  CHECK(held->client == c.addr(kClient));
  c.send_reports({1, 1, 0});  // scores 9375, 9375, 10000: median 9375, occasional
  const Amount provider = c.acct(PosChain::kOwner).balance, client = c.acct(kClient).balance;
  std::vector<Amount> auditors;
  for (std::size_t a : c.assigned) auditors.push_back(c.acct(a).balance);
  const Amount minted = c.ledger->state().supply().minted;

  const std::vector<Effect> effects = c.settle();
  const Amount pay = kUsage * 9375 / 10000, fee = c.params_pos().report_fee;
  CHECK(c.acct(PosChain::kOwner).balance == provider + pay);
  CHECK(c.acct(kClient).balance == client + (kUsage - pay));
  for (std::size_t i = 0; i < 3; ++i) CHECK(c.acct(c.assigned[i]).balance == auditors[i] + fee);  // all within 1000 bps of the median
  CHECK(c.ledger->state().supply().minted == minted + 3 * fee);
  CHECK(c.ledger->state().pos_usage(c.usage_id()) == nullptr);
  const ProviderOffer* after = c.ledger->state().offer(c.offer_id);
  CHECK(after->reputation_bps == (8750 * 10000 + 1250 * 9375) / 10000);
  CHECK(after->bond == before.bond);
  REQUIRE(find(effects, Effect::Kind::kOfferWarning) != nullptr);
  CHECK(find(effects, Effect::Kind::kOfferWarning)->account == c.offer_id);
  CHECK(find(effects, Effect::Kind::kUsagePay)->amount == pay);
  CHECK(find(effects, Effect::Kind::kUsageRefund)->amount == kUsage - pay);
  CHECK(count(effects, Effect::Kind::kReward) == 3);
  // The epoch's report records and commitments served their purpose.
  for (std::size_t a : c.assigned) CHECK(c.ledger->state().pos_report(pos_report_id(2, c.offer_id, PosChain::vote(a).public_key())) == nullptr);
  CHECK(c.ledger->state().pos_commit(pos_commit_id(PosChain::vote(0).public_key(), 2)) == nullptr);
}

TEST_CASE("pos settle: a provider below delta has its bond burned and its pay refunded; a disagreeing auditor earns nothing") {
  Settling c;
  c.send_reports({8, 8, 0});  // 5000, 5000, 10000: median 5000; R = 9375 < delta 9500
  const Amount provider = c.acct(PosChain::kOwner).balance, client = c.acct(kClient).balance;
  const Amount honest = c.acct(c.assigned[2]).balance, burned = c.ledger->state().supply().burned;
  const std::vector<Effect> effects = c.settle();
  const Amount slash = 50'000ull * (9500 - 9375) * 1000 / (10000ull * 10000);
  const Effect* burn = find(effects, Effect::Kind::kBurnOfferBond);
  REQUIRE(burn != nullptr);
  CHECK(burn->account == c.offer_id);
  CHECK(burn->amount == slash);
  CHECK(c.ledger->state().offer(c.offer_id)->bond == 50'000 - slash);
  CHECK(c.ledger->state().offer(c.offer_id)->reputation_bps == 9375);
  CHECK(c.ledger->state().supply().burned == burned + slash);
  CHECK(c.acct(PosChain::kOwner).balance == provider);  // unstable: nothing paid
  CHECK(c.acct(kClient).balance == client + kUsage);
  CHECK(c.acct(c.assigned[2]).balance == honest);  // 10000 is 5000 away from the median
  CHECK(count(effects, Effect::Kind::kReward) == 2);
}

TEST_CASE("pos settle: a bond withdrawn during the epoch stays slashable until the settlement") {
  Settling c;
  c.send_reports({8, 8, 8});
  REQUIRE(c.include(c.tx(PosChain::kOwner, PosWithdraw{c.offer_id})).ok());
  const Hash256 unbonding = c.ledger->state().offer(c.offer_id)->unbonding;
  const std::vector<Effect> effects = c.settle();
  const Effect* cut = find(effects, Effect::Kind::kSlashUnbonding);
  REQUIRE(cut != nullptr);  // without the release delay the bond was back before the settlement
  CHECK(cut->account == unbonding);
  const Amount slash = 50'000ull * (9500 - 9375) * 1000 / (10000ull * 10000);
  CHECK(c.ledger->state().unbonding(unbonding)->amount == 50'000 - slash);
  const Amount owner = c.acct(PosChain::kOwner).balance;
  const std::uint64_t release = c.ledger->state().unbonding(unbonding)->release_height;
  while (c.ledger->head().height < release) REQUIRE(c.include(std::vector<Tx>{}).ok());
  CHECK(c.acct(PosChain::kOwner).balance == owner + 50'000 - slash);
  expect_invariants(c);
}

TEST_CASE("pos settle: unaudited (fewer than min_reports) pays nothing and refunds the client; unheld claims pay at once") {
  Settling c;
  std::vector<Tx> one{c.tx(kClient, PosReport{c.report(c.assigned[0], 2, c.offer)})};
  REQUIRE(c.include(one).ok());
  const Amount provider = c.acct(PosChain::kOwner).balance, client = c.acct(kClient).balance;
  const std::vector<Effect> effects = c.settle();
  CHECK(c.acct(PosChain::kOwner).balance == provider);
  CHECK(c.acct(kClient).balance == client + kUsage);
  CHECK(c.ledger->state().offer(c.offer_id)->reputation_bps == 10000);
  CHECK(count(effects, Effect::Kind::kReward) == 0);
  // An account without an audited offer is paid by its claim, as before.
  const std::string chain = c.ledger->params().chain_id;
  REQUIRE(c.include(c.tx(kClient, EscrowOpen{c.addr(7), 1000, 1000})).ok());
  const Hash256 other = escrow_id_of(c.addr(kClient), c.nonce(kClient) - 1);
  const Amount seven = c.acct(7).balance;
  REQUIRE(c.include(c.tx(7, EscrowClaim{other, {sign_receipt(c.key(kClient), chain, other, 400)}})).ok());
  CHECK(c.acct(7).balance == seven + 400 - 1);
}

TEST_CASE("pos settle: two ledgers derive the same settlement; a restart mid-epoch changes nothing") {
  Settling a;
  a.send_reports({1, 8, 0});
  a.advance_to(3);
  a.reopen();  // held usage, reports and commitments are rebuilt from the store
  expect_invariants(a);
  const std::vector<Effect> effects = a.settle();
  CHECK(!effects.empty());
  // A second ledger of the same genesis accepts every block: it derives the same effects.
  Chain b(8);
  replay_on_fresh_ledger(a, b, [](std::uint64_t) {});
  CHECK(b.ledger->head().state_root == a.ledger->head().state_root);
}

TEST_CASE("pos settle: a block without the settlement's effects, or with them altered, is refused") {
  Settling c;
  c.send_reports({1, 1, 0});
  c.advance_to(4);
  c.now += 1000;
  const Ledger::Built good = c.ledger->build_block({}, c.now, c.producer);
  REQUIRE(!good.block.effects.empty());
  Block dropped = good.block;
  dropped.effects.clear();
  dropped.header.effects_root = effects_root(dropped.effects);
  sign_block(dropped, c.producer);
  expect_rejected(c, dropped, Error::kBadEffect);
  Block altered = good.block;
  altered.effects.front().amount += 1;
  altered.header.effects_root = effects_root(altered.effects);
  sign_block(altered, c.producer);
  expect_rejected(c, altered, Error::kBadEffect);
  REQUIRE(c.ledger->apply_block(good.bytes).ok());
  expect_invariants(c);
}

TEST_CASE("pos contradiction: the penalty is in the block's effects with the evidence as reason, once per block") {
  Settling c;
  const std::size_t a = c.assigned[0];
  const pos::Report first = c.report(a, 2, c.offer, 0), second = c.report(a, 2, c.offer, 5);
  REQUIRE(c.include(c.tx(kClient, PosReport{first})).ok());
  const Amount bonded = c.acct(a).bonded;
  // The contradiction and a second one for another offer in the same block: only the first is taken.
  REQUIRE(c.include(c.tx(kClient, PosReport{second})).ok());
  auto b = decode_block(*c.ledger->block_at(c.ledger->head().height), c.ledger->params());
  REQUIRE(b.ok());
  const Hash256 reason = report_evidence_hash(pos::ReportEvidence{first, second});
  REQUIRE(b->effects.size() == 2);  // no unbonding to cut: slash and ban
  CHECK(b->effects[0].kind == Effect::Kind::kSlash);
  CHECK(b->effects[0].account == c.addr(a));
  CHECK(b->effects[0].amount == bonded * c.ledger->params().evidence_slash_bps / 10000);
  CHECK(b->effects[1].kind == Effect::Kind::kBan);
  for (const Effect& e : b->effects) CHECK(e.reason == reason);
  CHECK(c.ledger->state().validator(c.addr(a))->status == Validator::Status::kBanned);
  expect_invariants(c);
}

TEST_CASE("pos contradiction: a second contradiction of one auditor in the same block is refused as banned") {
  struct TwoOffers : PosChain {
    pos::Offer other = make_offer(2);
    TwoOffers() {
      REQUIRE(include(tx(kOwner, PosOffer{other})).ok());
      prepare_epoch(2);
    }
  } c;
  std::size_t a = PosChain::kValidators;  // an auditor drawn for both offers (k = 3 of 4: at least two are)
  for (std::size_t i : c.drawn(2, c.offer))
    for (std::size_t j : c.drawn(2, c.other)) a = i == j ? i : a;
  REQUIRE(a < PosChain::kValidators);
  REQUIRE(c.include(std::vector<Tx>{c.tx(kClient, PosReport{c.report(a, 2, c.offer, 0)}),
                                     c.tx(kClient, PosReport{c.report(a, 2, c.other, 0)}, 1, c.nonce(kClient) + 1)})
              .ok());
  const Tx x = c.tx(kClient, PosReport{c.report(a, 2, c.offer, 5)});
  const Tx y = c.tx(kClient, PosReport{c.report(a, 2, c.other, 5)}, 1, c.nonce(kClient) + 1);
  c.now += 1000;
  auto built = c.ledger->build_block({&x, &y}, c.now, c.producer);
  REQUIRE(built.dropped.size() == 1);
  CHECK(built.dropped[0].second.code == Error::kBanned);
  CHECK(built.dropped[0].second.message.find("by this block") != std::string::npos);
  REQUIRE(c.ledger->apply_block(built.bytes).ok());
  CHECK(count(built.block.effects, Effect::Kind::kBan) == 1);
  expect_invariants(c);
}

TEST_CASE("pos settle: more effects than one block's budget settle in slices over several blocks, with the totals of one settlement") {
  Sliced c;
  const Amount provider = c.acct(PosChain::kOwner).balance, client = c.acct(kClient).balance, minted = c.ledger->state().supply().minted;
  std::vector<Amount> auditors;
  for (std::size_t a : c.assigned) auditors.push_back(c.acct(a).balance);
  // A validator's unbonding falls due inside the settlement: it waits for the end.
  // (The validator no auditor draw picked, so no report fee moves its balance.)
  std::size_t idle = 0;
  while (std::find(c.assigned.begin(), c.assigned.end(), idle) != c.assigned.end()) ++idle;
  REQUIRE(idle < PosChain::kValidators);
  while (c.ledger->head().height + 3 < first_height_of(4, c.ledger->params())) REQUIRE(c.include(std::vector<Tx>{}).ok());
  REQUIRE(c.include(c.tx(idle, Unbond{100})).ok());  // due at first_height_of(4) + 1
  const Amount validator = c.acct(idle).balance;

  const std::vector<std::vector<Effect>> slices = c.settle_sliced();
  const std::size_t budget = settle_effects_per_block(c.ledger->params());
  REQUIRE(budget == 256);
  REQUIRE(slices.size() == 3);  // 4 + 602 effects, 256 a block
  CHECK(slices[0].size() == budget);
  CHECK(slices[1].size() == budget);
  std::size_t pays = 0, refunds = 0, rewards = 0;
  for (const auto& e : slices) {
    CHECK(e.size() <= budget);
    pays += count(e, Effect::Kind::kUsagePay), refunds += count(e, Effect::Kind::kUsageRefund), rewards += count(e, Effect::Kind::kReward);
  }
  CHECK(pays == kSliced + 1);
  CHECK(refunds == kSliced + 1);
  CHECK(rewards == 3);
  const Amount small_pay = kSmallUsage * 9375 / 10000, pay = kUsage * 9375 / 10000;
  CHECK(c.acct(PosChain::kOwner).balance == provider + pay + kSliced * small_pay);
  CHECK(c.acct(kClient).balance == client + (kUsage - pay) + kSliced * (kSmallUsage - small_pay));
  const Amount fee = c.params_pos().report_fee;
  for (std::size_t i = 0; i < 3; ++i) CHECK(c.acct(c.assigned[i]).balance == auditors[i] + fee);
  CHECK(c.ledger->state().supply().minted == minted + 3 * fee);
  CHECK(c.ledger->state().pos_usages().empty());
  CHECK(c.ledger->state().offer(c.offer_id)->pay_scale_bps == 9375);
  for (std::size_t a : c.assigned) CHECK(c.ledger->state().pos_report(pos_report_id(2, c.offer_id, PosChain::vote(a).public_key())) == nullptr);
  // Due at the second settling block, released in the first block after the settlement.
  CHECK(c.acct(idle).balance == validator);
  REQUIRE(c.include(std::vector<Tx>{}).ok());
  CHECK(c.acct(idle).balance == validator + 100);
  expect_invariants(c);
}

TEST_CASE("pos settle: a sliced settlement is the same on a second ledger and across a restart in its middle") {
  Sliced a;
  a.advance_to(4);
  REQUIRE(a.include(std::vector<Tx>{}).ok());
  const PosSettling* st = a.ledger->state().pos_settling();
  REQUIRE(st != nullptr);
  const PosSettling before = *st;
  CHECK(before.phase == PosSettling::Phase::kUsage);
  a.reopen();  // the settlement in progress is rebuilt from the store
  REQUIRE(a.ledger->state().pos_settling() != nullptr);
  CHECK(*a.ledger->state().pos_settling() == before);
  const std::size_t left = a.ledger->state().pos_usages().size();
  CHECK(left == kSliced + 1 - (settle_effects_per_block(a.ledger->params()) - 4) / 2);
  while (a.ledger->state().pos_settling() != nullptr) {
    REQUIRE(a.include(std::vector<Tx>{}).ok());
    expect_invariants(a);
  }
  CHECK(a.ledger->state().pos_usages().empty());
  Chain b(8);
  replay_on_fresh_ledger(a, b, [&](std::uint64_t h) {
    if (h == first_height_of(4, a.ledger->params())) CHECK(*b.ledger->state().pos_settling() == before);
  });
  CHECK(b.ledger->head().state_root == a.ledger->head().state_root);
  expect_invariants(b);
}

namespace {

// Settling with a hold-back of 4 epochs at 50% and no reputation smoothing
// (R = S, so a grade depends on its own epoch only): epoch 2's pay is half
// paid at its settlement and half deferred to epoch 6. Epochs 4 and 6 are
// audited too (`epoch4_failures` probes of each report failing in 4, none in 6).
struct Holdback : Settling {
  static pos::PosParams params() {
    pos::PosParams p;
    p.holdback_epochs = 4;
    p.holdback_bps = 5000;
    p.reputation_lambda_bps = 0;
    return p;
  }
  std::uint32_t epoch4_failures;
  explicit Holdback(std::uint32_t failures_in_4) : Settling(params()), epoch4_failures(failures_in_4) {
    std::vector<Tx> txs;
    for (std::size_t i = 0; i < kValidators; ++i) txs.push_back(tx(i, commit(i, 4)));
    for (std::size_t i = 0; i < kValidators; ++i) txs.push_back(tx(i, commit(i, 6), 1, nonce(i) + 1));
    REQUIRE(include(txs).ok());
    send_reports({0, 0, 0});
  }
  void reveal_for(std::uint64_t epoch) {
    run_to_epoch(epoch - 1);
    std::vector<Tx> txs;
    for (std::size_t i = 0; i < kValidators; ++i) txs.push_back(tx(i, reveal(i, epoch)));
    REQUIRE(include(txs).ok());
  }
  // The first block of `epoch` (it settles epoch - 2); returns its effects.
  std::vector<Effect> enter(std::uint64_t epoch) {
    advance_to(epoch);
    REQUIRE(include(std::vector<Tx>{}).ok());
    expect_invariants(*this);
    auto b = decode_block(*ledger->block_at(ledger->head().height), ledger->params());
    REQUIRE(b.ok());
    return b->effects;
  }
  // enter(epoch), then the reports for `epoch` of its drawn auditors.
  std::vector<Effect> enter_and_report(std::uint64_t epoch, std::uint32_t failures) {
    std::vector<Effect> effects = enter(epoch);
    std::vector<Tx> txs;
    constexpr std::size_t kCourier = 7;  // carries the reports (any account may), so the client's balance moves only by pay
    for (std::size_t a : drawn(epoch, offer)) txs.push_back(tx(kCourier, PosReport{report(a, epoch, offer, failures)}, 1, nonce(kCourier) + txs.size()));
    REQUIRE(include(txs).ok());
    return effects;
  }
  Hash256 deferred_id() const { return pos_deferred_usage_id(usage_id()); }
};

}  // namespace

TEST_CASE("pos hold-back: a new provider gets half its pay at the settlement and the held-back half audits later") {
  Holdback c(0);
  const Amount provider = c.acct(PosChain::kOwner).balance, client = c.acct(kClient).balance;
  c.reveal_for(4);
  const std::vector<Effect> at4 = c.enter_and_report(4, 0);  // settles epoch 2
  REQUIRE(find(at4, Effect::Kind::kUsageDefer) != nullptr);
  CHECK(find(at4, Effect::Kind::kUsageDefer)->amount == kUsage / 2);
  CHECK(find(at4, Effect::Kind::kUsagePay)->amount == kUsage / 2);
  CHECK(c.acct(PosChain::kOwner).balance == provider + kUsage / 2);
  const PosUsage* deferred = c.ledger->state().pos_usage(c.deferred_id());
  REQUIRE(deferred != nullptr);
  CHECK(deferred->epoch == 6);
  CHECK(deferred->deferred_from == std::optional<std::uint64_t>(2));
  CHECK(deferred->amount == kUsage / 2);

  c.reveal_for(6);
  c.enter_and_report(6, 0);
  const std::vector<Effect> at8 = c.enter(8);  // settles epoch 6: the deferred half, audited in 6
  const Effect* pay = find(at8, Effect::Kind::kUsagePay);
  REQUIRE(pay != nullptr);
  CHECK(pay->account == c.deferred_id());
  CHECK(pay->amount == kUsage / 2);
  CHECK(find(at8, Effect::Kind::kUsageDefer) == nullptr);  // deferred once, never again
  CHECK(c.acct(PosChain::kOwner).balance == provider + kUsage);
  CHECK(c.acct(kClient).balance == client);
  CHECK(c.ledger->state().pos_usage(c.deferred_id()) == nullptr);
}

TEST_CASE("pos hold-back: a provider penalised after the pay was earned forfeits the held-back half to its client") {
  Holdback c(8);
  const Amount provider = c.acct(PosChain::kOwner).balance, client = c.acct(kClient).balance;
  c.reveal_for(4);
  c.enter_and_report(4, 8);  // epoch 4: every report scores 5000, below delta
  c.reveal_for(6);
  const std::vector<Effect> at6 = c.enter_and_report(6, 0);  // settles epoch 4: unstable
  REQUIRE(find(at6, Effect::Kind::kBurnOfferBond) != nullptr);
  CHECK(c.ledger->state().offer(c.offer_id)->penalized_in == std::optional<std::uint64_t>(4));
  const std::vector<Effect> at8 = c.enter(8);  // settles epoch 6: perfect, but the hold-back is forfeit
  CHECK(c.ledger->state().offer(c.offer_id)->pay_scale_bps == 10000);
  const Effect* refund = find(at8, Effect::Kind::kUsageRefund);
  REQUIRE(refund != nullptr);
  CHECK(refund->account == c.deferred_id());
  CHECK(refund->amount == kUsage / 2);
  CHECK(find(at8, Effect::Kind::kUsagePay) == nullptr);
  CHECK(c.acct(PosChain::kOwner).balance == provider + kUsage / 2);
  CHECK(c.acct(kClient).balance == client + kUsage / 2);
}

TEST_CASE("pos hold-back: a deferral the rules did not derive is refused") {
  Holdback c(0);
  c.reveal_for(4);
  c.advance_to(4);
  c.now += 1000;
  const Ledger::Built good = c.ledger->build_block({}, c.now, c.producer);
  Block all_deferred = good.block;  // the whole pay held back instead of half
  for (Effect& e : all_deferred.effects)
    if (e.kind == Effect::Kind::kUsagePay) e.kind = Effect::Kind::kUsageDefer;
  all_deferred.header.effects_root = effects_root(all_deferred.effects);
  sign_block(all_deferred, c.producer);
  expect_rejected(c, all_deferred, Error::kBadEffect);
  REQUIRE(c.ledger->apply_block(good.bytes).ok());
  expect_invariants(c);
}

// Epochs 2.. audited in turn; validator kLazy reports "all passed" while
// the others see half the probes fail, until it has three disagreeing
// reports settled; its fourth report agrees, and still earns nothing.
TEST_CASE("pos auditor fees: an auditor that disagreed in more than half of its reports earns nothing, even for an agreeing one") {
  PosChain c;
  constexpr std::size_t kLazy = 3, kSender = 6;
  constexpr std::uint64_t kFirst = 2, kLast = 10;  // commitments reach kPosCommitLead + 2 epochs ahead
  std::vector<Tx> commits;
  for (std::size_t i = 0; i < PosChain::kValidators; ++i)
    for (std::uint64_t e = kFirst; e <= kLast; ++e) commits.push_back(c.tx(i, c.commit(i, e), 1, c.nonce(i) + (e - kFirst)));
  REQUIRE(c.include(commits).ok());
  const Address lazy = c.addr(kLazy);
  std::size_t lazy_reports = 0;
  std::uint64_t e = kFirst;
  for (; e <= kLast && lazy_reports < 4; ++e) {
    c.run_to_epoch(e - 1);
    std::vector<Tx> reveals;
    for (std::size_t i = 0; i < PosChain::kValidators; ++i) reveals.push_back(c.tx(i, c.reveal(i, e)));
    REQUIRE(c.include(reveals).ok());
    c.run_to_epoch(e);
    REQUIRE(c.include(std::vector<Tx>{}).ok());  // writes the seed of e
    const std::vector<std::size_t> drawn = c.drawn(e, c.offer);
    const bool lazy_drawn = std::find(drawn.begin(), drawn.end(), kLazy) != drawn.end();
    if (lazy_drawn) ++lazy_reports;
    std::vector<Tx> reports;
    for (std::size_t i : drawn) {
      const std::uint32_t failures = i == kLazy && lazy_reports < 4 ? 0 : 8;  // 10000 against a median of 5000, then agreeing
      reports.push_back(c.tx(kSender, PosReport{c.report(i, e, c.offer, failures)}, 1, c.nonce(kSender) + reports.size()));
    }
    REQUIRE(c.include(reports).ok());
    expect_invariants(c);
  }
  REQUIRE_MESSAGE(lazy_reports == 4, "validator " << kLazy << " drawn only " << lazy_reports << " times in epochs " << kFirst << ".." << kLast);
  const std::uint64_t agreed_in = e - 1;
  c.run_to_epoch(agreed_in + 2);
  const Amount before = c.acct(kLazy).balance;
  REQUIRE(c.include(std::vector<Tx>{}).ok());  // settles agreed_in
  expect_invariants(c);
  auto b = decode_block(*c.ledger->block_at(c.ledger->head().height), c.ledger->params());
  REQUIRE(b.ok());
  std::size_t fees = 0;
  for (const Effect& x : b->effects) {
    if (x.kind != Effect::Kind::kReward) continue;
    CHECK(x.account != lazy);
    CHECK(x.amount == c.params_pos().report_fee);
    ++fees;
  }
  CHECK(fees == 2);  // the two other agreeing auditors
  CHECK(c.acct(kLazy).balance == before);
  const Validator* v = c.ledger->state().validator(lazy);
  REQUIRE(v != nullptr);
  CHECK(v->audit_record.reports == 4);
  CHECK(pos::disagreements(v->audit_record) == 3);
  CHECK(pos::withholds_fees(v->audit_record));
}
