// Consensus messages <-> bytes, their signing digests, signatures and the
// checks that need no state but a validator set.
//
// decode() is bounded (layers/wire/decode.hpp): it never throws on hostile
// input, never allocates beyond `limits`, and says why it refused with an
// Error (consensus/bft/errors.hpp) usable as a drop-counter label.
// Signatures are NOT checked by decode(); the verify_* functions do that
// against the set of the message's height.
#pragma once
#include <cstddef>

#include "consensus/bft/types.hpp"
#include "consensus/bft/validator_set.hpp"
#include "layers/sig_cache.hpp"
#include "layers/status.hpp"

namespace bc::bft {

struct CodecLimits {
  std::size_t max_frame_bytes = (4u << 20) + (256u << 10);
  std::size_t max_value_bytes = 4u << 20;
  std::size_t max_votes = kMaxValidators;  // per list (proof of lock, certificate)
};

Bytes encode(const Message& m);
Result<Message> decode(ByteView frame, const CodecLimits& limits);

// tagged_hash(tag, canonical form with the signature null).
Hash256 vote_digest(const Vote& v);
Hash256 proposal_digest(const Proposal& p);

void sign_vote(Vote& v, const KeyPair& key);           // sets validator and signature
void sign_proposal(Proposal& p, const KeyPair& key);   // sets proposer and signature

// The signer is a member of `set` and the signature is good. (Chain id,
// height and round are the caller's to check against its context.) A cache,
// when given, remembers good signatures so a vote re-sent by gossip or seen
// again in a certificate is checked once.
Status verify_vote(const Vote& v, const ValidatorSet& set, SignatureCache* cache = nullptr);
Status verify_proposal(const Proposal& p, const ValidatorSet& set, SignatureCache* cache = nullptr);

// Every precommit is for (height, round, value_hash) on chain_id, from
// distinct members, validly signed, and together they hold +2/3 of the power.
Status verify_certificate(const CommitCertificate& c, const Hash256& chain_id, const ValidatorSet& set,
                          SignatureCache* cache = nullptr);
// Two validly signed votes of one member, one (chain, height, round, type),
// different values.
Status verify_evidence(const DuplicateVoteEvidence& e, const Hash256& chain_id, const ValidatorSet& set,
                       SignatureCache* cache = nullptr);

// The vote with the signature left out: two votes with equal content are the
// same vote even if re-signed (BIP340 signatures are randomised).
bool same_content(const Vote& a, const Vote& b);

}  // namespace bc::bft
