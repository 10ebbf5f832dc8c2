// What the Byzantine nodes of the committee simulation send: their honest
// cores' frames, tampered with (tests/sim/committee_faults.hpp, Byzantine).
#include "consensus/node/ledger_app.hpp"
#include "tests/sim/committee_world.hpp"

namespace bc::sim {

void CommitteeWorld::byzantine_send(int from, int to, Bytes frame) {
  const ByzantineRole& role = *roles_[from];
  auto m = bft::decode(frame, bft::CodecLimits{});
  if (!m.ok()) return fail("node " + std::to_string(from) + "'s core sent an undecodable frame");
  if (const auto* v = std::get_if<bft::Vote>(&*m)) {
    const Hash256 other = sha256(as_bytes("byzantine value at " + std::to_string(v->height)));
    for (auto& f : bft::sim::tamper_vote(*v, std::move(frame), role, half_[to], rng_, nodes_[from]->config().key, other))
      net_->transmit(from, to, std::move(f));
    return;
  }
  const auto* p = std::get_if<bft::ProposalMsg>(&*m);
  if (p && p->proposal.pol_round < 0 && half_[to] && (role.equivocate || role.bad_proposals)) {
    if (auto other = other_proposal(from, *p)) return net_->transmit(from, to, std::move(*other));
  }
  net_->transmit(from, to, std::move(frame));
}

// The proposal the other half gets in place of `real`: another valid block
// (an equivocating proposer), or an invalid one (a bad proposer): not a
// block at all, a block too far in the future, or a block with a byte
// flipped. One per (height, round), so every peer of that half gets the same.
std::optional<Bytes> CommitteeWorld::other_proposal(int from, const bft::ProposalMsg& real) {
  const auto slot = std::pair{real.proposal.height, real.proposal.round};
  if (auto it = byzantine_proposals_.find(slot); it != byzantine_proposals_.end()) return it->second;
  CommitteeNode& node = *nodes_[from];
  ledger::Ledger& l = node.ledger();
  if (l.head().height + 1 != real.proposal.height) return std::nullopt;
  const KeyPair& key = node.config().key;
  const TimeMs time = consensus::block_time(node.local_time(loop_.now()), l.head().time);
  Bytes bytes;
  Hash256 hash;
  if (roles_[from]->bad_proposals) {
    const std::uint64_t kind = rng_.uniform(3);
    if (kind == 0) {
      bytes = Bytes{'j', 'u', 'n', 'k'};
      hash = sha256(bytes);
    } else {
      const TimeMs when = kind == 1 ? time + ledger::LedgerOptions{}.max_future_ms + 600'000 : time;
      auto built = l.build_block({}, when, key);
      bytes = std::move(built.bytes);
      hash = ledger::header_hash(built.block.header);
      if (kind == 2) bytes[rng_.uniform(bytes.size())] ^= static_cast<std::uint8_t>(1u << rng_.uniform(8));
    }
    // A block with a byte flipped claims the hash of a valid block this
    // node may still propose itself: only the other two are never valid.
    if (kind != 2) invalid_values_.insert(hash);
    result_.invalid_proposals++;
  } else {
    auto built = l.build_block({}, time + 1, key);  // empty, and a moment later than the real one
    bytes = std::move(built.bytes);
    hash = ledger::header_hash(built.block.header);
  }
  bft::ProposalMsg other = real;
  other.value = std::move(bytes);
  other.proposal.value_hash = hash;
  bft::sign_proposal(other.proposal, key);
  return byzantine_proposals_.emplace(slot, bft::encode(other)).first->second;
}

}  // namespace bc::sim
