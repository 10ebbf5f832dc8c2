// routing::Record <-> Cap'n Proto, with every length checked before use.
#include "routing/record_codec.hpp"

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/exception.h>

#include "layers/wire/decode.hpp"

#include <algorithm>
#include <cstring>

namespace bc::routing {
namespace {

using bc::wire::bytes_ptr;

std::nullopt_t fail(RecordDecodeError* error, RecordDecodeError e) {
  if (error) *error = e;
  return std::nullopt;
}

}  // namespace

const char* to_string(RecordDecodeError e) {
  switch (e) {
    case RecordDecodeError::kNone: return "ok";
    case RecordDecodeError::kMalformed: return "malformed";
    case RecordDecodeError::kOversizedMessage: return "oversized_message";
    case RecordDecodeError::kBadKeySize: return "bad_key_size";
    case RecordDecodeError::kBadOwnerSize: return "bad_owner_size";
    case RecordDecodeError::kBadSignatureSize: return "bad_signature_size";
    case RecordDecodeError::kOversizedPayload: return "oversized_payload";
  }
  return "unknown";
}

void record_to_builder(const Record& r, wire::Record::Builder out) {
  out.setKey(bytes_ptr(r.key.view()));
  out.setOwner(bytes_ptr(r.owner.view()));
  out.setSeq(r.seq);
  out.setExpiresAt(r.expires_at);
  out.setPayload(bytes_ptr(ByteView(r.payload)));
  out.setSignature(bytes_ptr(r.signature.view()));
}

std::optional<Record> record_from_reader(wire::Record::Reader in, RecordDecodeError* error) {
  fail(error, RecordDecodeError::kNone);
  try {
    Record r;
    auto key = in.getKey();
    if (key.size() != Hash256::size()) return fail(error, RecordDecodeError::kBadKeySize);
    std::memcpy(r.key.data(), key.begin(), key.size());

    auto owner = in.getOwner();
    if (owner.size() != r.owner.bytes.size()) {
      return fail(error, RecordDecodeError::kBadOwnerSize);
    }
    std::memcpy(r.owner.bytes.data(), owner.begin(), owner.size());

    auto sig = in.getSignature();
    if (sig.size() != r.signature.bytes.size()) {
      return fail(error, RecordDecodeError::kBadSignatureSize);
    }
    std::memcpy(r.signature.bytes.data(), sig.begin(), sig.size());

    auto payload = in.getPayload();
    if (payload.size() > kMaxPayloadBytes) {
      return fail(error, RecordDecodeError::kOversizedPayload);
    }
    r.payload.assign(payload.begin(), payload.end());

    r.seq = in.getSeq();
    r.expires_at = in.getExpiresAt();
    return r;
  } catch (const kj::Exception&) {
    // Out-of-bounds pointer, traversal limit, wrong pointer kind, ...
    return fail(error, RecordDecodeError::kMalformed);
  }
}

Bytes encode_record(const Record& r) {
  capnp::MallocMessageBuilder message(64 + r.payload.size() / 8);
  record_to_builder(r, message.initRoot<wire::Record>());
  kj::Array<capnp::word> words = capnp::messageToFlatArray(message);
  auto bytes = words.asBytes();
  return Bytes(bytes.begin(), bytes.end());
}

std::optional<Record> decode_record(ByteView data, RecordDecodeError* error) {
  // Size, framing, segment table and traversal/nesting limits are checked by
  // the shared bounded reader; field sizes by record_from_reader().
  const bc::wire::DecodeLimits limits{.max_bytes = kMaxEncodedRecordBytes,
                                      .traversal_words = kMaxEncodedRecordBytes / sizeof(capnp::word),
                                      .nesting = 4,
                                      .max_segments = 4};
  std::optional<Record> out;
  RecordDecodeError field_error = RecordDecodeError::kNone;
  const bc::wire::DecodeError err = bc::wire::decode<wire::Record>(
      data, limits, [&](wire::Record::Reader r) { out = record_from_reader(r, &field_error); });
  if (err == bc::wire::DecodeError::kOversized) return fail(error, RecordDecodeError::kOversizedMessage);
  if (err != bc::wire::DecodeError::kOk) return fail(error, RecordDecodeError::kMalformed);
  if (!out) return fail(error, field_error);
  fail(error, RecordDecodeError::kNone);
  return out;
}

}  // namespace bc::routing
