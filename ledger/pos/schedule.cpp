#include "ledger/pos/schedule.hpp"

#include <algorithm>

#include "ledger/pos/errors.hpp"
#include "layers/assert.hpp"

namespace bc::pos {
namespace {

void put_u64(Bytes& out, std::uint64_t v) {
  for (int i = 7; i >= 0; --i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

void put(Bytes& out, ByteView v) { out.insert(out.end(), v.begin(), v.end()); }

// tagged_hash(tag, secret || epoch || offer_id || i): what probe i of an offer does, and when.
Hash256 probe_draw(std::string_view tag, const Hash256& secret, std::uint64_t epoch, const Hash256& offer_id,
                   std::uint32_t i) {
  Bytes data;
  put(data, secret.view());
  put_u64(data, epoch);
  put(data, offer_id.view());
  put_u64(data, i);
  return tagged_hash(tag, data);
}

std::uint64_t probe_time(const Hash256& secret, std::uint64_t epoch, const Hash256& offer_id, std::uint32_t i,
                         std::uint64_t epoch_ms) {
  return detail::be_word(probe_draw("blockcloud/pos-probe-time/v1", secret, epoch, offer_id, i), 0) % epoch_ms;
}

Status error(Error e, std::string detail) { return fail(make_error_code(e), std::move(detail)); }

}  // namespace

Hash256 probe_commitment(const Hash256& secret, const XOnlyPubKey& auditor, std::uint64_t epoch) {
  Bytes data;
  put(data, secret.view());
  put(data, auditor.view());
  put_u64(data, epoch);
  return tagged_hash("blockcloud/pos-probe-commit/v1", data);
}

StorageChallenge storage_challenge(const Hash256& secret, std::uint64_t epoch, const Hash256& offer_id,
                                   std::uint32_t index, std::uint64_t chunks) {
  BC_ASSERT(chunks > 0);
  const Hash256 h = probe_draw("blockcloud/pos-storage-challenge/v1", secret, epoch, offer_id, index);
  return {detail::be_word(h, 0) % chunks, h};
}

std::vector<ProbeTime> probe_schedule(const Hash256& secret, std::uint64_t epoch, const Hash256& offer_id,
                                      std::uint32_t count, std::uint64_t epoch_ms) {
  BC_ASSERT(epoch_ms > 0);
  std::vector<ProbeTime> out;
  out.reserve(count);
  for (std::uint32_t i = 0; i < count; ++i) out.push_back({i, probe_time(secret, epoch, offer_id, i, epoch_ms)});
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.at_ms != b.at_ms ? a.at_ms < b.at_ms : a.index < b.index; });
  return out;
}

Status check_schedule(const Report& r, const Hash256& commitment, const PosParams& params) {
  if (probe_commitment(r.secret, r.auditor, r.epoch) != commitment)
    return error(Error::kBadCommitment, "probe secret does not match the commitment");
  if (r.probes.size() != params.probes_per_auditor) return error(Error::kBadSchedule, "wrong probe count");
  for (std::uint32_t i = 0; i < r.probes.size(); ++i) {
    const ProbeRecord& p = r.probes[i];
    if (p.index != i) return error(Error::kBadSchedule, "probe indexes not 0..c-1 in order");
    if (p.scheduled_ms != probe_time(r.secret, r.epoch, r.offer_id, i, params.epoch_ms))
      return error(Error::kBadSchedule, "probe time differs from the schedule");
    if (p.attempts == 0 || p.attempts > params.max_attempts) return error(Error::kBadSchedule, "attempts out of range");
  }
  return Status::success();
}

}  // namespace bc::pos
