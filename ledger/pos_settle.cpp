// The block's Proof-of-Service effects (docs/proof-of-service.md,
// "Settlement on the ledger"): the penalties of the contradictions proven by
// the block's reports, and in the first block of epoch E + 2 the settlement
// of epoch E: slashes, bans and warnings from the offer bonds, the held usage
// pay by score, report fees to the agreeing auditors, reputations. Every node
// derives the same list from the same state.
#include <algorithm>
#include <cstring>
#include <map>

#include "layers/assert.hpp"
#include "ledger/consensus_effects.hpp"
#include "ledger/pos/codec.hpp"
#include "ledger/pos/settle.hpp"
#include "ledger/pos_ledger.hpp"
#include "ledger/validators.hpp"

namespace bc::ledger {

namespace {

using Effects = std::vector<Effect>;

// What one settlement carries from offer to offer.
struct Ledgering {
  WorkingState& ws;
  std::uint64_t height = 0;
  std::uint64_t epoch = 0;              // the epoch settled
  Effects& out;
  std::map<Address, std::uint32_t> pay_scale;  // provider account -> lowest pay scale of its audited offers
  std::map<Address, Amount> fees;              // auditor account -> report fees
};

Status emit(Ledgering& l, Effect e) {
  if (Status s = apply_effect(l.ws, e, l.height); !s.ok()) return s;
  l.out.push_back(e);
  return {};
}

Hash256 reason_of(const char* what, const Hash256& id, std::uint64_t epoch) {
  Bytes b(id.bytes.begin(), id.bytes.end());
  append_be64(b, epoch);
  b.insert(b.end(), what, what + std::strlen(what));
  return tagged_hash("blockcloud/pos-settle/v1", b);
}

template <typename T>
T decode_stored(const Bytes& frame, const Hash256& id) {
  auto m = pos::decode(frame, pos::PosLimits{});
  BC_ASSERT_MSG(m.ok() && std::holds_alternative<T>(*m), "stored PoS entry %s does not decode", id.hex().c_str());
  return std::get<T>(std::move(*m));
}

// settle_epoch's input from the entries of epoch e: the offers drawn, their
// auditors' probe commitments, reputations and uncontradicted reports.
pos::SettleInput settle_input(const WorkingState& ws, std::uint64_t e, const std::vector<pos::Assignment>& draw) {
  pos::SettleInput in;
  in.epoch = e;
  in.assignments = draw;
  for (const pos::Assignment& a : draw) {
    auto o = ws.offer(a.offer_id);
    BC_ASSERT(o.has_value());  // drawn from the offer entries, never deleted
    in.offers.push_back(decode_stored<pos::Offer>(o->offer, a.offer_id));
    in.reputation_bps[a.offer_id] = o->reputation_bps;
    for (const XOnlyPubKey& k : a.auditors) {
      if (auto c = ws.pos_commit(pos_commit_id(k, e))) in.probe_commitments[k] = c->probe_commitment;
      const Hash256 rid = pos_report_id(e, a.offer_id, k);
      if (auto r = ws.pos_report(rid); r && !r->contradicted) in.reports.push_back(decode_stored<pos::Report>(r->report, rid));
    }
  }
  return in;
}

// Burns up to `amount` from the offer's bond, or from the unbonding entry a
// withdrawal moved it to.
Status burn_bond(Ledgering& l, const Hash256& offer_id, Amount amount, const Hash256& reason) {
  auto o = l.ws.offer(offer_id);
  BC_ASSERT(o.has_value());
  if (o->status == ProviderOffer::Status::kWithdrawn) {
    const Amount left = l.ws.unbonding(o->unbonding).value_or(Unbonding{}).amount;
    const Amount cut = std::min(amount, left);
    return cut == 0 ? Status{} : emit(l, Effect{Effect::Kind::kSlashUnbonding, o->unbonding, cut, reason});
  }
  const Amount cut = std::min(amount, o->bond);
  return cut == 0 ? Status{} : emit(l, Effect{Effect::Kind::kBurnOfferBond, offer_id, cut, reason});
}

// One offer's outcome: its grade's effects, its reputation, its provider's
// pay scale and its agreeing auditors' fees.
Status settle_offer(Ledgering& l, const pos::Settlement& s, const pos::Assignment& a, const Committee* set, const pos::PosParams& p) {
  auto o = l.ws.offer(s.offer_id);
  BC_ASSERT(o.has_value());
  const Hash256 reason = reason_of(pos::to_string(s.grade), s.offer_id, l.epoch);
  if (s.grade != pos::Grade::kUnaudited) {
    o->reputation_bps = s.reputation_bps;
    l.ws.put_offer(s.offer_id, *o);
  }
  if (!a.auditors.empty()) {
    auto [it, fresh] = l.pay_scale.emplace(o->account, s.pay_scale_bps);
    if (!fresh) it->second = std::min(it->second, s.pay_scale_bps);
  }
  for (const XOnlyPubKey& k : s.agreeing) {
    const CommitteeMember* m = set ? find_member(*set, k) : nullptr;
    BC_ASSERT(m != nullptr);  // drawn from this committee
    l.fees[m->address] += p.report_fee;  // at most k * offers fees: bounded far below 2^64 by the entry count
  }
  switch (s.grade) {
    case pos::Grade::kMalicious:
      if (Status st = burn_bond(l, s.offer_id, UINT64_MAX, reason); !st.ok()) return st;
      if (o->status == ProviderOffer::Status::kBanned) return {};
      return emit(l, Effect{Effect::Kind::kOfferBan, s.offer_id, 0, reason});
    case pos::Grade::kUnstable: return burn_bond(l, s.offer_id, s.slash, reason);
    case pos::Grade::kOccasional: return emit(l, Effect{Effect::Kind::kOfferWarning, s.offer_id, 0, reason});
    default: return {};
  }
}

// The held usage of the epoch: paid by the provider's scale, the rest back
// to the escrow's client.
Status release_usage(Ledgering& l) {
  for (const auto& [id, u] : l.ws.pos_usages_of(l.epoch)) {
    auto scale = l.pay_scale.find(u.provider);
    const std::uint32_t bps = scale == l.pay_scale.end() ? 0 : scale->second;
    const Amount pay = static_cast<Amount>(static_cast<unsigned __int128>(u.amount) * bps / pos::kBps);
    const Hash256 reason = reason_of("usage", u.provider, l.epoch);
    if (pay > 0)
      if (Status s = emit(l, Effect{Effect::Kind::kUsagePay, id, pay, reason}); !s.ok()) return s;
    if (u.amount > pay)
      if (Status s = emit(l, Effect{Effect::Kind::kUsageRefund, id, u.amount - pay, reason}); !s.ok()) return s;
  }
  return {};
}

Status pay_fees(Ledgering& l) {
  const Hash256 reason = reason_of("report-fee", Hash256{}, l.epoch);
  for (const auto& [addr, fee] : l.fees)
    if (fee > 0)
      if (Status s = emit(l, Effect{Effect::Kind::kReward, addr, fee, reason}); !s.ok()) return s;
  return {};
}

// The 'm' and 'r' entries of epoch e served only its window and settlement.
void forget_epoch(WorkingState& ws, std::uint64_t e, const std::vector<pos::Assignment>& draw, const Committee* set) {
  for (const pos::Assignment& a : draw)
    for (const XOnlyPubKey& k : a.auditors)
      if (const Hash256 id = pos_report_id(e, a.offer_id, k); ws.pos_report(id)) ws.delete_pos_report(id);
  if (set)
    for (const CommitteeMember& m : set->members)
      if (const Hash256 id = pos_commit_id(m.consensus_key, e); ws.pos_commit(id)) ws.delete_pos_commit(id);
}

Status settle(WorkingState& ws, std::uint64_t height, std::uint64_t e, Effects& out) {
  const pos::PosParams p = pos_params(ws.params());
  auto draw = assignments_of(ws, e);
  if (!draw) return {};  // no seed: nothing was audited
  const auto set = ws.committee(e);
  const pos::SettleInput in = settle_input(ws, e, *draw);
  // The storage Merkle check comes with the storage service's tree; until
  // then no storage evidence proves malice on chain.
  const pos::EpochResult r = pos::settle_epoch(in, p, [](const pos::Offer&, const pos::StorageEvidence&) { return true; });
  Ledgering l{ws, height, e, out, {}, {}};
  std::map<Hash256, const pos::Assignment*> by_offer;
  for (const pos::Assignment& a : *draw) by_offer[a.offer_id] = &a;
  for (const pos::Settlement& s : r.settlements)
    if (Status st = settle_offer(l, s, *by_offer.at(s.offer_id), set ? &*set : nullptr, p); !st.ok()) return st;
  if (Status st = release_usage(l); !st.ok()) return st;
  if (Status st = pay_fees(l); !st.ok()) return st;
  forget_epoch(ws, e, *draw, set ? &*set : nullptr);
  return {};
}

}  // namespace

Result<std::vector<Effect>> pos_block_effects(WorkingState& ws, std::uint64_t height) {
  Effects out;
  for (const WorkingState::PosOffence& o : ws.pos_offences()) {
    auto effects = punish_offender(ws, o.offender, o.offence_height, o.reason, height);
    if (!effects.ok()) return effects.status();
    out.insert(out.end(), effects->begin(), effects->end());
  }
  const ChainParams& p = ws.params();
  const std::uint64_t now = epoch_of(height, p);
  if (now >= 2 && height == first_height_of(now, p))
    if (Status s = settle(ws, height, now - 2, out); !s.ok()) return s;
  return out;
}

}  // namespace bc::ledger
