// The values and messages of the BFT committee (docs/consensus.md,
// "Messages"). Plain structs; consensus/bft/codec.hpp turns them into bytes,
// digests and signatures.
#pragma once
#include <cstdint>
#include <optional>
#include <variant>
#include <vector>

#include "layers/bytes.hpp"
#include "layers/crypto.hpp"

namespace bc::bft {

// What the committee decides on: opaque to the core. The ledger makes the
// hash (a block hash) and checks that it is the hash of the bytes.
struct Value {
  Hash256 hash;
  Bytes bytes;
  friend bool operator==(const Value&, const Value&) = default;
};

// A vote's value: nullopt is nil.
using VoteValue = std::optional<Hash256>;

enum class VoteType : std::uint8_t { kPrevote = 1, kPrecommit = 2 };

// The signer's step order within a round: proposal < prevote < precommit.
enum class Step : std::uint8_t { kPropose = 1, kPrevote = 2, kPrecommit = 3 };
inline Step step_of(VoteType t) { return t == VoteType::kPrevote ? Step::kPrevote : Step::kPrecommit; }

struct Vote {
  Hash256 chain_id;
  VoteType type = VoteType::kPrevote;
  std::uint64_t height = 0;
  std::uint32_t round = 0;
  VoteValue value;  // nullopt: a vote for nil
  XOnlyPubKey validator;
  Signature signature;
  friend bool operator==(const Vote&, const Vote&) = default;
};

struct Proposal {
  Hash256 chain_id;
  std::uint64_t height = 0;
  std::uint32_t round = 0;
  std::int32_t pol_round = -1;  // valid_round of the proposer; -1: a fresh value
  Hash256 value_hash;
  XOnlyPubKey proposer;
  Signature signature;
  friend bool operator==(const Proposal&, const Proposal&) = default;
};

// A proposal with its value and, when pol_round >= 0, its proof of lock:
// the +2/3 prevotes of pol_round for the value.
struct ProposalMsg {
  Proposal proposal;
  Bytes value;
  std::vector<Vote> pol_prevotes;
  friend bool operator==(const ProposalMsg&, const ProposalMsg&) = default;
};

// +2/3 of the power precommitted value_hash at (height, round).
struct CommitCertificate {
  std::uint64_t height = 0;
  std::uint32_t round = 0;
  Hash256 value_hash;
  Bytes value;
  std::vector<Vote> precommits;
  friend bool operator==(const CommitCertificate&, const CommitCertificate&) = default;
};

// Two votes of one validator at one (height, round, type) for different values.
struct DuplicateVoteEvidence {
  Vote a;
  Vote b;
  friend bool operator==(const DuplicateVoteEvidence&, const DuplicateVoteEvidence&) = default;
};

using Message = std::variant<ProposalMsg, Vote, CommitCertificate, DuplicateVoteEvidence>;

}  // namespace bc::bft
