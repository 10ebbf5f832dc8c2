// Bounded Cap'n Proto decoding and canonical hashing, shared by every codec.
//
// Every byte from the network is hostile: a decoder first checks the size,
// the word framing and the segment table, then reads through a
// FlatArrayMessageReader whose traversal and nesting limits bound the work
// an attacker can cause. Cap'n Proto reports violations lazily (while fields
// are read) by throwing kj::Exception; decode() runs the caller's reading
// code inside one try block and turns any such exception into an error code,
// so codecs never throw on bad input.
//
//   bc::wire::DecodeLimits limits{.max_bytes = 8192, .traversal_words = 4096, .nesting = 8};
//   MyStruct out;
//   auto err = bc::wire::decode<schema::My>(bytes, limits, [&](schema::My::Reader r) {
//     out.x = r.getX();  // throw anything from here to reject; kj::Exception -> kMalformed
//   });
//   if (err != bc::wire::DecodeError::kOk) count_drop(bc::wire::to_string(err));
#pragma once
#include <capnp/any.h>
#include <capnp/message.h>
#include <capnp/serialize.h>

#include <array>
#include <cstddef>
#include <cstring>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "layers/bytes.hpp"

namespace bc::wire {

struct DecodeLimits {
  std::size_t max_bytes = 8192;          // whole message, segment table included
  std::uint64_t traversal_words = 4096;  // words the reader may visit (amplification bound)
  int nesting = 8;                       // pointer depth
  std::uint32_t max_segments = 16;       // our encoders write one; capnp allows 512
};

enum class DecodeError {
  kOk,
  kEmpty,          // zero bytes
  kOversized,      // more than max_bytes, or more segments than max_segments
  kTruncated,      // not a whole number of words, or shorter than its segment table says
  kTrailingData,   // bytes left after the message its segment table describes
  kLimitExceeded,  // traversal or nesting limit hit while reading
  kMalformed,      // bad pointers, wrong struct kind, or the codec rejected a value
};
// Stable snake_case name, usable as a metric label ("truncated", ...).
const char* to_string(DecodeError e);

// A message opened with limits. Holds an 8-byte-aligned view of the input
// (the caller's bytes when already aligned, otherwise a private copy), so
// the caller's buffer must outlive this object.
class BoundedMessage {
 public:
  // Checks size, framing and the segment table; on failure returns nullptr
  // and sets *error (never throws on bad input).
  static std::unique_ptr<BoundedMessage> open(ByteView data, const DecodeLimits& limits, DecodeError* error);

  capnp::MessageReader& reader() { return *reader_; }
  // May throw kj::Exception while fields are read; prefer decode() below.
  template <typename T>
  typename T::Reader root() {
    return reader_->getRoot<T>();
  }

 private:
  BoundedMessage() = default;
  kj::Array<capnp::word> copy_;  // only when the input was misaligned
  std::unique_ptr<capnp::FlatArrayMessageReader> reader_;
};

// Opens data with limits and runs read(T::Reader). A kj::Exception thrown
// while reading becomes kLimitExceeded (traversal or nesting limit) or
// kMalformed. Any other exception from read() is not caught, so a codec can
// signal its own, more precise reasons.
template <typename T, typename Fn>
DecodeError decode(ByteView data, const DecodeLimits& limits, Fn&& read);

// Classifies a kj::Exception raised by a bounded reader.
DecodeError classify(const kj::Exception& e);

// Canonical form (capnp::canonicalize: one segment, no padding or far
// pointers, preorder layout) as bytes: identical for equal values whatever
// encoder produced them.
Bytes canonical_bytes(capnp::AnyStruct::Reader root);
// tagged_hash(tag, canonical form): the digest every signed structure uses.
// Accepts any typed struct reader (converted implicitly).
Hash256 canonical_hash(std::string_view tag, capnp::AnyStruct::Reader root);
Hash256 canonical_hash(std::string_view tag, capnp::MessageBuilder& message);

// Bytes as a Cap'n Proto Data value to set on a builder.
inline kj::ArrayPtr<const kj::byte> bytes_ptr(ByteView v) { return kj::arrayPtr(v.data(), v.size()); }

// Copies a fixed-size Data field; false when its size is not exactly N.
template <std::size_t N>
bool copy_fixed(capnp::Data::Reader in, std::array<std::uint8_t, N>& out) {
  if (in.size() != N) return false;
  std::memcpy(out.data(), in.begin(), N);
  return true;
}

// ---- implementation ---------------------------------------------------------

template <typename T, typename Fn>
DecodeError decode(ByteView data, const DecodeLimits& limits, Fn&& read) {
  DecodeError err = DecodeError::kOk;
  auto msg = BoundedMessage::open(data, limits, &err);
  if (!msg) return err;
  try {
    read(msg->template root<T>());
  } catch (const kj::Exception& e) {
    return classify(e);
  }
  return DecodeError::kOk;
}

}  // namespace bc::wire
