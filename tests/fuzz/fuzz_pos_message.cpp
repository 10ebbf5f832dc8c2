// libFuzzer target: hostile bytes -> the Proof-of-Service codec -> settlement.
//
// Checks that decode() never crashes and says why it refuses, that a decoded
// offer or report re-encodes to one that decodes equal, and that a decoded
// report fed to check_schedule and settle_epoch (with its auditor assigned
// and its own secret committed, so the checks past the signature run) leaves
// every BC_ASSERT standing. The fuzzer cannot forge signatures, so most
// reports stop at the signature check; the codec and schedule checks are
// what it explores.
#include <cstddef>
#include <cstdint>

#include "ledger/pos/assign.hpp"
#include "ledger/pos/codec.hpp"
#include "ledger/pos/errors.hpp"
#include "ledger/pos/schedule.hpp"
#include "ledger/pos/settle.hpp"
#include "ledger/pos/storage_proof.hpp"

using namespace bc;
using namespace bc::pos;

namespace {

void require(bool ok) {
  if (!ok) __builtin_trap();
}

void exercise_offer(const Offer& o) {
  (void)verify_offer(o);
  std::vector<StakeEntry> stakes;
  for (std::uint8_t i = 1; i <= 4; ++i) {
    XOnlyPubKey k;
    k.bytes[0] = i;
    stakes.push_back({k, account_address(i == 1 ? o.owner : k), i * 100u});
  }
  auto a = assign_auditors(o.service_id, {o}, stakes, 3);
  require(a.size() == 1 && a[0].auditors.size() <= 3);
  SettleInput in;
  in.offers = {o};
  in.assignments = a;
  auto res = settle_epoch(in, PosParams{});
  require(res.settlements.size() == 1 && res.settlements[0].grade == Grade::kUnaudited);
}

void exercise_report(const Report& r) {
  PosParams params;
  const Hash256 commitment = probe_commitment(r.secret, r.auditor, r.epoch);
  Status s = check_schedule(r, commitment, params);
  require(s.ok() || s.code.category() == error_category());
  if (!r.probes.empty()) require(auditor_score(r) <= kBps);

  Offer o;
  o.kind = ServiceKind::kStorage;
  o.storage_chunks = 1;
  o.bond = 1000;
  SettleInput in;
  in.epoch = r.epoch;
  in.offers = {o};
  in.assignments = {Assignment{offer_id(o), {r.auditor}}};
  in.probe_commitments[r.auditor] = commitment;
  // Hostile storage evidence runs the Merkle checks (sizes, indexes and
  // paths of any value); unsigned by the offer's provider, it never convicts.
  for (const StorageEvidence& e : r.evidence) {
    (void)storage_answer_mismatch(e.answer);
    require(!proves_storage_malice(o, e));
  }
  Report mine = r;
  mine.offer_id = offer_id(o);
  in.reports = {mine, mine};
  auto res = settle_epoch(in, params);
  require(res.settlements.size() == 1);
  require(res.settlements[0].slash <= o.bond);
  require(res.rejected.size() >= 1);  // at least the second copy, or both for a bad signature
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  PosLimits limits;
  limits.max_frame_bytes = 64u << 10;
  auto decoded = decode(ByteView(data, size), limits);
  if (!decoded.ok()) {
    require(decoded.status().code.category() == error_category());
    return 0;
  }
  const Bytes again = encode(*decoded);
  auto round = decode(again, PosLimits{});
  require(round.ok() && *round == *decoded);
  if (auto* o = std::get_if<Offer>(&*decoded)) {
    exercise_offer(*o);
  } else {
    exercise_report(std::get<Report>(*decoded));
  }
  return 0;
}
