#include "consensus/node/equivocator.hpp"

#include "layers/assert.hpp"
#include "ledger/types.hpp"

namespace bc::consensus {
namespace {
constexpr std::size_t kKeptSlots = 16;  // gossip re-sends only the current round's votes
}

// Signed once per slot: gossip re-sends the real vote every interval, and
// the same conflicting vote follows it.
const Bytes& Equivocator::conflicting(const bft::Vote& real) {
  const Slot slot{real.height, real.round, real.type};
  if (auto it = signed_.find(slot); it != signed_.end()) return it->second;
  bft::Vote other = real;
  if (real.value) {
    other.value.reset();
  } else {
    Bytes seed;
    ledger::append_be64(seed, real.height);
    ledger::append_be64(seed, real.round);
    other.value = tagged_hash("blockcloud/test-fault/equivocate", seed);
  }
  bft::sign_vote(other, key_);
  BC_ASSERT(other.value != real.value);
  forged_++;
  while (signed_.size() >= kKeptSlots) signed_.erase(signed_.begin());
  return signed_.emplace(slot, bft::encode(other)).first->second;
}

void Equivocator::apply(std::vector<Outbox::Frame>& frames) {
  std::vector<Outbox::Frame> out;
  out.reserve(frames.size());
  for (auto& f : frames) {
    auto m = bft::decode(f.payload, limits_);
    const bft::Vote* v = m.ok() ? std::get_if<bft::Vote>(&*m) : nullptr;
    const bool own = v && v->validator == key_.public_key();
    const PeerId to = f.to;
    out.push_back(std::move(f));
    if (own) out.push_back(Outbox::Frame{to, conflicting(*v)});
  }
  frames = std::move(out);
}

}  // namespace bc::consensus
