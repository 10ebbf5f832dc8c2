# Messages of the BFT committee (docs/consensus.md, "Messages").
#
# Vote and Proposal are signed: BIP340 Schnorr over tagged_hash(tag,
# canonical form of the struct with `signature` null), tags
# "blockcloud/bft-vote/v1" and "blockcloud/bft-proposal/v1".
@0xc4f1e0a7d2b39a65;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("bc::bft::wire");

enum VoteType {
  unset @0;
  prevote @1;
  precommit @2;
}

struct Vote {
  chainId @0 :Data;     # 32 bytes: the genesis hash
  type @1 :VoteType;
  height @2 :UInt64;
  round @3 :UInt32;
  valueHash @4 :Data;   # 32 bytes, or empty for nil
  validator @5 :Data;   # 32 bytes: x-only public key
  signature @6 :Data;   # 64 bytes
}

struct Proposal {
  chainId @0 :Data;
  height @1 :UInt64;
  round @2 :UInt32;
  polRound @3 :Int32;   # -1: no proof of lock
  valueHash @4 :Data;
  proposer @5 :Data;
  signature @6 :Data;
}

struct ProposalMsg {
  proposal @0 :Proposal;
  value @1 :Data;
  polPrevotes @2 :List(Vote);
}

struct CommitCertificate {
  height @0 :UInt64;
  round @1 :UInt32;
  valueHash @2 :Data;
  value @3 :Data;
  precommits @4 :List(Vote);
}

struct DuplicateVoteEvidence {
  voteA @0 :Vote;
  voteB @1 :Vote;
}

struct Message {
  union {
    unset @0 :Void;
    proposal @1 :ProposalMsg;
    vote @2 :Vote;
    certificate @3 :CommitCertificate;
    evidence @4 :DuplicateVoteEvidence;
  }
}

# What the signer keeps durable (consensus/bft/signer.hpp): written, synced,
# before the message it signed leaves the node.
struct SignerRecord {
  height @0 :UInt64;
  round @1 :UInt32;
  step @2 :UInt8;           # 1 proposal, 2 prevote, 3 precommit
  signedInRound @3 :List(Message);  # what was signed at (height, round), in order; the last is the slot's
  lockedRound @4 :Int32;    # -1: not locked
  lockedValueHash @5 :Data;
  lockedValue @6 :Data;
  lockProof @7 :List(Message);  # the prevotes of lockedRound for the locked value (each a vote)
}
