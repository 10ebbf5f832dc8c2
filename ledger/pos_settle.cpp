// The block's Proof-of-Service effects (docs/proof-of-service.md,
// "Settlement on the ledger"): the penalties of the contradictions proven by
// the block's reports, and from the first block of epoch E + 2 the settlement
// of epoch E in slices of at most settle_effects_per_block effects: slashes,
// bans and warnings from the offer bonds, report fees to the agreeing
// auditors, reputations, then the held usage pay by score. Every node
// derives the same list from the same state.
#include <algorithm>
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

// What one block's settlement work carries from offer to offer.
struct Ledgering {
  WorkingState& ws;
  std::uint64_t height = 0;
  std::uint64_t epoch = 0;              // the epoch settled
  Effects& out;
  std::size_t first = 0;                // out's size before the settlement's effects
  std::size_t budget = 0;               // settle_effects_per_block
  std::map<Address, Amount> fees;       // auditor account -> report fees of this slice
  std::size_t used() const { return out.size() - first; }
};

Status emit(Ledgering& l, Effect e) {
  if (Status s = apply_effect(l.ws, e, l.height); !s.ok()) return s;
  l.out.push_back(e);
  return {};
}

Hash256 reason_of(const char* what, const Hash256& id, std::uint64_t epoch) { return pos_settle_reason(what, id, epoch); }

template <typename T>
T decode_stored(const Bytes& frame, const Hash256& id) {
  auto m = pos::decode(frame, pos::PosLimits{});
  BC_ASSERT_MSG(m.ok() && std::holds_alternative<T>(*m), "stored PoS entry %s does not decode", id.hex().c_str());
  return std::get<T>(std::move(*m));
}

