// TEST ONLY: a validator that double-signs, for fault tests of the evidence
// path (docs/consensus.md, "Test-only fault switch"). blockcloudd uses it
// only under `--test-fault equivocate`, which it refuses unless
// BC_TEST_FAULTS=1 is set; nothing else constructs one outside tests.
//
// apply(frames) looks at what the core is about to send: after each frame
// that is a vote signed with this node's key, it adds, to the same peer, a
// second vote of the same height, round and type for another value (nil for
// a value; a made-up hash for nil), signed with the key outside the core's
// never-sign-twice signer. Each peer thus holds two signed votes of one
// slot: evidence. The real vote goes first on an ordered stream, so peers
// count it, the conflicting one only makes evidence, and the chain keeps
// finalising while the offender waits for its slash.
//
// Thread safety: none; called with the core's outputs on its thread.
#pragma once
#include <cstdint>
#include <map>
#include <tuple>
#include <vector>

#include "consensus/bft/codec.hpp"
#include "layers/core.hpp"

namespace bc::consensus {

class Equivocator {
 public:
  Equivocator(KeyPair key, bft::CodecLimits limits) : key_(std::move(key)), limits_(limits) {}

  // Adds a conflicting vote after every own vote in `frames`.
  void apply(std::vector<Outbox::Frame>& frames);
  // Conflicting votes signed so far (one per slot; re-sent ones not counted).
  std::uint64_t forged() const { return forged_; }

 private:
  using Slot = std::tuple<std::uint64_t, std::uint32_t, bft::VoteType>;
  const Bytes& conflicting(const bft::Vote& real);

  KeyPair key_;
  bft::CodecLimits limits_;
  std::map<Slot, Bytes> signed_;  // the conflicting vote of recent slots, encoded
  std::uint64_t forged_ = 0;
};

}  // namespace bc::consensus
