#include "ledger/consensus_effects.hpp"

#include <map>

#include "layers/assert.hpp"
#include "ledger/validators.hpp"

namespace bc::ledger {

namespace {

using Effects = std::vector<Effect>;

Amount bps_of(Amount amount, std::uint32_t bps) {
  return static_cast<Amount>(static_cast<unsigned __int128>(amount) * bps / 10'000);
}

Status emit(WorkingState& ws, const ConsensusInput& in, Effects& out, Effect e) {
  if (Status s = apply_effect(ws, e, in.height); !s.ok()) return s;
  out.push_back(e);
  return {};
}

// The double-vote penalty of `e`'s offender, appended to out.
Status punish(WorkingState& ws, const ConsensusInput& in, const DuplicateVoteEvidence& e, const Address& who, Effects& out) {
  auto effects = punish_offender(ws, who, e.a.height, evidence_hash(e), in.height);
  if (!effects.ok()) return effects.status();
  out.insert(out.end(), effects->begin(), effects->end());
  return {};
}

Status apply_evidence(WorkingState& ws, const ConsensusInput& in, Effects& out) {
  if (!in.evidence) return {};
  const ChainParams& p = ws.params();
  for (std::size_t i = 0; i < in.evidence->size(); ++i) {
    const DuplicateVoteEvidence& e = (*in.evidence)[i];
    const std::string where = "evidence " + std::to_string(i) + ": ";
    if (e.a.height >= in.height || e.a.height + p.unbonding_delay <= in.height)
      return fail(Error::kBadEvidence, where + "height " + std::to_string(e.a.height) + " is not within the unbonding delay before " +
                                           std::to_string(in.height));
    auto set = ws.committee(epoch_of(e.a.height, p));
    if (!set) return fail(Error::kBadEvidence, where + "no validator set for its height");
    const CommitteeMember* m = nullptr;
    if (Status s = verify_evidence_votes(e, in.chain, *set, &m); !s.ok()) return fail(Error::kBadEvidence, where + s.message);
    auto v = ws.validator(m->address);
    BC_ASSERT(v.has_value());  // a committee member is a validator (check_staking)
    if (v->status == Validator::Status::kBanned) return fail(Error::kBadEvidence, where + "the offender is already banned");
    if (Status s = punish(ws, in, e, m->address, out); !s.ok()) return s;
  }
  return {};
}

// Records bit (signed or missed) for one active member; true when it must be jailed.
bool record_one(Validator& v, std::uint64_t height, bool missed, const ChainParams& p) {
  const std::uint32_t w = p.downtime_window, bit = static_cast<std::uint32_t>(height % w);
  auto& byte = v.missed_bits[bit / 8];
  const std::uint8_t mask = static_cast<std::uint8_t>(1u << (bit % 8));
  if (v.tracked == w && (byte & mask)) v.missed -= 1;  // the oldest height leaves the window
  byte = static_cast<std::uint8_t>(missed ? (byte | mask) : (byte & ~mask));
  if (missed) v.missed += 1;
  if (v.tracked < w) v.tracked += 1;
  BC_ASSERT(v.missed <= v.tracked);
  const std::uint64_t signed_count = w - v.missed;
  return v.tracked == w && signed_count * 10'000 < static_cast<std::uint64_t>(w) * p.downtime_min_signed_bps;
}

Status apply_downtime(WorkingState& ws, const ConsensusInput& in, Effects& out) {
  if (!in.last_commit) return {};
  const ChainParams& p = ws.params();
  auto set = ws.committee(epoch_of(in.last_commit->height, p));
  BC_ASSERT(set.has_value());  // the certificate was verified against it
  for (const auto& m : set->members) {
    auto v = ws.validator(m.address);
    if (!v || v->status != Validator::Status::kActive) continue;
    bool present = false;
    for (const auto& sig : in.last_commit->precommits) present = present || sig.validator == m.consensus_key;
    const bool jail = record_one(*v, in.last_commit->height, !present, p);
    ws.put_validator(m.address, *v);
    if (!jail) continue;
    Bytes why(m.address.bytes.begin(), m.address.bytes.end());
    append_be64(why, in.height);
    const Hash256 reason = tagged_hash("blockcloud/downtime/v1", why);
    const Amount bonded = ws.account(m.address).value_or(Account{}).bonded;
    if (Amount cut = bps_of(bonded, p.downtime_slash_bps); cut > 0)
      if (Status s = emit(ws, in, out, Effect{Effect::Kind::kSlash, m.address, cut, reason}); !s.ok()) return s;
    if (Status s = emit(ws, in, out, Effect{Effect::Kind::kJail, m.address, 0, reason}); !s.ok()) return s;
  }
  return {};
}

// Splits `pool`: the proposer's bonus, the rest over the signers by power,
// what the floors leave to the proposer. Adds to *shares.
void split(Amount pool, const ConsensusInput& in, const ChainParams& p, const Committee* set, std::map<Address, Amount>& shares) {
  if (pool == 0) return;
  std::vector<const CommitteeMember*> signers;
  unsigned __int128 signed_power = 0;
  if (in.last_commit && set)
    for (const auto& sig : in.last_commit->precommits)
      if (const CommitteeMember* m = find_member(*set, sig.validator)) signers.push_back(m), signed_power += m->power;
  const Amount bonus = signers.empty() ? pool : bps_of(pool, p.proposer_bonus_bps);
  Amount paid = 0;
  for (const CommitteeMember* m : signers) {
    const Amount share = static_cast<Amount>(static_cast<unsigned __int128>(pool - bonus) * m->power / signed_power);
    shares[m->address] += share;  // every share is part of the pool: no overflow
    paid += share;
  }
  shares[in.proposer] += pool - paid;
}

Status apply_rewards(WorkingState& ws, const ConsensusInput& in, Effects& out) {
  const ChainParams& p = ws.params();
  std::optional<Committee> set;
  if (in.last_commit) set = ws.committee(epoch_of(in.last_commit->height, p));
  Bytes h;
  append_be64(h, in.height);
  const Hash256 reason = tagged_hash("blockcloud/block-reward/v1", h);
  std::map<Address, Amount> minted, fees;
  split(p.block_reward, in, p, set ? &*set : nullptr, minted);
  split(in.fees, in, p, set ? &*set : nullptr, fees);
  for (const auto& [a, amount] : minted)
    if (amount > 0)
      if (Status s = emit(ws, in, out, Effect{Effect::Kind::kReward, a, amount, reason}); !s.ok()) return s;
  for (const auto& [a, amount] : fees)
    if (amount > 0)
      if (Status s = emit(ws, in, out, Effect{Effect::Kind::kFeeShare, a, amount, reason}); !s.ok()) return s;
  return {};
}

}  // namespace

// The stake the offender still has: bonded, and unbondings begun at or after the offence.
Result<std::vector<Effect>> punish_offender(WorkingState& ws, const Address& who, std::uint64_t offence_height, const Hash256& reason,
                                            std::uint64_t height) {
  const ChainParams& p = ws.params();
  Effects out;
  auto emit_one = [&](Effect e) {
    if (Status s = apply_effect(ws, e, height); !s.ok()) return s;
    out.push_back(e);
    return Status{};
  };
  const Amount bonded = ws.account(who).value_or(Account{}).bonded;
  if (Amount cut = bps_of(bonded, p.evidence_slash_bps); cut > 0)
    if (Status s = emit_one(Effect{Effect::Kind::kSlash, who, cut, reason}); !s.ok()) return s;
  for (const auto& [id, u] : ws.unbondings_of(who)) {
    if (u.release_height - p.unbonding_delay < offence_height) continue;  // left before the offence
    if (Amount cut = bps_of(u.amount, p.evidence_slash_bps); cut > 0)
      if (Status s = emit_one(Effect{Effect::Kind::kSlashUnbonding, id, cut, reason}); !s.ok()) return s;
  }
  if (Status s = emit_one(Effect{Effect::Kind::kBan, who, 0, reason}); !s.ok()) return s;
  return out;
}

Result<std::vector<Effect>> derive_and_apply(WorkingState& ws, const ConsensusInput& in) {
  Effects out;
  if (Status s = apply_evidence(ws, in, out); !s.ok()) return s;
  if (Status s = apply_downtime(ws, in, out); !s.ok()) return s;
  if (Status s = apply_rewards(ws, in, out); !s.ok()) return s;
  return out;
}

}  // namespace bc::ledger