// settle_epoch's input for some offers of epoch e: the offers, their
// auditors' probe commitments, reputations and uncontradicted reports. Each
// offer's settlement depends on its own entries only, so a slice settles
// exactly as the whole epoch would.
pos::SettleInput settle_input(const WorkingState& ws, std::uint64_t e, std::vector<pos::Assignment> slice) {
  pos::SettleInput in;
  in.epoch = e;
  in.assignments = std::move(slice);
  for (const pos::Assignment& a : in.assignments) {
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

// Records one settled report in its auditor's agreement record, and owes
// the auditor the report fee when the report agreed and the record does not
// withhold it ("Auditor fees").
void record_agreement(Ledgering& l, const Committee* set, const XOnlyPubKey& auditor, bool disagreed, const pos::PosParams& p) {
  const CommitteeMember* m = set ? find_member(*set, auditor) : nullptr;
  BC_ASSERT(m != nullptr);  // drawn from this committee
  auto v = l.ws.validator(m->address);
  BC_ASSERT(v.has_value());  // a member's validator entry is never deleted
  v->audit_record = pos::record_report(v->audit_record, disagreed);
  l.ws.put_validator(m->address, *v);
  if (!disagreed && !pos::withholds_fees(v->audit_record))
    l.fees[m->address] += p.report_fee;  // at most k * offers fees: bounded far below 2^64 by the entry count
}

// One offer's outcome: its grade's effects, its reputation and pay scale,
// its agreeing auditors' fees.
Status settle_offer(Ledgering& l, const pos::Settlement& s, const Committee* set, const pos::PosParams& p) {
  auto o = l.ws.offer(s.offer_id);
  BC_ASSERT(o.has_value());
  const Hash256 reason = reason_of(pos::to_string(s.grade), s.offer_id, l.epoch);
  if (s.grade != pos::Grade::kUnaudited) o->reputation_bps = s.reputation_bps;
  o->pay_scale_bps = s.pay_scale_bps;  // read by the usage phase of this epoch
  if (s.grade == pos::Grade::kUnstable || s.grade == pos::Grade::kMalicious) o->penalized_in = l.epoch;  // forfeits held-back pay
  l.ws.put_offer(s.offer_id, *o);
  for (const XOnlyPubKey& k : s.agreeing) record_agreement(l, set, k, false, p);
  for (const XOnlyPubKey& k : s.disagreeing) record_agreement(l, set, k, true, p);
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

Status pay_fees(Ledgering& l) {
  const Hash256 reason = reason_of("report-fee", Hash256{}, l.epoch);
  for (const auto& [addr, fee] : l.fees)
    if (fee > 0)
      if (Status s = emit(l, Effect{Effect::Kind::kReward, addr, fee, reason}); !s.ok()) return s;
  l.fees.clear();
  return {};
}

// The most effects one drawn offer can add: burn and ban, and a fee to
// each of its auditors.
std::size_t offer_cost(const pos::Assignment& a) { return 2 + a.auditors.size(); }

// The offers phase: the next drawn offers in offer_id order whose effects
// fit the block's budget (always at least one), then their fees.
Status settle_offers(Ledgering& l, const std::vector<pos::Assignment>& draw, const Committee* set, PosSettling& st) {
  std::vector<pos::Assignment> sorted = draw;
  std::sort(sorted.begin(), sorted.end(), [](const auto& x, const auto& y) { return x.offer_id < y.offer_id; });
  BC_ASSERT(st.offers_done <= sorted.size());
  std::size_t end = st.offers_done, cost = l.used();
  while (end < sorted.size() && (cost == 0 || cost + offer_cost(sorted[end]) <= l.budget)) cost += offer_cost(sorted[end++]);
  const pos::PosParams p = pos_params(l.ws.params());
  std::vector<pos::Assignment> slice(sorted.begin() + static_cast<std::ptrdiff_t>(st.offers_done), sorted.begin() + static_cast<std::ptrdiff_t>(end));
  const pos::EpochResult r = pos::settle_epoch(settle_input(l.ws, l.epoch, std::move(slice)), p);
  for (const pos::Settlement& s : r.settlements)
    if (Status e = settle_offer(l, s, set, p); !e.ok()) return e;
  if (Status e = pay_fees(l); !e.ok()) return e;
  st.offers_done = end;
  if (end == sorted.size()) st.phase = PosSettling::Phase::kUsage;
  return {};
}

// What the usage phase needs of a provider account, from its offers drawn
// with auditors in the epoch settled.
struct ProviderTerms {
  std::uint32_t scale_bps = pos::kBps;        // the lowest pay scale
  std::uint64_t first_epoch = UINT64_MAX;     // the epoch its oldest such offer was registered in
  std::optional<std::uint64_t> penalized_in;  // the latest penalty of any of them
};

std::map<Address, ProviderTerms> provider_terms(const WorkingState& ws, const std::vector<pos::Assignment>& draw) {
  std::map<Address, ProviderTerms> out;
  for (const pos::Assignment& a : draw) {
    if (a.auditors.empty()) continue;
    auto o = ws.offer(a.offer_id);
    BC_ASSERT(o.has_value());
    ProviderTerms& t = out[o->account];
    t.scale_bps = std::min(t.scale_bps, o->pay_scale_bps);
    t.first_epoch = std::min(t.first_epoch, epoch_of(o->registered_at, ws.params()));
    if (o->penalized_in && (!t.penalized_in || *o->penalized_in > *t.penalized_in)) t.penalized_in = o->penalized_in;
  }
  return out;
}

// How one held entry of epoch E is released: paid now, deferred (a new
// provider's hold-back) and refunded; they sum to u.amount.
struct Release {
  Amount pay = 0, defer = 0, refund = 0;
};

Release release_of(const PosUsage& u, const ProviderTerms* t, const pos::PosParams& p, std::uint64_t epoch) {
  std::uint32_t bps = t ? t->scale_bps : 0;
  // Held-back pay is forfeit when the provider was penalised after it was earned.
  if (u.deferred_from && t && t->penalized_in && *t->penalized_in > *u.deferred_from) bps = 0;
  Release r;
  const Amount earned = static_cast<Amount>(static_cast<unsigned __int128>(u.amount) * bps / pos::kBps);
  const bool is_new = t && !u.deferred_from && p.holdback_epochs > 0 && t->first_epoch + p.holdback_epochs > epoch;
  r.defer = is_new ? static_cast<Amount>(static_cast<unsigned __int128>(earned) * p.holdback_bps / pos::kBps) : 0;
  r.pay = earned - r.defer;
  r.refund = u.amount - earned;
  return r;
}

// The usage phase: held entries of the epoch in id order, released whole
// (paid by their provider's scale, a new provider's hold-back deferred, the
// rest back to the client) and deleted, while the entry's effects (one to
// three) fit. *done when none is left.
Status release_usage(Ledgering& l, const std::vector<pos::Assignment>& draw, bool* done) {
  const auto held = l.ws.pos_usages_of(l.epoch);
  const auto terms = held.empty() ? std::map<Address, ProviderTerms>{} : provider_terms(l.ws, draw);
  const pos::PosParams p = pos_params(l.ws.params());
  std::size_t i = 0;
  for (; i < held.size(); ++i) {
    const auto& [id, u] = held[i];
    auto it = terms.find(u.provider);
    const Release r = release_of(u, it == terms.end() ? nullptr : &it->second, p, l.epoch);
    const std::size_t cost = (r.pay > 0) + (r.defer > 0) + (r.refund > 0);
    if (l.used() + cost > l.budget) break;
    const Hash256 reason = reason_of("usage", u.provider, l.epoch);
    for (const auto& [kind, amount] : {std::pair{Effect::Kind::kUsagePay, r.pay}, std::pair{Effect::Kind::kUsageDefer, r.defer},
                                       std::pair{Effect::Kind::kUsageRefund, r.refund}})
      if (amount > 0)
        if (Status s = emit(l, Effect{kind, id, amount, reason}); !s.ok()) return s;
  }
  *done = i == held.size();
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

// This block's part of the settlement `st` names; *done when the epoch is settled.
Status settle_slice(Ledgering& l, PosSettling& st, bool* done) {
  *done = true;
  l.epoch = st.epoch;
  auto draw = assignments_of(l.ws, st.epoch);
  if (!draw) return {};  // no seed: nothing was audited
  const auto set = l.ws.committee(st.epoch);
  const Committee* members = set ? &*set : nullptr;
  if (st.phase == PosSettling::Phase::kOffers) {
    if (Status s = settle_offers(l, *draw, members, st); !s.ok()) return s;
    if (st.phase == PosSettling::Phase::kOffers) {
      *done = false;
      return {};
    }
  }
  if (Status s = release_usage(l, *draw, done); !s.ok() || !*done) return s;
  forget_epoch(l.ws, st.epoch, *draw, members);
  return {};
}

// Settles what is due, in epoch order, within the block's budget: the
// stored unfinished settlement first, else epoch E = now - 2 at the first
// block of now; the next epoch follows in the same block once due.
Status settle_due(WorkingState& ws, std::uint64_t height, Effects& out) {
  const ChainParams& p = ws.params();
  const std::uint64_t now = epoch_of(height, p);
  std::optional<PosSettling> st = ws.pos_settling();
  const bool stored = st.has_value();
  if (!st) {
    if (now < 2 || height != first_height_of(now, p)) return {};
    st = PosSettling{now - 2, PosSettling::Phase::kOffers, 0};
  }
  Ledgering l{ws, height, st->epoch, out, out.size(), settle_effects_per_block(p), {}};
  for (;;) {
    bool done = false;
    if (Status s = settle_slice(l, *st, &done); !s.ok()) return s;
    if (!done) {
      ws.put_pos_settling(*st);
      return {};
    }
    if (st->epoch + 3 > now) break;  // epoch + 1 is settled from the first block of epoch + 3
    st = PosSettling{st->epoch + 1, PosSettling::Phase::kOffers, 0};
  }
  if (stored) ws.delete_pos_settling();
  return {};
}

}  // namespace

Hash256 pos_settle_reason(std::string_view what, const Hash256& id, std::uint64_t epoch) {
  Bytes b(id.bytes.begin(), id.bytes.end());
  append_be64(b, epoch);
  b.insert(b.end(), what.begin(), what.end());
  return tagged_hash("blockcloud/pos-settle/v1", b);
}

std::size_t settle_effects_per_block(const ChainParams& p) {
  return std::clamp<std::size_t>(p.max_block_effects / 4, 16, kSettleEffectsPerBlock);
}

Result<std::vector<Effect>> pos_block_effects(WorkingState& ws, std::uint64_t height) {
  Effects out;
  for (const WorkingState::PosOffence& o : ws.pos_offences()) {
    auto effects = punish_offender(ws, o.offender, o.offence_height, o.reason, height);
    if (!effects.ok()) return effects.status();
    out.insert(out.end(), effects->begin(), effects->end());
  }
  if (Status s = settle_due(ws, height, out); !s.ok()) return s;
  return out;
}

}  // namespace bc::ledger
