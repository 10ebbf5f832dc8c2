// Conversion between routing::Record and its Cap'n Proto form
// (routing/wire/record.capnp), with the field sizes checked on the way in.
//
// Readers from the network are hostile: record_from_reader() never trusts a
// length and never throws; decode_record() also bounds the message itself.
// Neither checks the signature or expiry: that is check_record()'s job.
#pragma once
#include <cstddef>
#include <optional>

#include "layers/bytes.hpp"
#include "routing/record.hpp"
#include "routing/wire/record.capnp.h"

namespace bc::routing {

enum class RecordDecodeError {
  kNone,
  kMalformed,         // not a valid Cap'n Proto message, or over the traversal limit
  kOversizedMessage,  // more bytes than kMaxEncodedRecordBytes
  kBadKeySize,        // key is not 32 bytes
  kBadOwnerSize,      // owner is not 32 bytes
  kBadSignatureSize,  // signature is not 64 bytes
  kOversizedPayload,  // payload > kMaxPayloadBytes
};
const char* to_string(RecordDecodeError e);

// Upper bound of a standalone encoded record (payload plus fixed fields and
// framing, with slack); decode_record() rejects anything larger.
inline constexpr std::size_t kMaxEncodedRecordBytes = kMaxPayloadBytes + 512;

// Fills `out` with every field of r (including the signature).
void record_to_builder(const Record& r, wire::Record::Builder out);

// Copies a reader into a Record after checking every field size. On failure
// returns nullopt and sets *error (if given). Catches capnp exceptions from
// a malformed segment (kMalformed).
std::optional<Record> record_from_reader(wire::Record::Reader in,
                                         RecordDecodeError* error = nullptr);

// A record as one standalone Cap'n Proto message (flat array, unpacked).
Bytes encode_record(const Record& r);
// Bounded decode of encode_record()'s output: size limit, traversal limit of
// kMaxEncodedRecordBytes/8 words, nesting limit 4. Any alignment of `data`.
std::optional<Record> decode_record(ByteView data, RecordDecodeError* error = nullptr);

}  // namespace bc::routing
