#include "layers/wire/decode.hpp"

#include <cstring>

#include "layers/crypto.hpp"

namespace bc::wire {

namespace {

std::uint32_t read_le32(const std::uint8_t* p) {
  return std::uint32_t{p[0]} | (std::uint32_t{p[1]} << 8) | (std::uint32_t{p[2]} << 16) | (std::uint32_t{p[3]} << 24);
}

// Validates the stream framing (segment count, sizes) without capnp, so each
// failure gets its own reason instead of one generic exception.
DecodeError check_framing(ByteView data, const DecodeLimits& limits) {
  if (data.empty()) return DecodeError::kEmpty;
  if (data.size() > limits.max_bytes) return DecodeError::kOversized;
  if (data.size() % sizeof(capnp::word) != 0) return DecodeError::kTruncated;
  const std::uint64_t segments = std::uint64_t{read_le32(data.data())} + 1;
  if (segments > limits.max_segments) return DecodeError::kOversized;
  // Table: 4 bytes count + 4 bytes per segment, padded to a word.
  const std::uint64_t table_bytes = (4 + 4 * segments + 7) / 8 * 8;
  if (table_bytes > data.size()) return DecodeError::kTruncated;
  std::uint64_t body_words = 0;
  for (std::uint64_t i = 0; i < segments; ++i) body_words += read_le32(data.data() + 4 + 4 * i);
  const std::uint64_t total = table_bytes + body_words * 8;  // no overflow: <= 16 * 2^32 words
  if (total > data.size()) return DecodeError::kTruncated;
  if (total < data.size()) return DecodeError::kTrailingData;
  return DecodeError::kOk;
}

}  // namespace

const char* to_string(DecodeError e) {
  switch (e) {
    case DecodeError::kOk: return "ok";
    case DecodeError::kEmpty: return "empty";
    case DecodeError::kOversized: return "oversized";
    case DecodeError::kTruncated: return "truncated";
    case DecodeError::kTrailingData: return "trailing_data";
    case DecodeError::kLimitExceeded: return "limit_exceeded";
    case DecodeError::kMalformed: return "malformed";
  }
  return "unknown";
}

std::unique_ptr<BoundedMessage> BoundedMessage::open(ByteView data, const DecodeLimits& limits, DecodeError* error) {
  DecodeError err = check_framing(data, limits);
  if (err != DecodeError::kOk) {
    *error = err;
    return nullptr;
  }
  std::unique_ptr<BoundedMessage> msg(new BoundedMessage());
  kj::ArrayPtr<const capnp::word> words;
  if (reinterpret_cast<std::uintptr_t>(data.data()) % alignof(capnp::word) == 0) {
    words = kj::ArrayPtr<const capnp::word>(reinterpret_cast<const capnp::word*>(data.data()), data.size() / 8);
  } else {
    msg->copy_ = kj::heapArray<capnp::word>(data.size() / 8);
    std::memcpy(msg->copy_.begin(), data.data(), data.size());
    words = msg->copy_.asPtr();
  }
  capnp::ReaderOptions options;
  options.traversalLimitInWords = limits.traversal_words;
  options.nestingLimit = limits.nesting;
  try {
    msg->reader_ = std::make_unique<capnp::FlatArrayMessageReader>(words, options);
  } catch (const kj::Exception& e) {
    *error = classify(e);
    return nullptr;
  }
  *error = DecodeError::kOk;
  return msg;
}

DecodeError classify(const kj::Exception& e) {
  std::string_view what(e.getDescription().cStr());
  if (what.find("traversal limit") != std::string_view::npos || what.find("deeply-nested") != std::string_view::npos)
    return DecodeError::kLimitExceeded;
  return DecodeError::kMalformed;
}

Bytes canonical_bytes(capnp::AnyStruct::Reader root) {
  kj::Array<capnp::word> words = root.canonicalize();
  auto bytes = words.asBytes();
  return Bytes(bytes.begin(), bytes.end());
}

Hash256 canonical_hash(std::string_view tag, capnp::AnyStruct::Reader root) {
  kj::Array<capnp::word> words = root.canonicalize();
  auto bytes = words.asBytes();
  return tagged_hash(tag, ByteView(bytes.begin(), bytes.size()));
}

Hash256 canonical_hash(std::string_view tag, capnp::MessageBuilder& message) {
  return canonical_hash(tag, message.getRoot<capnp::AnyStruct>().asReader());
}

}  // namespace bc::wire
