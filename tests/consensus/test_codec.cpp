// Messages: round trips, signatures over canonical form, bounded decoding
// with reasons, certificate and evidence checks, and the signer's record.
#include <doctest/doctest.h>

#include "consensus/bft/codec.hpp"
#include "consensus/bft/errors.hpp"
#include "consensus/bft/signer.hpp"
#include "consensus/bft/vote_set.hpp"

using namespace bc;
using namespace bc::bft;

namespace {

struct Committee {
  std::vector<KeyPair> keys;
  ValidatorSet set;
  Hash256 chain = sha256(as_bytes("test-chain"));
};

Committee committee(int n) {
  std::vector<KeyPair> keys;
  std::vector<Validator> members;
  for (int i = 0; i < n; ++i) {
    std::array<std::uint8_t, 32> secret{};
    secret[0] = 1;
    secret[31] = static_cast<std::uint8_t>(i + 1);
    keys.push_back(*KeyPair::from_secret(secret));
    members.push_back({keys.back().public_key(), 1, 0});
  }
  auto set = ValidatorSet::genesis(members);
  REQUIRE(set.ok());
  return Committee{std::move(keys), *set};
}

Vote signed_vote(const Committee& c, int who, VoteType type, std::uint32_t round, VoteValue value) {
  Vote v{c.chain, type, 3, round, value, {}, {}};
  sign_vote(v, c.keys[who]);
  return v;
}

Error code_of(const Status& s) { return static_cast<Error>(s.code.value()); }

}  // namespace

