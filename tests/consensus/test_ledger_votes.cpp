// The ledger verifies committee votes without including consensus/: its
// VoteSignBytes mirrors bft's Vote. These checks pin the two together, so a
// change on either side that breaks certificates fails here.
#include <doctest/doctest.h>

#include "consensus/bft/codec.hpp"
#include "ledger/certificate.hpp"
#include "ledger/genesis.hpp"

using namespace bc;

namespace {
Hash256 some_hash(std::uint8_t b) {
  Hash256 h;
  h.bytes.fill(b);
  return h;
}
}  // namespace

TEST_CASE("ledger::vote_digest equals bft::vote_digest for precommits, prevotes and nil") {
  const KeyPair key = ledger::test_key(1, 2);
  const Hash256 chain = some_hash(7);
  for (auto type : {bft::VoteType::kPrevote, bft::VoteType::kPrecommit}) {
    for (bool nil : {false, true}) {
      bft::Vote v{chain, type, 123456789, 3, nil ? std::nullopt : std::optional(some_hash(9)), {}, {}};
      bft::sign_vote(v, key);
      ledger::VoteRecord r{static_cast<ledger::VoteKind>(type), v.height, v.round, v.value, v.validator, v.signature};
      CHECK(ledger::vote_digest(chain, r) == bft::vote_digest(v));
    }
  }
}

TEST_CASE("a certificate of bft precommits verifies in the ledger") {
  const Hash256 chain = some_hash(1), block = some_hash(2);
  ledger::Committee set{0, {}};
  std::vector<KeyPair> keys;
  for (std::uint64_t i = 0; i < 4; ++i) keys.push_back(ledger::test_key(5, i));
  for (const auto& k : keys) set.members.push_back({ledger::address_of(k.public_key()), k.public_key(), 10});
  ledger::CommitCertificate cert{42, 1, block, {}};
  for (std::size_t i = 0; i < 3; ++i) {
    bft::Vote v{chain, bft::VoteType::kPrecommit, 42, 1, block, {}, {}};
    bft::sign_vote(v, keys[i]);
    cert.precommits.push_back({v.validator, v.signature});
  }
  Status s = ledger::verify_certificate(cert, chain, set, 42, block);
  CHECK_MESSAGE(s.ok(), s.text());
  CHECK(!ledger::verify_certificate(cert, some_hash(3), set, 42, block).ok());  // another chain
}
