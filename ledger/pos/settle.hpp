// Settlement at an epoch's end (docs/proof-of-service.md, "Settlement"):
// deterministic rules from the epoch's offers, assignments, commitments and
// reports to a per-offer score and graded outcome with its reason. Applying
// the outcome to balances (slash, pay, ban) is the ledger's.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ledger/pos/assign.hpp"
#include "ledger/pos/errors.hpp"
#include "ledger/pos/types.hpp"

namespace bc::pos {

enum class Grade : std::uint8_t { kOk = 1, kOccasional, kUnstable, kMalicious, kUnaudited };
const char* to_string(Grade g);

struct SettleInput {
  std::uint64_t epoch = 0;
  std::vector<Offer> offers;
  std::vector<Assignment> assignments;                // from assign_auditors for this epoch
  std::map<XOnlyPubKey, Hash256> probe_commitments;   // auditor -> probe_commitment for this epoch
  std::map<Hash256, std::uint32_t> reputation_bps;    // offer_id -> R_{e-1}; absent: 10000 (new)
  std::vector<Report> reports;
};

struct Settlement {
  Hash256 offer_id;
  Grade grade = Grade::kUnaudited;
  std::optional<std::uint32_t> score_bps;  // the median; none when unaudited or malicious
  std::uint32_t reputation_bps = kBps;     // R_e
  std::uint64_t slash = 0;                 // from the provider bond
  std::uint32_t pay_scale_bps = 0;         // usage pay multiplier
  std::string reason;
  std::vector<XOnlyPubKey> agreeing;       // auditors earning the report fee
  std::vector<XOnlyPubKey> disagreeing;
};

struct Rejected {
  Hash256 offer_id;
  XOnlyPubKey auditor;
  Error reason = Error::kOk;
};

struct EpochResult {
  std::vector<Settlement> settlements;  // one per offer, in offer_id order
  std::vector<ReportEvidence> evidence;  // contradicting reports: slash the auditor like a double vote
  std::vector<Rejected> rejected;
};

// 10000 * passes / probes; precondition: probes not empty.
std::uint32_t auditor_score(const Report& r);

// ReportEvidence when a and b are validly signed by one auditor for one
// (epoch, offer) and differ; otherwise the reason they are not.
Result<ReportEvidence> find_contradiction(const Report& a, const Report& b);

// A storage offer with evidence that proves_storage_malice (ledger/pos/storage_proof.hpp) is malicious.
EpochResult settle_epoch(const SettleInput& in, const PosParams& params);

}  // namespace bc::pos
