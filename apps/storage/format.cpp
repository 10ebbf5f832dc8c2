#include "apps/storage/format.hpp"

#include "layers/assert.hpp"

namespace bc::storage {
namespace {

const char* error_name(Error e) {
  switch (e) {
    case Error::kOk: return "ok";
    case Error::kMalformed: return "malformed";
    case Error::kOversized: return "oversized";
    case Error::kTruncated: return "truncated";
    case Error::kBadRoot: return "bad_root";
    case Error::kExpired: return "expired";
    case Error::kQuotaExceeded: return "quota_exceeded";
    case Error::kNotFound: return "not_found";
    case Error::kBadToken: return "bad_token";
    case Error::kBusy: return "busy";
    case Error::kIo: return "io";
    case Error::kAuthFailed: return "auth_failed";
    case Error::kBadProof: return "bad_proof";
    case Error::kNotEnoughShards: return "not_enough_shards";
    case Error::kBadShape: return "bad_shape";
    case Error::kCorrupt: return "corrupt";
    case Error::kUnknownCode: return "unknown_code";
    case Error::kCommitted: return "committed";
  }
  return "unknown_code";
}

class StorageCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "storage"; }
  std::string message(int value) const override { return error_name(static_cast<Error>(value)); }
};

}  // namespace

const std::error_category& storage_category() {
  static const StorageCategory category;
  return category;
}

std::error_code make_error_code(Error e) { return {static_cast<int>(e), storage_category()}; }

Error error_of(const Status& s) {
  if (s.ok()) return Error::kOk;
  if (s.code.category() != storage_category()) return Error::kUnknownCode;
  return static_cast<Error>(s.code.value());
}

std::uint32_t Shape::plain_len(std::uint64_t i) const {
  BC_ASSERT(i < segment_count());
  const std::uint64_t start = i * segment_size;
  const std::uint64_t left = file_size - start;
  return static_cast<std::uint32_t>(left < segment_size ? left : segment_size);
}

std::uint32_t Shape::shard_size(std::uint64_t i) const {
  BC_ASSERT(data_shards > 0);
  return static_cast<std::uint32_t>((plain_len(i) + kTagBytes + data_shards - 1) / data_shards);
}

std::uint32_t Shape::max_shard_size() const {
  BC_ASSERT(data_shards > 0);
  const std::uint64_t full = file_size < segment_size ? file_size : segment_size;
  return static_cast<std::uint32_t>((full + kTagBytes + data_shards - 1) / data_shards);
}

Status check_shape(const Shape& s) {
  if (s.data_shards < 1 || s.data_shards > kMaxDataShards) return fail(Error::kBadShape, "data shards out of range");
  if (s.parity_shards > kMaxParityShards) return fail(Error::kBadShape, "parity shards out of range");
  if (s.total_shards() > kMaxTotalShards) return fail(Error::kBadShape, "too many shards");
  if (s.segment_size < kMinSegmentSize || s.segment_size > kMaxSegmentSize)
    return fail(Error::kBadShape, "segment size out of range");
  if (s.file_size >= kMaxFileSize) return fail(Error::kBadShape, "file too large");
  if ((s.segment_size + kTagBytes + s.data_shards - 1) / s.data_shards > kMaxShardBytes)
    return fail(Error::kBadShape, "shards would exceed the shard limit");
  return Status::success();
}

}  // namespace bc::storage
