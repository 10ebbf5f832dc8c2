// A certified chain for the ledger tests: a genesis with validators, blocks
// proposed by a member and certified by the precommits of chosen members.
#pragma once
#include <map>

#include "ledger/certificate.hpp"
#include "ledger/validators.hpp"
#include "ledger_fixture.hpp"

namespace bc::ledger::test {

inline KeyPair vote_key(std::size_t i) { return test_key(4242, i); }

struct CertChain : Chain {
  std::map<XOnlyPubKey, KeyPair> vote_keys;  // every consensus key the test holds

  // Accounts 0..validators-1 are validators with `stake` each, unless edit changes the genesis.
  template <typename F>
  CertChain(std::size_t accounts, std::size_t validators, Amount stake, F edit) : Chain(accounts) {
    ledger.reset();
    std::filesystem::remove_all(dir.path);
    tg.genesis.params.producers.clear();
    for (std::size_t i = 0; i < validators; ++i) {
      tg.genesis.accounts[i].bonded = stake;
      tg.genesis.accounts[i].consensus_key = vote_key(i).public_key();
    }
    for (std::size_t i = 0; i < accounts; ++i) vote_keys.emplace(vote_key(i).public_key(), vote_key(i));
    edit(tg.genesis);
    reopen();
    REQUIRE(ledger->certified());
  }
  CertChain(std::size_t accounts, std::size_t validators, Amount stake) : CertChain(accounts, validators, stake, [](Genesis&) {}) {}

  // The set of the next block.
  const Committee& next_set() const { return *ledger->committee_for(ledger->head().height + 1); }
  const KeyPair& key_of(const XOnlyPubKey& k) const { return vote_keys.at(k); }

  // Precommits of the given members (all of the set when empty).
  CommitCertificate certify(const Block& b, std::vector<XOnlyPubKey> signers = {}, std::uint32_t round = 0) const {
    const Committee& set = *ledger->committee_for(b.header.height);
    if (signers.empty())
      for (const auto& m : set.members) signers.push_back(m.consensus_key);
    CommitCertificate c{b.header.height, round, header_hash(b.header), {}};
    for (const auto& k : signers) c.precommits.push_back(sign_precommit(key_of(k), ledger->genesis_hash(), c.height, round, c.block_hash));
    return c;
  }

  // Builds a block proposed by `proposer` (default: the first member), certifies
  // it with `signers` (default: all) and applies it; REQUIREs success.
  Ledger::Built step(const std::vector<Tx>& txs = {}, std::vector<XOnlyPubKey> signers = {}, std::vector<DuplicateVoteEvidence> evidence = {},
                     std::optional<XOnlyPubKey> proposer = std::nullopt) {
    std::vector<const Tx*> c;
    for (const auto& t : txs) c.push_back(&t);
    now += 1000;
    const XOnlyPubKey who = proposer.value_or(next_set().members.at(0).consensus_key);
    auto built = ledger->build_block(c, now, key_of(who), {}, std::move(evidence));
    CommitCertificate cert = certify(built.block, std::move(signers));
    Status s = ledger->apply_block(built.bytes, &cert);
    REQUIRE_MESSAGE(s.ok(), s.text());
    return built;
  }
};

}  // namespace bc::ledger::test
