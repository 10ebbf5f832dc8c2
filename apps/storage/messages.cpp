#include "apps/storage/messages.hpp"

#include <capnp/message.h>
#include <capnp/serialize.h>

#include <cstdint>
#include <cstring>

#include "apps/storage/wire/storage.capnp.h"
#include "layers/assert.hpp"
#include "layers/wire/decode.hpp"

namespace bc::storage {
namespace {

struct Reject {
  Error code;
  const char* why;
};

template <typename T>
T fixed(capnp::Data::Reader d, const char* what) {
  T out{};
  if (d.size() != sizeof(out)) throw Reject{Error::kMalformed, what};
  std::memcpy(&out, d.begin(), d.size());
  return out;
}

kj::ArrayPtr<const kj::byte> view(ByteView b) { return kj::arrayPtr(b.data(), b.size()); }

Bytes to_bytes(capnp::MessageBuilder& message) {
  auto words = capnp::messageToFlatArray(message);
  auto bytes = words.asBytes();
  return Bytes(bytes.begin(), bytes.end());
}

// Builds a message in its final place: one zeroed segment after the 8-byte
// segment table, inside the frame it is sent as, so a shard-sized message
// is neither copied out of the builder's segments nor flattened into a
// second buffer. `words` must hold the whole message (asserted).
class FrameBuilder final : public capnp::MessageBuilder {
 public:
  static constexpr std::size_t kTableBytes = 8;  // one segment: count - 1 = 0, then its size in words
  // Room for the root pointer, a Request or Response and its small fields
  // (ids, hashes): far more than they take; the frame is cut to the words used.
  static constexpr std::size_t kSmallFieldWords = 64;

  explicit FrameBuilder(std::size_t words) : frame_(kTableBytes + words * sizeof(capnp::word)), words_(words) {}
  // Builds in `recycled` when it has capacity (any contents, reused without
  // an allocation). Cap'n Proto expects a zeroed segment, but only the table,
  // the root and the small fields come before a message's one large blob:
  // kSmallFieldWords are zeroed here, and the caller must zero or overwrite
  // the rest it uses.
  FrameBuilder(std::size_t words, Bytes recycled) : frame_(std::move(recycled)), words_(words) {
    BC_ASSERT(words >= kSmallFieldWords);
    if (frame_.capacity() == 0) {
      frame_.resize(kTableBytes + words * sizeof(capnp::word));  // fresh, zeroed
      return;
    }
    frame_.resize(kTableBytes + words * sizeof(capnp::word));
    std::memset(frame_.data(), 0, kTableBytes + kSmallFieldWords * sizeof(capnp::word));
  }

  kj::ArrayPtr<capnp::word> allocateSegment(unsigned minimum_words) override {
    BC_ASSERT_MSG(!given_ && minimum_words <= words_, "a storage frame outgrew its one segment");
    given_ = true;
    return kj::arrayPtr(reinterpret_cast<capnp::word*>(frame_.data() + kTableBytes), words_);
  }
  // Zeroes the frame after `blob` (a Data field just built): a recycled
  // buffer's old bytes there would be read as the blob's padding and as the
  // fields built after it.
  void zero_after(kj::ArrayPtr<const kj::byte> blob) {
    // Only the small fields were zeroed: nothing may have been built past them before `blob`.
    BC_ASSERT(offset_of(blob) <= kTableBytes + kSmallFieldWords * sizeof(capnp::word));
    const std::size_t end = offset_of(blob) + blob.size();
    std::memset(frame_.data() + end, 0, frame_.size() - end);
  }
  // Where `blob` (a Data field of this message) starts in the frame.
  std::size_t offset_of(kj::ArrayPtr<const kj::byte> blob) const {
    BC_ASSERT(blob.begin() >= frame_.data() && blob.end() <= frame_.data() + frame_.size());
    return static_cast<std::size_t>(blob.begin() - frame_.data());
  }
  // The frame, byte for byte what capnp::messageToFlatArray gives.
  Bytes finish() {
    auto segments = getSegmentsForOutput();
    BC_ASSERT(segments.size() == 1 && segments[0].size() <= words_);
    const auto used = static_cast<std::uint32_t>(segments[0].size());
    for (int i = 0; i < 4; ++i) {
      frame_[i] = 0;
      frame_[4 + i] = static_cast<std::uint8_t>(used >> (8 * i));
    }
    frame_.resize(kTableBytes + std::size_t{used} * sizeof(capnp::word));
    return std::move(frame_);
  }

