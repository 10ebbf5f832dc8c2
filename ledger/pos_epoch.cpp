#include <algorithm>

#include "layers/assert.hpp"
#include "ledger/pos/codec.hpp"
#include "ledger/pos_ledger.hpp"
#include "ledger/validators.hpp"

namespace bc::ledger {

Hash256 pos_commit_id(const XOnlyPubKey& auditor, std::uint64_t epoch) {
  Bytes buf(auditor.bytes.begin(), auditor.bytes.end());
  append_be64(buf, epoch);
  return tagged_hash("blockcloud/pos-commit-id/v1", buf);
}

Hash256 pos_report_id(std::uint64_t epoch, const Hash256& offer_id, const XOnlyPubKey& auditor) {
  Bytes buf;
  append_be64(buf, epoch);
  buf.insert(buf.end(), offer_id.bytes.begin(), offer_id.bytes.end());
  buf.insert(buf.end(), auditor.bytes.begin(), auditor.bytes.end());
  return tagged_hash("blockcloud/pos-report-id/v1", buf);
}

Hash256 report_evidence_hash(const pos::ReportEvidence& e) {
  Hash256 a = pos::report_digest(e.a), b = pos::report_digest(e.b);
  if (b < a) std::swap(a, b);
  Bytes buf(a.bytes.begin(), a.bytes.end());
  buf.insert(buf.end(), b.bytes.begin(), b.bytes.end());
  return tagged_hash("blockcloud/pos-report-evidence/v1", buf);
}

std::uint64_t first_height_of(std::uint64_t epoch, const ChainParams& p) {
  std::uint64_t h = 0;
  if (__builtin_mul_overflow(epoch, p.epoch_length, &h) || h == UINT64_MAX) return UINT64_MAX;
  return h + 1;
}

bool active_at_start(const ProviderOffer& o, std::uint64_t epoch, const ChainParams& p) {
  const std::uint64_t start = first_height_of(epoch, p);
  if (o.registered_at >= start) return false;
  return o.status == ProviderOffer::Status::kActive || o.ended_at >= start;
}

void begin_pos_block(WorkingState& ws, std::uint64_t height, const Hash256& prev_hash) {
  const ChainParams& p = ws.params();
  const std::uint64_t e = epoch_of(height, p);
  if (height == 0 || height != first_height_of(e, p)) return;
  if (e == 0) {
    ws.put_pos_seed(0, PosSeed{prev_hash});
    return;
  }
  std::vector<std::pair<XOnlyPubKey, Hash256>> reveals;
  if (auto set = ws.committee(e))
    for (const CommitteeMember& m : set->members)
      if (auto c = ws.pos_commit(pos_commit_id(m.consensus_key, e)); c && c->reveal) reveals.emplace_back(m.consensus_key, *c->reveal);
  const auto prev = ws.pos_seed(e - 1);
  ws.put_pos_seed(e, PosSeed{pos::derive_seed(prev ? prev->seed : prev_hash, e, std::move(reveals))});
}

WorkingState::AssignmentDraw assignments_of(const WorkingState& ws, std::uint64_t epoch) {
  if (auto cached = ws.cached_assignments(epoch)) return cached;
  const ChainParams& p = ws.params();
  const auto seed = ws.pos_seed(epoch);
  if (!seed) return nullptr;
  std::vector<pos::Offer> offers;
  for (const auto& [id, o] : ws.all_offers()) {
    if (!active_at_start(o, epoch, p)) continue;
    auto m = pos::decode(o.offer, pos::PosLimits{});
    BC_ASSERT_MSG(m.ok() && std::holds_alternative<pos::Offer>(*m), "stored offer %s does not decode", id.hex().c_str());
    offers.push_back(std::get<pos::Offer>(std::move(*m)));
  }
  std::vector<pos::StakeEntry> stakes;
  if (auto set = ws.committee(epoch))
    for (const CommitteeMember& m : set->members) stakes.push_back(pos::StakeEntry{m.consensus_key, m.address, m.power});
  auto draw = std::make_shared<const std::vector<pos::Assignment>>(
      pos::assign_auditors(seed->seed, offers, stakes, pos_params(p).auditors_per_offer));
  ws.cache_assignments(epoch, draw);
  return draw;
}

}  // namespace bc::ledger
