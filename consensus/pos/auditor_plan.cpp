#include "consensus/pos/auditor_plan.hpp"

#include <algorithm>

#include "layers/assert.hpp"
#include "ledger/pos/codec.hpp"
#include "ledger/pos_ledger.hpp"
#include "ledger/validators.hpp"

namespace bc::pos {

namespace {

std::uint64_t epoch_at(std::uint64_t height, std::uint64_t epoch_length) {
  return height == 0 ? 0 : (height - 1) / epoch_length;  // ledger::epoch_of without the params
}

}  // namespace

CommitPlan plan_commitments(const CommitFacts& f) {
  BC_ASSERT(f.epoch_length > 0);
  CommitPlan plan;
  if (!f.may_commit) return plan;
  const std::uint64_t now = epoch_at(f.next_height, f.epoch_length);
  for (std::uint64_t e = now + 2; e < now + 2 + kCommitAhead; ++e)
    if (!f.committed.count(e) && !f.pending_commits.count(e)) plan.commit.push_back(e);
  const std::uint64_t next = now + 1;
  if (f.committed.count(next) && !f.revealed.count(next) && !f.pending_reveals.count(next)) plan.reveal.push_back(next);
  return plan;
}

CommitFacts commit_facts(const ledger::State& state, const XOnlyPubKey& auditor, const ledger::Address& account,
                         std::uint64_t next_height) {
  CommitFacts f;
  f.next_height = next_height;
  f.epoch_length = state.params().epoch_length;
  const ledger::Validator* v = state.validator(account);
  f.may_commit = v && v->status != ledger::Validator::Status::kBanned && v->consensus_key == auditor;
  const std::uint64_t now = ledger::epoch_of(next_height, state.params());
  for (std::uint64_t e = now; e < now + 2 + kCommitAhead; ++e) {
    const ledger::PosCommitment* c = state.pos_commit(ledger::pos_commit_id(auditor, e));
    if (!c) continue;
    f.committed.insert(e);
    if (c->reveal) f.revealed.insert(e);
  }
  return f;
}

std::optional<std::vector<Offer>> assigned_offers(const ledger::State& state, const XOnlyPubKey& auditor,
                                                  std::uint64_t epoch) {
  const ledger::WorkingState ws(state);
  const ledger::WorkingState::AssignmentDraw draw = ledger::assignments_of(ws, epoch);
  if (!draw) return std::nullopt;
  std::vector<Offer> out;
  for (const Assignment& a : *draw) {
    if (std::find(a.auditors.begin(), a.auditors.end(), auditor) == a.auditors.end()) continue;
    const ledger::ProviderOffer* o = state.offer(a.offer_id);
    BC_ASSERT(o != nullptr);  // drawn from the offer entries, never deleted
    auto m = decode(o->offer, PosLimits{});
    BC_ASSERT(m.ok() && std::holds_alternative<Offer>(*m));  // encoded by the ledger itself
    out.push_back(std::get<Offer>(std::move(*m)));
  }
  return out;
}

bool should_finish_epoch(std::uint64_t epoch, std::uint64_t head, std::uint64_t epoch_length, bool idle) {
  BC_ASSERT(epoch_length > 0);
  const std::uint64_t next_start = (epoch + 1) * epoch_length + 1;  // first_height_of(epoch + 1)
  if (head < next_start) return false;
  return idle || head >= next_start + epoch_length / 2;
}

std::uint64_t report_deadline(std::uint64_t epoch, std::uint64_t epoch_length) { return (epoch + 2) * epoch_length; }

}  // namespace bc::pos
