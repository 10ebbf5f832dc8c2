// routing::Record <-> Cap'n Proto, with every length checked before use.
#include "routing/record_codec.hpp"

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/exception.h>

#include <algorithm>
#include <cstring>

namespace bc::routing {
namespace {

kj::ArrayPtr<const kj::byte> ptr(ByteView v) { return kj::arrayPtr(v.data(), v.size()); }

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
  out.setKey(ptr(r.key.view()));
  out.setOwner(ptr(r.owner.view()));
  out.setSeq(r.seq);
  out.setExpiresAt(r.expires_at);
  out.setPayload(ptr(ByteView(r.payload)));
  out.setSignature(ptr(r.signature.view()));
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
  if (data.size() > kMaxEncodedRecordBytes) {
    return fail(error, RecordDecodeError::kOversizedMessage);
  }
  if (data.size() % sizeof(capnp::word) != 0 || data.empty()) {
    return fail(error, RecordDecodeError::kMalformed);
  }
  // Copy into word-aligned storage: network buffers have any alignment.
  kj::Array<capnp::word> words = kj::heapArray<capnp::word>(data.size() / sizeof(capnp::word));
  std::memcpy(words.begin(), data.data(), data.size());

  capnp::ReaderOptions options;
  options.traversalLimitInWords = kMaxEncodedRecordBytes / sizeof(capnp::word);
  options.nestingLimit = 4;
  try {
    capnp::FlatArrayMessageReader reader(words.asPtr(), options);
    // Trailing bytes would make two encodings of one record: refuse them.
    if (reader.getEnd() != words.end()) return fail(error, RecordDecodeError::kMalformed);
    return record_from_reader(reader.getRoot<wire::Record>(), error);
  } catch (const kj::Exception&) {
    return fail(error, RecordDecodeError::kMalformed);
  }
}

}  // namespace bc::routing
