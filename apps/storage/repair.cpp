// Verify and repair (docs/storage.md "Repair"): the owner audits every shard
// of a file and rebuilds the shards of lost providers onto new ones.
#include <algorithm>
#include <map>
#include <set>

#include "apps/storage/detail/segment_buffers.hpp"
#include "apps/storage/merkle.hpp"
#include "apps/storage/pipeline.hpp"
#include "layers/assert.hpp"
#include "layers/crypto.hpp"

namespace bc::storage {
namespace {

// The placement after repair: each lost shard index moves to its
// replacement. A lost index may keep its provider (re-putting onto a
// provider that lost its disk).
Result<std::vector<std::size_t>> repaired_placement(const std::vector<std::size_t>& placement,
                                                     const std::vector<std::uint32_t>& lost,
                                                     const std::vector<std::size_t>& replacements,
                                                     std::size_t providers) {
  if (lost.size() != replacements.size())
    return fail(Error::kBadShape, "repair needs one replacement provider per lost shard");
  std::set<std::uint32_t> distinct(lost.begin(), lost.end());
  if (distinct.size() != lost.size()) return fail(Error::kBadShape, "a lost shard is named twice");
  std::vector<std::size_t> out = placement;
  for (std::size_t x = 0; x < lost.size(); ++x) {
    if (lost[x] >= out.size()) return fail(Error::kBadShape, "lost shard " + std::to_string(lost[x]) + " does not exist");
    out[lost[x]] = replacements[x];
  }
  Status s = check_placement(out, static_cast<std::uint32_t>(out.size()), providers);
  if (!s.ok()) return fail(Error::kBadShape, "replacements: " + s.message + "; choose providers that hold no other shard of the file");
  return out;
}

}  // namespace

std::vector<std::uint32_t> FileHealth::unhealthy() const {
  std::vector<std::uint32_t> out;
  for (std::uint32_t j = 0; j < failed.size(); ++j)
    if (failed[j] > 0) out.push_back(j);
  return out;
}

// Audits every shard of one segment in one exchange; counts failures per
// shard index in `health` and returns how many shards passed.
std::uint32_t StorageClient::audit_segment(const Manifest& m, const std::vector<std::size_t>& placement,
                                           std::uint64_t segment, FileHealth& health) {
  const std::uint32_t total = m.shape.total_shards();
  std::vector<ShardTransport::Call> calls;
  std::map<std::uint64_t, std::pair<std::uint32_t, Hash256>> asked;  // request id -> shard, challenge
  for (std::uint32_t j = 0; j < total; ++j) {
    Hash256 seed;
    random_bytes(seed.bytes);
    asked[next_request_] = {j, seed};
    calls.push_back(audit_call(m, placement, segment, j, seed));
  }
  std::vector<bool> passed(total, false);
  for (auto& a : exchange(std::move(calls), 0)) {
    auto r = decode_response(a.response);
    if (!r.ok()) continue;
    auto it = asked.find(r->request_id);
    if (it == asked.end()) continue;
    const auto [j, seed] = it->second;
    passed[j] = check_audit_answer(m, segment, j, seed, *r).ok();
  }
  health.audits += total;
  std::uint32_t good = 0;
  for (std::uint32_t j = 0; j < total; ++j) passed[j] ? ++good : ++health.failed[j];
  return good;
}

Result<FileHealth> StorageClient::verify(const StoredFile& file) {
  auto m = open_file(file);
  if (!m.ok()) return m.status();
  FileHealth health;
  health.data_shards = m->shape.data_shards;
  health.failed.assign(m->shape.total_shards(), 0);
  health.worst_segment_good = m->shape.total_shards();
  for (std::uint64_t i = 0; i < m->shape.segment_count(); ++i)
    health.worst_segment_good = std::min(health.worst_segment_good, audit_segment(*m, file.placement, i, health));
  return health;
}

Result<StoredFile> StorageClient::repair(const StoredFile& file, const std::vector<std::uint32_t>& lost,
                                         const std::vector<std::size_t>& replacements, TimeMs expires_at,
                                         const std::vector<Hash256>& escrows) {
  auto m = open_file(file);
  if (!m.ok()) return m.status();
  auto placement = repaired_placement(file.placement, lost, replacements, transport_.providers());
  if (!placement.ok()) return placement.status();
  if (lost.empty()) return file;
  const Shape& shape = m->shape;
  SegmentBuffers b(shape.data_shards, shape.parity_shards, shape.max_shard_size());
  for (std::uint64_t i = 0; i < shape.segment_count(); ++i) {
    Status s = rebuild_segment(b, *m, file, i, lost, replacements, expires_at, escrows);
    if (!s.ok()) return fail(error_of(s), "repair stopped at segment " + std::to_string(i) + ": " + s.message);
  }
  StoredFile out = file;
  out.placement = std::move(placement).value();
  forget_old_copies(*m, file.placement, out.placement, lost);
  return out;
}

// Fetches k good shards of segment i, recomputes the lost ones (data shards
// by decoding, parity by encoding) and puts them on their replacements.
Status StorageClient::rebuild_segment(SegmentBuffers& b, const Manifest& m, const StoredFile& file, std::uint64_t i,
                                      const std::vector<std::uint32_t>& lost,
                                      const std::vector<std::size_t>& replacements, TimeMs expires_at,
                                      const std::vector<Hash256>& escrows) {
  Status s = fetch_segment(b, m, file.placement, i);
  if (!s.ok()) return s;
  const std::uint32_t size = m.shape.shard_size(i);
  b.encode_parity(size);
  std::vector<ShardPut> puts;
  for (std::size_t x = 0; x < lost.size(); ++x) {
    const ByteView shard(b.shard(lost[x], size), size);
    // The k shards used were checked against their roots and the code is
    // deterministic, so a rebuilt shard is the one the manifest commits to.
    BC_ASSERT_MSG(shard_root(shard) == m.root(i, lost[x]), "a rebuilt shard differs from its manifest root");
    puts.push_back({replacements[x], m.root(i, lost[x]), shard, x < escrows.size() ? escrows[x] : Hash256{}});
  }
  s = send_puts(puts, m.file_salt, expires_at, b.allocated());
  if (s.ok()) stats_.shards_repaired += puts.size();
  return s;
}

// Best effort: asks the old providers of the lost shards to delete them (a
// provider that is gone answers nothing; one that kept them frees the space).
// A shard re-put onto its old provider is kept.
void StorageClient::forget_old_copies(const Manifest& m, const std::vector<std::size_t>& old_placement,
                                      const std::vector<std::size_t>& new_placement,
                                      const std::vector<std::uint32_t>& lost) {
  for (std::uint64_t i = 0; i < m.shape.segment_count(); ++i) {
    std::vector<ShardTransport::Call> calls;
    for (std::uint32_t j : lost) {
      if (old_placement[j] == new_placement[j]) continue;
      const ShardId root = m.root(i, j);
      const Request req{next_request_++, DeleteShardRequest{root, delete_token(master_, m.file_salt, root)}};
      calls.push_back({old_placement[j], encode_request(req)});
    }
    if (!calls.empty()) (void)exchange(std::move(calls), 0);
  }
}

}  // namespace bc::storage
