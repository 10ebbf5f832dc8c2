// Commit certificates and double-sign evidence, as the ledger checks them
// (docs/staking.md, "Commit certificates" and "Evidence, penalties and
// rewards"). Votes are signed over the same bytes as consensus/bft's
// vote_digest (wire struct VoteSignBytes mirrors bft Vote), so a certificate
// the committee builds verifies here without the ledger including consensus/.
// The chain id in a vote is the genesis hash (Ledger::genesis_hash()).
#pragma once
#include <cstdint>
#include <optional>
#include <vector>

#include "layers/bytes.hpp"
#include "layers/crypto.hpp"
#include "layers/sig_cache.hpp"
#include "ledger/error.hpp"
#include "ledger/types.hpp"

namespace bc::ledger {

enum class VoteKind : std::uint8_t { kPrevote = 1, kPrecommit = 2 };  // bft VoteType numbers

// A signed committee vote as evidence carries it.
struct VoteRecord {
  VoteKind type = VoteKind::kPrecommit;
  std::uint64_t height = 0;
  std::uint32_t round = 0;
  std::optional<Hash256> value;  // nullopt: nil
  XOnlyPubKey validator;
  Signature signature;
  friend bool operator==(const VoteRecord&, const VoteRecord&) = default;
};

struct CommitSig {
  XOnlyPubKey validator;
  Signature signature;
  friend bool operator==(const CommitSig&, const CommitSig&) = default;
};

// +2/3 of the power of committee_for(height) precommitted block_hash in round.
struct CommitCertificate {
  std::uint64_t height = 0;
  std::uint32_t round = 0;
  Hash256 block_hash;
  std::vector<CommitSig> precommits;
  friend bool operator==(const CommitCertificate&, const CommitCertificate&) = default;
};

// Two votes of one validator at one (height, round, type), different values.
struct DuplicateVoteEvidence {
  VoteRecord a;
  VoteRecord b;
  friend bool operator==(const DuplicateVoteEvidence&, const DuplicateVoteEvidence&) = default;
};

inline constexpr std::size_t kMaxBlockEvidence = 64;

// tagged_hash("blockcloud/bft-vote/v1", canonical VoteSignBytes, signature null):
// equal to bft::vote_digest of the same vote.
Hash256 vote_digest(const Hash256& chain, const VoteRecord& v);
// The signer's key is part of what it signs (as in bft's Vote).
Hash256 precommit_digest(const Hash256& chain, std::uint64_t height, std::uint32_t round, const Hash256& block_hash,
                         const XOnlyPubKey& validator);
VoteRecord sign_vote(const KeyPair& key, const Hash256& chain, VoteRecord v);  // sets validator and signature
CommitSig sign_precommit(const KeyPair& key, const Hash256& chain, std::uint64_t height, std::uint32_t round, const Hash256& block_hash);

Bytes encode_certificate(const CommitCertificate& c);
// Bounded: at most kMaxCommittee precommits, fixed field sizes, one segment.
Result<CommitCertificate> decode_certificate(ByteView bytes);
// tagged_hash("blockcloud/commit-certificate/v1", canonical form): what the next header commits to.
Hash256 certificate_hash(const CommitCertificate& c);
Hash256 evidence_hash(const DuplicateVoteEvidence& e);

// For `height` and `block_hash`: every precommit from a distinct member of
// `set`, validly signed (through `cache` when given), together more than
// 2/3 of the set's power. kUncertified with what is wrong otherwise.
Status verify_certificate(const CommitCertificate& c, const Hash256& chain, const Committee& set, std::uint64_t height,
                          const Hash256& block_hash, SignatureCache* cache = nullptr);
// The votes' own rules: one validator, member of `set` (returned in *who),
// one (height, round, type), different values, both validly signed.
// kBadEvidence otherwise. Age and bans are the block's to check.
Status verify_evidence_votes(const DuplicateVoteEvidence& e, const Hash256& chain, const Committee& set, const CommitteeMember** who);

}  // namespace bc::ledger