TEST_SUITE("bft_codec") {
  TEST_CASE("every message round-trips and votes verify") {
    Committee c = committee(4);
    const Hash256 value = sha256(as_bytes("v"));
    Vote v = signed_vote(c, 0, VoteType::kPrecommit, 2, value);
    CHECK(verify_vote(v, c.set).ok());
    Proposal p{c.chain, 3, 2, 1, value, {}, {}};
    sign_proposal(p, c.keys[1]);
    CHECK(verify_proposal(p, c.set).ok());
    const std::vector<Message> all = {
        v, signed_vote(c, 1, VoteType::kPrevote, 0, std::nullopt),
        ProposalMsg{p, Bytes{1, 2, 3}, {signed_vote(c, 2, VoteType::kPrevote, 1, value)}},
        CommitCertificate{3, 2, value, Bytes{9}, {v}},
        DuplicateVoteEvidence{v, signed_vote(c, 0, VoteType::kPrecommit, 2, std::nullopt)}};
    for (const Message& m : all) {
      auto back = decode(encode(m), CodecLimits{});
      REQUIRE(back.ok());
      CHECK(*back == m);
    }
  }

  TEST_CASE("a changed field breaks the signature; a stranger is unknown") {
    Committee c = committee(4);
    Vote v = signed_vote(c, 0, VoteType::kPrevote, 0, sha256(as_bytes("v")));
    Vote changed = v;
    changed.round = 1;
    CHECK(code_of(verify_vote(changed, c.set)) == Error::kBadSignature);
    changed = v;
    changed.chain_id = sha256(as_bytes("other chain"));
    CHECK(code_of(verify_vote(changed, c.set)) == Error::kBadSignature);
    Vote stranger{c.chain, VoteType::kPrevote, 3, 0, std::nullopt, {}, {}};
    sign_vote(stranger, KeyPair::generate());
    CHECK(code_of(verify_vote(stranger, c.set)) == Error::kUnknownValidator);
  }

  TEST_CASE("hostile bytes are refused with a reason") {
    Committee c = committee(4);
    const Bytes good = encode(signed_vote(c, 0, VoteType::kPrevote, 0, std::nullopt));
    CHECK(code_of(decode({}, CodecLimits{}).status()) == Error::kMalformed);
    CHECK(code_of(decode(ByteView(good).first(good.size() - 8), CodecLimits{}).status()) == Error::kMalformed);
    CodecLimits tiny;
    tiny.max_frame_bytes = 64;
    CHECK(code_of(decode(good, tiny).status()) == Error::kOversized);
    Bytes garbage(good.size(), 0xff);
    CHECK_FALSE(decode(garbage, CodecLimits{}).ok());
    // A proof of lock longer than the limit.
    ProposalMsg big{Proposal{c.chain, 3, 2, 1, {}, {}, {}}, {}, {}};
    for (int i = 0; i < 5; ++i) big.pol_prevotes.push_back(signed_vote(c, 0, VoteType::kPrevote, 1, std::nullopt));
    CodecLimits few;
    few.max_votes = 4;
    CHECK(code_of(decode(encode(big), few).status()) == Error::kOversized);
    // pol_round must be below round.
    ProposalMsg bad_pol{Proposal{c.chain, 3, 2, 2, {}, {}, {}}, {}, {}};
    CHECK(code_of(decode(encode(bad_pol), CodecLimits{}).status()) == Error::kBadField);
  }

  TEST_CASE("a certificate needs +2/3 of distinct, valid precommits for its value") {
    Committee c = committee(4);  // +2/3 of 4 is 3
    const Hash256 value = sha256(as_bytes("v"));
    CommitCertificate cert{3, 1, value, {}, {}};
    for (int i = 0; i < 2; ++i) cert.precommits.push_back(signed_vote(c, i, VoteType::kPrecommit, 1, value));
    CHECK(code_of(verify_certificate(cert, c.chain, c.set)) == Error::kBadCertificate);
    cert.precommits.push_back(cert.precommits[0]);
    CHECK(code_of(verify_certificate(cert, c.chain, c.set)) == Error::kBadCertificate);  // a signer twice
    cert.precommits.back() = signed_vote(c, 2, VoteType::kPrecommit, 1, value);
    CHECK(verify_certificate(cert, c.chain, c.set).ok());
    cert.precommits.back() = signed_vote(c, 2, VoteType::kPrecommit, 0, value);
    CHECK(code_of(verify_certificate(cert, c.chain, c.set)) == Error::kBadCertificate);  // another round
  }

  TEST_CASE("evidence is two signed votes of one slot for different values") {
    Committee c = committee(4);
    const Hash256 value = sha256(as_bytes("v"));
    const Vote a = signed_vote(c, 1, VoteType::kPrevote, 4, value);
    CHECK(verify_evidence({a, signed_vote(c, 1, VoteType::kPrevote, 4, std::nullopt)}, c.chain, c.set).ok());
    CHECK(code_of(verify_evidence({a, a}, c.chain, c.set)) == Error::kBadEvidence);
    CHECK(code_of(verify_evidence({a, signed_vote(c, 2, VoteType::kPrevote, 4, std::nullopt)}, c.chain, c.set)) ==
          Error::kBadEvidence);
    CHECK(code_of(verify_evidence({a, signed_vote(c, 1, VoteType::kPrevote, 5, std::nullopt)}, c.chain, c.set)) ==
          Error::kBadEvidence);
  }

  TEST_CASE("the signer writes before it signs, refuses older slots and re-sends a signed slot") {
    Committee c = committee(4);
    Signer signer(c.keys[0], SignerRecord{});
    const Hash256 value = sha256(as_bytes("v"));
    Outbox out;
    auto first = signer.sign_vote(Vote{c.chain, VoteType::kPrevote, 3, 1, value, {}, {}}, Lock{}, out);
    REQUIRE(first.has_value());
    CHECK(verify_vote(*first, c.set).ok());
    REQUIRE(out.writes.size() == 1);
    CHECK(out.writes[0].sync);
    CHECK(out.writes[0].ops[0].key == kSignerKey);
    // The same slot, another value: the vote already signed comes back, nothing is written.
    Outbox again;
    auto second = signer.sign_vote(Vote{c.chain, VoteType::kPrevote, 3, 1, std::nullopt, {}, {}}, Lock{}, again);
    REQUIRE(second.has_value());
    CHECK(*second == *first);
    CHECK(again.writes.empty());
    // Older slots are refused.
    CHECK_FALSE(signer.sign_vote(Vote{c.chain, VoteType::kPrevote, 3, 0, value, {}, {}}, Lock{}, again).has_value());
    CHECK_FALSE(signer.sign_vote(Vote{c.chain, VoteType::kPrecommit, 2, 9, value, {}, {}}, Lock{}, again).has_value());
    // What was written restores a signer that behaves the same.
    // The lock goes with its proof (the prevotes of its round), so a restarted node can re-propose it.
    Lock lock{1, Value{value, Bytes{7}}, {signed_vote(c, 1, VoteType::kPrevote, 1, value), signed_vote(c, 2, VoteType::kPrevote, 1, value)}};
    Outbox third;
    REQUIRE(signer.sign_vote(Vote{c.chain, VoteType::kPrecommit, 3, 1, value, {}, {}}, lock, third).has_value());
    auto record = decode_signer_record(*third.writes[0].ops[0].value, CodecLimits{});
    REQUIRE(record.ok());
    CHECK(record->height == 3);
    CHECK(record->round == 1);
    CHECK(record->step == Step::kPrecommit);
    CHECK(record->signed_in_round.size() == 2);
    CHECK(record->lock.locked_round == 1);
    CHECK(record->lock.locked_value == lock.locked_value);
    CHECK(record->lock.proof == lock.proof);
    Signer restored(c.keys[0], *record);
    Outbox after;
    auto resent = restored.sign_vote(Vote{c.chain, VoteType::kPrecommit, 3, 1, std::nullopt, {}, {}}, Lock{}, after);
    REQUIRE(resent.has_value());
    CHECK(resent->value == VoteValue(value));
    CHECK(after.writes.empty());
    CHECK_FALSE(decode_signer_record(Bytes{1, 2, 3}, CodecLimits{}).ok());
  }
}
