// The client pipeline's working memory and the helpers its put, get and
// repair share (private to apps/storage).
#pragma once
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "apps/storage/erasure.hpp"
#include "apps/storage/format.hpp"
#include "apps/storage/manifest.hpp"
#include "apps/storage/messages.hpp"

namespace bc::storage {

// The buffers of one put, get or repair: a segment buffer k shards wide (the
// sealed segment, then zero padding, is exactly the k data shards) and m
// parity shards. Allocated once per call.
struct SegmentBuffers {
  SegmentBuffers(std::uint32_t k, std::uint32_t m, std::uint32_t max_shard)
      : coder(k, m), segment(std::size_t{k} * max_shard), parity(m, Bytes(max_shard)) {}
  std::uint8_t* shard(std::uint32_t j, std::uint32_t shard_size) {
    return j < coder.data_shards() ? segment.data() + std::size_t{j} * shard_size : parity[j - coder.data_shards()].data();
  }
  std::size_t allocated() const { return segment.size() + parity.size() * (parity.empty() ? 0 : parity[0].size()); }
  // Computes the m parity shards from the k data shards in the segment buffer.
  void encode_parity(std::uint32_t shard_size) {
    const std::uint32_t k = coder.data_shards(), total = k + static_cast<std::uint32_t>(parity.size());
    std::vector<const std::uint8_t*> data(k);
    std::vector<std::uint8_t*> out(parity.size());
    for (std::uint32_t j = 0; j < k; ++j) data[j] = shard(j, shard_size);
    for (std::uint32_t j = k; j < total; ++j) out[j - k] = shard(j, shard_size);
    coder.encode(data, out, shard_size);
  }

  ErasureCoder coder;
  Bytes segment;
  std::vector<Bytes> parity;
};

// The buffers of the segments in one exchange (at most kSegmentsInFlight):
// slot 0 is the caller's, the others are allocated when first used, so a
// one-segment file costs one segment's buffers.
class SegmentWindow {
 public:
  SegmentWindow(SegmentBuffers& first, std::uint32_t max_shard) : first_(first), max_shard_(max_shard) {}
  SegmentBuffers& at(std::size_t slot) {
    if (slot == 0) return first_;
    while (more_.size() < slot)
      more_.push_back(std::make_unique<SegmentBuffers>(first_.coder.data_shards(),
                                                       static_cast<std::uint32_t>(first_.parity.size()), max_shard_));
    return *more_[slot - 1];
  }
  std::size_t allocated() const {
    std::size_t n = first_.allocated();
    for (const auto& b : more_) n += b->allocated();
    return n;
  }

 private:
  SegmentBuffers& first_;
  std::uint32_t max_shard_;
  std::vector<std::unique_ptr<SegmentBuffers>> more_;
};

Status unavailable(std::string detail);
// Fills `out` from the source (a pipeline Source) until it is full or the
// source ends; the bytes read.
Result<std::size_t> read_full(const std::function<Result<std::size_t>(std::span<std::uint8_t>)>& source,
                              std::span<std::uint8_t> out);
// An audit answer proves the challenged leaf of shard `shard` of `segment`.
Status check_audit_answer(const Manifest& m, std::uint64_t segment, std::uint32_t shard, const Hash256& seed,
                          const Response& answer);
// A placement gives one distinct, known provider per shard.
Status check_placement(const std::vector<std::size_t>& placement, std::uint32_t shards, std::size_t providers);

}  // namespace bc::storage
