// A certified chain under random staking traffic, absent signers and double
// signs: the supply and staking invariants hold after every block, every
// offence ends in a ban, and a reopen rebuilds the same state.
#include <doctest/doctest.h>

#include "cert_fixture.hpp"
#include "ledger/invariants.hpp"

using namespace bc;
using namespace bc::ledger;
using namespace bc::ledger::test;

namespace {

constexpr std::size_t kAccounts = 10, kValidators = 6;

// All members but one random one, when the rest still hold more than 2/3.
std::vector<XOnlyPubKey> random_signers(const Committee& set, Rng& rng) {
  std::vector<XOnlyPubKey> all;
  for (const auto& m : set.members) all.push_back(m.consensus_key);
  if (all.empty() || rng.uniform(3) == 0) return all;
  const std::size_t skip = rng.uniform(all.size());
  if (3 * (total_power(set) - set.members[skip].power) <= 2 * total_power(set)) return all;
  all.erase(all.begin() + static_cast<std::ptrdiff_t>(skip));
  return all;
}

Tx random_tx(CertChain& c, Rng& rng) {
  const std::size_t who = rng.uniform(kAccounts);
  switch (rng.uniform(5)) {
    case 0: return c.tx(who, Transfer{c.addr(rng.uniform(kAccounts)), 1 + rng.uniform(50)});
    case 1: return c.tx(who, Bond{1 + rng.uniform(200)});
    case 2: return c.tx(who, Unbond{1 + rng.uniform(100)});
    case 3: return c.tx(who, bond_with_key(1 + rng.uniform(100), vote_key(who), c.ledger->params().chain_id, c.addr(who)));
    default: return c.tx(who, Unjail{});
  }
}

// A double sign at the parent's height by a random member of its set.
std::vector<DuplicateVoteEvidence> random_evidence(CertChain& c, Rng& rng) {
  const std::uint64_t h = c.ledger->head().height;
  if (h == 0 || rng.uniform(8) != 0) return {};
  const Committee& set = *c.ledger->committee_for(h);
  if (set.members.empty()) return {};
  const KeyPair& k = c.key_of(set.members[rng.uniform(set.members.size())].consensus_key);
  VoteRecord a{VoteKind::kPrevote, h, static_cast<std::uint32_t>(rng.uniform(3)), Hash256{}, {}, {}};
  a.value->bytes[0] = 1;
  VoteRecord b = a;
  b.value.reset();
  return {DuplicateVoteEvidence{sign_vote(k, c.ledger->genesis_hash(), a), sign_vote(k, c.ledger->genesis_hash(), b)}};
}

}  // namespace

TEST_CASE("random staking traffic on a certified chain keeps every invariant after every block") {
  CertChain c(kAccounts, kValidators, 1000, [](Genesis& g) {
    g.params.epoch_length = 5;
    g.params.downtime_window = 6;
    g.params.downtime_jail_blocks = 4;
    g.params.downtime_slash_bps = 100;
    g.params.block_reward = 25;
    g.params.unbonding_delay = 7;
    g.params.max_validators = 5;
  });
  Rng rng(99);
  std::size_t offences = 0, bans_seen = 0, effects = 0;
  for (int block = 0; block < 80; ++block) {
    std::vector<Tx> txs;
    for (std::size_t i = 0, n = rng.uniform(4); i < n; ++i) txs.push_back(random_tx(c, rng));
    auto evidence = random_evidence(c, rng);
    const std::uint64_t next = c.ledger->head().height + 1;
    const Committee set = *c.ledger->committee_for(next);
    if (set.members.empty()) break;  // everyone left: the chain halts, as a BFT chain must
    auto built = c.step(txs, random_signers(set, rng), evidence, set.members[rng.uniform(set.members.size())].consensus_key);
    offences += built.block.evidence.size();
    effects += built.block.effects.size();
    for (const Effect& e : built.block.effects) bans_seen += e.kind == Effect::Kind::kBan;
    REQUIRE(check_supply(c.ledger->state()).empty());
    REQUIRE(check_staking(c.ledger->state()).empty());
  }
  MESSAGE("height " << c.ledger->head().height << ", " << offences << " offences, " << effects << " effects");
  CHECK(offences > 0);
  CHECK(bans_seen == offences);
  CHECK(c.ledger->head().height >= 20);
  const Head h = c.ledger->head();
  c.reopen();
  CHECK(c.ledger->head().hash == h.hash);
  CHECK(c.ledger->computed_root() == h.state_root);
}
