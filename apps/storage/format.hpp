// Storage formats shared by the client, the provider and the codecs: limits,
// the shape of a file (segments and shards) and the error codes every part
// returns. docs/storage.md is the specification.
#pragma once
#include <cstdint>
#include <string>
#include <system_error>

#include "layers/bytes.hpp"
#include "layers/status.hpp"

namespace bc::storage {

inline constexpr std::uint32_t kMaxShardBytes = 4u << 20;
inline constexpr std::uint32_t kMinSegmentSize = 64u << 10;
inline constexpr std::uint32_t kMaxSegmentSize = 16u << 20;
inline constexpr std::uint32_t kDefaultSegmentSize = 4u << 20;
inline constexpr std::uint32_t kLeafSize = 1024;
inline constexpr std::uint32_t kMaxDataShards = 32;
inline constexpr std::uint32_t kMaxParityShards = 32;
inline constexpr std::uint32_t kMaxTotalShards = 48;
inline constexpr std::uint64_t kMaxFileSize = std::uint64_t{1} << 48;
inline constexpr std::size_t kTagBytes = 16;  // AES-GCM tag
inline constexpr std::size_t kMaxProofHashes = 32;
inline constexpr std::size_t kMaxReasonBytes = 256;
inline constexpr std::size_t kMaxNameBytes = 255;
inline constexpr std::size_t kMaxRequestBytes = kMaxShardBytes + 4096;
inline constexpr std::size_t kMaxResponseBytes = kMaxShardBytes + (64u << 10);

using ShardId = Hash256;

// Why storage refused or failed something. Names (Status::name()) are
// stable snake_case metric labels; numeric values travel on the wire.
enum class Error {
  kOk = 0,
  kMalformed = 1,
  kOversized = 2,
  kTruncated = 3,
  kBadRoot = 4,          // put data does not hash to its shard ID; a fetched shard fails its root
  kExpired = 5,
  kQuotaExceeded = 6,
  kNotFound = 7,
  kBadToken = 8,
  kBusy = 9,
  kIo = 10,
  kAuthFailed = 11,      // AES-GCM tag did not verify
  kBadProof = 12,        // a Merkle audit proof does not lead to the root
  kNotEnoughShards = 13, // fewer than k good shards for a segment
  kBadShape = 14,        // k, m, segment size or file size outside the limits
  kCorrupt = 15,         // the store disagrees with itself
  kUnknownCode = 16,     // a peer sent a code this build does not know
  kCommitted = 17,       // a delete of a shard a storage offer commits to: kept until its chunk list is released
};
inline constexpr int kMaxErrorValue = 17;

const std::error_category& storage_category();
std::error_code make_error_code(Error e);
inline Status fail(Error e, std::string detail) { return Status{make_error_code(e), std::move(detail)}; }
// The storage::Error of a status of this category, kUnknownCode otherwise.
Error error_of(const Status& s);

// The shape of one file: how it is cut into segments and shards.
struct Shape {
  std::uint64_t file_size = 0;
  std::uint32_t segment_size = kDefaultSegmentSize;
  std::uint32_t data_shards = 4;    // k
  std::uint32_t parity_shards = 2;  // m

  std::uint32_t total_shards() const { return data_shards + parity_shards; }
  std::uint64_t segment_count() const { return (file_size + segment_size - 1) / segment_size; }
  // Plaintext bytes of segment i. REQUIRES: i < segment_count().
  std::uint32_t plain_len(std::uint64_t i) const;
  // Bytes of every shard of segment i: ceil((plain_len + tag) / k).
  std::uint32_t shard_size(std::uint64_t i) const;
  // The largest shard_size over all segments (that of a full segment).
  std::uint32_t max_shard_size() const;
};

// kOk when every field is inside the limits (docs/storage.md "Limits").
Status check_shape(const Shape& s);

}  // namespace bc::storage

template <>
struct std::is_error_code_enum<bc::storage::Error> : std::true_type {};
