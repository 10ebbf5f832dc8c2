// posReport (docs/proof-of-service.md, "Ledger rules"): an auditor's signed
// report, checked against the epoch's draw and the auditor's commitment and
// recorded once. A second, different report of the same auditor for the
// same (epoch, offer) is ReportEvidence: the auditor is punished like a
// double vote, by the block's effects. Everything is checked before
// anything is written.
#include "layers/assert.hpp"
#include "ledger/detail/apply_tx.hpp"
#include "ledger/pos/codec.hpp"
#include "ledger/pos/schedule.hpp"
#include "ledger/pos/settle.hpp"
#include "ledger/pos_ledger.hpp"
#include "ledger/validators.hpp"

namespace bc::ledger::detail {

namespace {

std::string num(std::uint64_t v) { return std::to_string(v); }

// Reports for epoch e are accepted in epochs e and e + 1 (report_window_epochs = 1).
Status check_window(const pos::Report& r, std::uint64_t now) {
  if (r.epoch > now) return fail(Error::kTooEarly, "report for epoch " + num(r.epoch) + " before that epoch; this is epoch " + num(now));
  if (r.epoch + 1 < now)
    return fail(Error::kLate, "report for epoch " + num(r.epoch) + " after its window closed at the end of epoch " + num(r.epoch + 1) +
                                  "; this is epoch " + num(now));
  return {};
}

Status check_assigned(const WorkingState& ws, const pos::Report& r) {
  auto draw = assignments_of(ws, r.epoch);
  if (draw)
    for (const pos::Assignment& a : *draw)
      if (a.offer_id == r.offer_id)
        for (const XOnlyPubKey& k : a.auditors)
          if (k == r.auditor) return {};
  return fail(Error::kNotAssigned, "auditor " + to_hex(r.auditor.view()) + " was not drawn for offer " + r.offer_id.hex() + " in epoch " +
                                       num(r.epoch));
}

Status check_against_commitment(const WorkingState& ws, const pos::Report& r) {
  auto commit = ws.pos_commit(pos_commit_id(r.auditor, r.epoch));
  if (!commit) return fail(Error::kBadCommitment, "auditor " + to_hex(r.auditor.view()) + " made no probe commitment for epoch " + num(r.epoch));
  Status s = pos::check_schedule(r, commit->probe_commitment, pos_params(ws.params()));
  if (s.ok()) return {};
  const bool secret = s.code == pos::Error::kBadCommitment;
  return fail(secret ? Error::kBadCommitment : Error::kBadSchedule, "report of auditor " + to_hex(r.auditor.view()) + ": " + s.message);
}

// A different report for an already recorded (epoch, offer, auditor):
// ReportEvidence. The auditor (a member of the epoch's committee, since it
// was drawn) loses stake as for a double vote and is banned, by the block's
// effects after its transactions (pos_block_effects), once per block.
Status record_contradiction(TxContext& c, const pos::Report& r, PosReportRecord rec, const Hash256& id) {
  auto stored = pos::decode(rec.report, pos::PosLimits{});
  BC_ASSERT_MSG(stored.ok() && std::holds_alternative<pos::Report>(*stored), "stored report %s does not decode", id.hex().c_str());
  auto evidence = pos::find_contradiction(std::get<pos::Report>(*stored), r);
  BC_ASSERT_MSG(evidence.ok(), "two verified reports of one auditor, epoch and offer must contradict: %s", evidence.status().text().c_str());
  auto set = c.ws.committee(r.epoch);
  const CommitteeMember* m = set ? find_member(*set, r.auditor) : nullptr;
  BC_ASSERT(m != nullptr);  // check_assigned drew it from this committee
  auto v = c.ws.validator(m->address);
  bool pending = false;
  for (const auto& o : c.ws.pos_offences()) pending = pending || o.offender == m->address;
  if (!v || v->status == Validator::Status::kBanned || pending)
    return fail(Error::kBanned, "auditor " + to_hex(r.auditor.view()) + " is already banned" + (pending ? " by this block" : "") +
                                    "; its contradiction is not punished twice");
  c.ws.add_pos_offence({m->address, first_height_of(r.epoch, c.ws.params()), report_evidence_hash(*evidence)});
  rec.contradicted = true;
  c.ws.put_pos_report(id, rec);
  c.ws.put_account(c.tx.sender, c.sender);
  return {};
}

}  // namespace

Status apply_payload(TxContext& c, const PosReport& t) {
  const pos::Report& r = t.report;
  const ChainParams& p = c.ws.params();
  if (Status s = check_window(r, epoch_of(c.height, p)); !s.ok()) return s;
  auto offer = c.ws.offer(r.offer_id);
  if (!offer || !active_at_start(*offer, r.epoch, p))
    return fail(Error::kUnknownOffer, "offer " + r.offer_id.hex() + " was not active at the start of epoch " + num(r.epoch));
  if (Status s = check_assigned(c.ws, r); !s.ok()) return s;
  if (Status s = check_against_commitment(c.ws, r); !s.ok()) return s;
  const Hash256 id = pos_report_id(r.epoch, r.offer_id, r.auditor);
  const Hash256 digest = pos::report_digest(r);
  if (auto prev = c.ws.pos_report(id)) {
    if (prev->digest == digest) return fail(Error::kDuplicate, "this report is already on chain (a replay)");
    if (prev->contradicted)
      return fail(Error::kDuplicate, "auditor " + to_hex(r.auditor.view()) + " was already punished for contradicting reports of this offer and epoch");
    return record_contradiction(c, r, *prev, id);
  }
  c.ws.put_pos_report(id, PosReportRecord{digest, false, pos::encode(pos::Message{r})});
  c.ws.put_account(c.tx.sender, c.sender);
  return {};
}

}  // namespace bc::ledger::detail
