// The provider wire protocol (docs/storage.md "Wire protocol"): requests and
// responses in memory, and their Cap'n Proto codec. Decoders are bounded
// (kMaxRequestBytes, kMaxResponseBytes, traversal and nesting limits) and
// check every field; they never throw on bad input.
#pragma once
#include <optional>
#include <string>
#include <variant>

#include "apps/storage/cipher.hpp"
#include "apps/storage/format.hpp"
#include "apps/storage/merkle.hpp"
#include "layers/crypto.hpp"
#include "layers/runtime.hpp"

namespace bc::storage {

// Entries of a chunk list per ChunkListRequest (256 KiB of shard IDs).
inline constexpr std::uint32_t kMaxChunksPerPage = 8192;

struct PutShardRequest {
  ShardId shard;
  Bytes data;  // empty when decoded in place (RequestDecode::put_in_frame)
  Hash256 delete_token_hash;
  TimeMs expires_at = 0;
  Hash256 escrow_id;  // zero: the put names no escrow (wire: empty)
};
struct GetRangeRequest {
  ShardId shard;
  std::uint32_t offset = 0;
  std::uint32_t length = 0;
};
struct DeleteShardRequest {
  ShardId shard;
  Key256 delete_token{};
};
struct AuditRequest {
  ShardId shard;
  Hash256 seed;
};
// A usage receipt the client signed for the provider's escrow (payment.hpp).
struct ReceiptRequest {
  Hash256 escrow_id;
  std::uint64_t cumulative = 0;
  Signature signature;
  friend bool operator==(const ReceiptRequest&, const ReceiptRequest&) = default;
};
// Entries [first, first + count) of the chunk list a storage offer with
// root `storage_root` commits to; count in 1..kMaxChunksPerPage.
struct ChunkListRequest {
  Hash256 storage_root;
  std::uint64_t first = 0;
  std::uint32_t count = 0;
  friend bool operator==(const ChunkListRequest&, const ChunkListRequest&) = default;
};
struct Request {
  std::uint64_t request_id = 0;
  std::variant<PutShardRequest, GetRangeRequest, DeleteShardRequest, AuditRequest, ReceiptRequest, ChunkListRequest> body;
};

struct StoredResponse {
  std::uint64_t size = 0;
};
struct DataResponse {
  Bytes data;
};
struct DeletedResponse {};
struct FailureResponse {
  Error code = Error::kMalformed;
  std::string reason;
};
// An audit's answer. `signature` is the provider's answer key over
// pos::storage_answer_digest({request shard, request seed, proof}), which
// makes a wrong answer evidence against a storage offer
// (ledger/pos/storage_proof.hpp); all zero from a provider without one.
struct AuditAnswer {
  MerkleProof proof;
  Signature signature;
  friend bool operator==(const AuditAnswer&, const AuditAnswer&) = default;
};
// A page of a chunk list: the list's length and the entries asked for
// (fewer at its end).
struct ChunkPageResponse {
  std::uint64_t total = 0;
  std::vector<ShardId> shards;
  friend bool operator==(const ChunkPageResponse&, const ChunkPageResponse&) = default;
};
struct ReceiptTakenResponse {
  std::uint64_t cumulative = 0;
};
struct Response {
  std::uint64_t request_id = 0;
  std::variant<StoredResponse, DataResponse, DeletedResponse, AuditAnswer, FailureResponse, ReceiptTakenResponse,
               ChunkPageResponse>
      body;
};

Bytes encode_request(const Request& r);
// A putShard request straight from the shard's bytes, built in the frame it
// is sent as (the shard copied once; the client's put path): in `buffer`
// when it has capacity (a recycled frame, any contents; put_frame_bytes
// says how large it must be not to grow), else in a fresh zeroed one.
Bytes encode_put(std::uint64_t request_id, const ShardId& shard, ByteView data, const Hash256& delete_token_hash,
                 TimeMs expires_at, const Hash256& escrow_id, Bytes buffer = {});
std::size_t put_frame_bytes(std::size_t shard_bytes);
Bytes encode_response(const Response& r);
// A data response frame whose `length` data bytes are left at
// frame[data_offset, data_offset + length) for the caller to fill: the
// provider reads a shard straight into its answer. Filled, it decodes as
// the data response it carries (one segment: decode_data_view reads it in
// place). Built in `buffer` when it has capacity (a recycled frame: its
// data bytes are then whatever the buffer held, and the caller MUST
// overwrite all of them or drop the frame), else in a fresh zeroed one.
struct DataFrame {
  Bytes frame;
  std::size_t data_offset = 0;
};
DataFrame encode_data_frame(std::uint64_t request_id, std::size_t length, Bytes buffer = {});
// The bytes encode_data_frame(_, length) builds in before cutting the frame
// to size: a buffer this large is built in without growing.
std::size_t data_frame_bytes(std::size_t length);

// A decoded request, or why not. `request_id` is set whenever the id could
// be read, so the provider can answer the failure instead of dropping it.
struct RequestDecode {
  Status status;
  std::optional<std::uint64_t> request_id;
  Request request;
  // A put decoded with PutData::kInFrame: where its shard lies in the frame.
  struct FrameSpan {
    std::size_t offset = 0, size = 0;
  };
  std::optional<FrameSpan> put_in_frame;
};
// kInFrame: a put's shard is not copied out of an 8-byte aligned frame
// (put_in_frame says where it is; the provider's put path keeps the frame);
// a misaligned frame is copied as with kCopy.
enum class PutData { kCopy, kInFrame };
RequestDecode decode_request(ByteView frame, PutData put_data = PutData::kCopy);
Result<Response> decode_response(ByteView frame);
// A well-formed data response's request id and data, the data a view into
// `frame` (no copy: the client's get path); nullopt for anything else (then
// decode_response says what it is) and for a frame not 8-byte aligned.
struct DataView {
  std::uint64_t request_id = 0;
  ByteView data;
};
std::optional<DataView> decode_data_view(ByteView frame);

// A failure Response for `status` (its storage::Error; others map to kIo).
Response failure_response(std::uint64_t request_id, const Status& status);

}  // namespace bc::storage
