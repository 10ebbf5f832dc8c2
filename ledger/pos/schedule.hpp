// Secret probe times (docs/proof-of-service.md, "Probe schedule"). An
// auditor commits to a secret before the epoch seed is known and reveals it
// in its reports; the times follow from the secret, so the provider cannot
// foresee them and the auditor cannot choose them.
#pragma once
#include <cstdint>
#include <vector>

#include "ledger/pos/types.hpp"
#include "layers/status.hpp"

namespace bc::pos {

Hash256 probe_commitment(const Hash256& secret, const XOnlyPubKey& auditor, std::uint64_t epoch);

struct ProbeTime {
  std::uint32_t index = 0;
  std::uint64_t at_ms = 0;  // offset from the epoch's start, < epoch_ms
  friend bool operator==(const ProbeTime&, const ProbeTime&) = default;
};

// `count` probe times for one offer, sorted by time (ties by index).
std::vector<ProbeTime> probe_schedule(const Hash256& secret, std::uint64_t epoch, const Hash256& offer_id,
                                      std::uint32_t count, std::uint64_t epoch_ms);

// What storage probe `index` of an offer with `chunks` chunks asks: chunk
// = H mod chunks and the audit seed = H, with H = tagged_hash(
// "blockcloud/pos-storage-challenge/v1", secret || epoch || offer_id || index).
// Like the times, unknown to the provider until the probe comes.
struct StorageChallenge {
  std::uint64_t chunk = 0;
  Hash256 seed;
  friend bool operator==(const StorageChallenge&, const StorageChallenge&) = default;
};
// REQUIRES: chunks > 0.
StorageChallenge storage_challenge(const Hash256& secret, std::uint64_t epoch, const Hash256& offer_id,
                                   std::uint32_t index, std::uint64_t chunks);

// The report's secret matches `commitment`, it has exactly
// params.probes_per_auditor probes with indexes 0..c-1 in order, each at its
// scheduled time and with 1..max_attempts attempts.
Status check_schedule(const Report& r, const Hash256& commitment, const PosParams& params);

}  // namespace bc::pos