 private:
  Bytes frame_;
  std::size_t words_;
  bool given_ = false;
};

std::size_t words_for(std::size_t bytes) { return (bytes + sizeof(capnp::word) - 1) / sizeof(capnp::word); }

Error from_decode(bc::wire::DecodeError e) {
  switch (e) {
    case bc::wire::DecodeError::kOversized: return Error::kOversized;
    case bc::wire::DecodeError::kTruncated: return Error::kTruncated;
    default: return Error::kMalformed;
  }
}

bc::wire::DecodeLimits limits_for(ByteView frame, std::size_t max_bytes) {
  return {.max_bytes = max_bytes, .traversal_words = frame.size() / 8 + 1024, .nesting = 8, .max_segments = 4};
}


// `in_place`: the frame the reader reads in place, or empty to copy a put's
// data; else `put_in_frame` is set to where the data lies in it.
decltype(Request::body) read_request_body(wire::Request::Reader r, ByteView in_place,
                                          std::optional<RequestDecode::FrameSpan>& put_in_frame) {
  switch (r.which()) {
    case wire::Request::PUT: {
      auto p = r.getPut();
      PutShardRequest out{fixed<Hash256>(p.getShardId(), "shard id is not 32 bytes"), {},
                          fixed<Hash256>(p.getDeleteTokenHash(), "token hash is not 32 bytes"),
                          static_cast<TimeMs>(p.getExpiresAt() & INT64_MAX), {}};
      if (p.getEscrowId().size() != 0) out.escrow_id = fixed<Hash256>(p.getEscrowId(), "escrow id is not 32 bytes");
      auto data = p.getData();
      if (data.size() == 0) throw Reject{Error::kMalformed, "empty shard"};
      if (data.size() > kMaxShardBytes) throw Reject{Error::kOversized, "shard over the limit"};
      if (in_place.empty()) {
        out.data.assign(data.begin(), data.end());
        return out;
      }
      const auto offset = static_cast<std::size_t>(data.begin() - in_place.data());
      BC_ASSERT(data.begin() >= in_place.data() && offset + data.size() <= in_place.size());
      put_in_frame = RequestDecode::FrameSpan{offset, data.size()};
      return out;
    }
    case wire::Request::GET: {
      auto g = r.getGet();
      GetRangeRequest out{fixed<Hash256>(g.getShardId(), "shard id is not 32 bytes"), g.getOffset(), g.getLength()};
      if (out.length == 0) throw Reject{Error::kMalformed, "empty range"};
      if (out.length > kMaxShardBytes || out.offset >= kMaxShardBytes) throw Reject{Error::kOversized, "range over the limit"};
      return out;
    }
    case wire::Request::DELETE:
      return DeleteShardRequest{fixed<Hash256>(r.getDelete().getShardId(), "shard id is not 32 bytes"),
                                fixed<Key256>(r.getDelete().getDeleteToken(), "token is not 32 bytes")};
    case wire::Request::AUDIT:
      return AuditRequest{fixed<Hash256>(r.getAudit().getShardId(), "shard id is not 32 bytes"),
                          fixed<Hash256>(r.getAudit().getSeed(), "seed is not 32 bytes")};
    case wire::Request::RECEIPT: {
      auto p = r.getReceipt();
      ReceiptRequest out{fixed<Hash256>(p.getEscrowId(), "escrow id is not 32 bytes"), p.getCumulative(),
                         fixed<Signature>(p.getSignature(), "receipt signature is not 64 bytes")};
      if (out.cumulative == 0) throw Reject{Error::kMalformed, "a receipt for nothing"};
      return out;
    }
    case wire::Request::CHUNK_LIST: {
      auto c = r.getChunkList();
      ChunkListRequest out{fixed<Hash256>(c.getStorageRoot(), "storage root is not 32 bytes"), c.getFirst(), c.getCount()};
      if (out.count == 0 || out.count > kMaxChunksPerPage) throw Reject{Error::kOversized, "chunk page count outside 1..8192"};
      return out;
    }
  }
  throw Reject{Error::kMalformed, "unknown request kind"};
}

AuditAnswer read_proof(wire::AuditProof::Reader p) {
  AuditAnswer answer;
  MerkleProof& out = answer.proof;
  out.leaf_index = p.getLeafIndex();
  out.shard_size = p.getShardSize();
  if (out.shard_size > kMaxShardBytes) throw Reject{Error::kOversized, "proof for a shard over the limit"};
  auto leaf = p.getLeaf();
  if (leaf.size() > kLeafSize) throw Reject{Error::kOversized, "leaf over the leaf size"};
  out.leaf.assign(leaf.begin(), leaf.end());
  auto path = p.getPath();
  if (path.size() > kMaxProofHashes) throw Reject{Error::kOversized, "proof path too long"};
  for (auto h : path) out.path.push_back(fixed<Hash256>(h, "path hash is not 32 bytes"));
  if (p.hasSignature()) answer.signature = fixed<Signature>(p.getSignature(), "signature is not 64 bytes");
  return answer;
}

decltype(Response::body) read_response_body(wire::Response::Reader r) {
  switch (r.which()) {
    case wire::Response::STORED: return StoredResponse{r.getStored()};
    case wire::Response::DATA: {
      auto d = r.getData();
      if (d.size() > kMaxShardBytes) throw Reject{Error::kOversized, "data over the limit"};
      return DataResponse{Bytes(d.begin(), d.end())};
    }
    case wire::Response::DELETED: return DeletedResponse{};
    case wire::Response::RECEIPT_TAKEN: return ReceiptTakenResponse{r.getReceiptTaken()};
    case wire::Response::PROOF: return read_proof(r.getProof());
    case wire::Response::CHUNKS: {
      auto page = r.getChunks();
      auto ids = page.getShardIds();
      if (ids.size() % 32 != 0) throw Reject{Error::kMalformed, "chunk page is not whole shard ids"};
      if (ids.size() / 32 > kMaxChunksPerPage) throw Reject{Error::kOversized, "chunk page over 8192 entries"};
      ChunkPageResponse out{page.getTotal(), std::vector<ShardId>(ids.size() / 32)};
      for (std::size_t i = 0; i < out.shards.size(); ++i) std::memcpy(out.shards[i].bytes.data(), ids.begin() + 32 * i, 32);
      return out;
    }
    case wire::Response::FAILURE: {
      auto f = r.getFailure();
      const auto reason = f.getReason();
      if (reason.size() > kMaxReasonBytes) throw Reject{Error::kOversized, "reason too long"};
      const std::uint16_t code = f.getCode();
      const Error e = (code == 0 || code > kMaxErrorValue) ? Error::kUnknownCode : static_cast<Error>(code);
      return FailureResponse{e, std::string(reason.cStr(), reason.size())};
    }
  }
  throw Reject{Error::kMalformed, "unknown response kind"};
}

}  // namespace

Bytes encode_request(const Request& r) {
  capnp::MallocMessageBuilder message;
  auto b = message.initRoot<wire::Request>();
  b.setRequestId(r.request_id);
  if (auto* p = std::get_if<PutShardRequest>(&r.body)) {
    auto o = b.initPut();
    o.setShardId(view(p->shard.view()));
    o.setData(view(p->data));
    o.setDeleteTokenHash(view(p->delete_token_hash.view()));
    o.setExpiresAt(static_cast<std::uint64_t>(p->expires_at));
    if (!p->escrow_id.is_zero()) o.setEscrowId(view(p->escrow_id.view()));
  } else if (auto* g = std::get_if<GetRangeRequest>(&r.body)) {
    auto o = b.initGet();
    o.setShardId(view(g->shard.view()));
    o.setOffset(g->offset);
    o.setLength(g->length);
  } else if (auto* d = std::get_if<DeleteShardRequest>(&r.body)) {
    auto o = b.initDelete();
    o.setShardId(view(d->shard.view()));
    o.setDeleteToken(kj::arrayPtr(d->delete_token.data(), d->delete_token.size()));
  } else if (auto* a = std::get_if<AuditRequest>(&r.body)) {
    auto o = b.initAudit();
    o.setShardId(view(a->shard.view()));
    o.setSeed(view(a->seed.view()));
  } else if (auto* c = std::get_if<ChunkListRequest>(&r.body)) {
    auto o = b.initChunkList();
    o.setStorageRoot(view(c->storage_root.view()));
    o.setFirst(c->first);
    o.setCount(c->count);
  } else {
    const auto& rc = std::get<ReceiptRequest>(r.body);
    auto o = b.initReceipt();
    o.setEscrowId(view(rc.escrow_id.view()));
    o.setCumulative(rc.cumulative);
    o.setSignature(view(rc.signature.view()));
  }
  return to_bytes(message);
}

Bytes encode_put(std::uint64_t request_id, const ShardId& shard, ByteView data, const Hash256& delete_token_hash,
                 TimeMs expires_at, const Hash256& escrow_id, Bytes buffer) {
  const bool recycled = buffer.capacity() != 0;
  FrameBuilder message(words_for(data.size()) + FrameBuilder::kSmallFieldWords, std::move(buffer));
  auto b = message.initRoot<wire::Request>();
  b.setRequestId(request_id);
  auto o = b.initPut();
  o.setShardId(view(shard.view()));
  o.setData(view(data));
  if (recycled) message.zero_after(o.getData());  // before the fields that follow the shard
  o.setDeleteTokenHash(view(delete_token_hash.view()));
  o.setExpiresAt(static_cast<std::uint64_t>(expires_at));
  if (!escrow_id.is_zero()) o.setEscrowId(view(escrow_id.view()));
  return message.finish();
}

std::size_t data_frame_bytes(std::size_t length) {
  return FrameBuilder::kTableBytes + (words_for(length) + FrameBuilder::kSmallFieldWords) * sizeof(capnp::word);
}

std::size_t put_frame_bytes(std::size_t shard_bytes) { return data_frame_bytes(shard_bytes); }

DataFrame encode_data_frame(std::uint64_t request_id, std::size_t length, Bytes buffer) {
  BC_ASSERT(length <= kMaxShardBytes);
  const std::size_t words = words_for(length) + FrameBuilder::kSmallFieldWords;
  const bool recycled = buffer.capacity() != 0;
  FrameBuilder message(words, std::move(buffer));
  auto b = message.initRoot<wire::Response>();
  b.setRequestId(request_id);
  const auto data = b.initData(static_cast<unsigned>(length));
  const std::size_t offset = message.offset_of(data);
  // Everything before the data lies in the zeroed small fields; the data's
  // padding is zeroed here; the data itself the caller overwrites.
  if (recycled) message.zero_after(data);
  return DataFrame{message.finish(), offset};
}

Bytes encode_response(const Response& r) {
  capnp::MallocMessageBuilder message;
  auto b = message.initRoot<wire::Response>();
  b.setRequestId(r.request_id);
  if (auto* s = std::get_if<StoredResponse>(&r.body)) {
    b.setStored(s->size);
  } else if (auto* d = std::get_if<DataResponse>(&r.body)) {
    b.setData(view(d->data));
  } else if (std::holds_alternative<DeletedResponse>(r.body)) {
    b.setDeleted();
  } else if (auto* t = std::get_if<ReceiptTakenResponse>(&r.body)) {
    b.setReceiptTaken(t->cumulative);
  } else if (auto* page = std::get_if<ChunkPageResponse>(&r.body)) {
    auto o = b.initChunks();
    o.setTotal(page->total);
    auto ids = o.initShardIds(static_cast<unsigned>(page->shards.size() * 32));
    for (std::size_t i = 0; i < page->shards.size(); ++i) std::memcpy(ids.begin() + 32 * i, page->shards[i].bytes.data(), 32);
  } else if (auto* a = std::get_if<AuditAnswer>(&r.body)) {
    const MerkleProof* p = &a->proof;
    auto o = b.initProof();
    o.setLeafIndex(p->leaf_index);
    o.setShardSize(p->shard_size);
    o.setLeaf(view(p->leaf));
    auto path = o.initPath(static_cast<unsigned>(p->path.size()));
    for (unsigned i = 0; i < p->path.size(); ++i) path.set(i, view(p->path[i].view()));
    if (a->signature != Signature{}) o.setSignature(view(a->signature.view()));
  } else {
    const auto& f = std::get<FailureResponse>(r.body);
    auto o = b.initFailure();
    o.setCode(static_cast<std::uint16_t>(f.code));
    o.setReason(f.reason.substr(0, kMaxReasonBytes));
  }
  return to_bytes(message);
}

RequestDecode decode_request(ByteView frame, PutData put_data) {
  RequestDecode out;
  // The decoder reads an aligned frame in place; a misaligned one it copies,
  // and an offset into that copy would mean nothing in `frame`.
  const bool aligned = reinterpret_cast<std::uintptr_t>(frame.data()) % alignof(capnp::word) == 0;
  const ByteView in_place = put_data == PutData::kInFrame && aligned ? frame : ByteView();
  try {
    auto err = bc::wire::decode<wire::Request>(frame, limits_for(frame, kMaxRequestBytes), [&](wire::Request::Reader r) {
      out.request_id = r.getRequestId();
      out.request.request_id = *out.request_id;
      out.request.body = read_request_body(r, in_place, out.put_in_frame);
    });
    if (err != bc::wire::DecodeError::kOk) out.status = fail(from_decode(err), bc::wire::to_string(err));
  } catch (const Reject& rej) {
    out.status = fail(rej.code, rej.why);
  }
  return out;
}

Result<Response> decode_response(ByteView frame) {
  Response out;
  try {
    auto err = bc::wire::decode<wire::Response>(frame, limits_for(frame, kMaxResponseBytes), [&](wire::Response::Reader r) {
      out.request_id = r.getRequestId();
      out.body = read_response_body(r);
    });
    if (err != bc::wire::DecodeError::kOk) return fail(from_decode(err), bc::wire::to_string(err));
  } catch (const Reject& rej) {
    return fail(rej.code, rej.why);
  }
  return out;
}

Response failure_response(std::uint64_t request_id, const Status& status) {
  BC_ASSERT(!status.ok());
  Error e = error_of(status);
  if (e == Error::kUnknownCode) e = Error::kIo;
  return Response{request_id, FailureResponse{e, status.message.substr(0, kMaxReasonBytes)}};
}

std::optional<DataView> decode_data_view(ByteView frame) {
  // The decoder reads an aligned frame in place; a misaligned one it copies,
  // and a view into that copy would dangle.
  if (reinterpret_cast<std::uintptr_t>(frame.data()) % alignof(capnp::word) != 0) return std::nullopt;
  std::optional<DataView> out;
  auto err = bc::wire::decode<wire::Response>(frame, limits_for(frame, kMaxResponseBytes), [&](wire::Response::Reader r) {
    if (r.which() != wire::Response::DATA) return;
    auto d = r.getData();
    if (d.size() > kMaxShardBytes) return;
    out = DataView{r.getRequestId(), ByteView(d.begin(), d.size())};
  });
  if (err != bc::wire::DecodeError::kOk) return std::nullopt;
  return out;
}

}  // namespace bc::storage
