// Signed DHT values.
//
// A key holds a set of records from different owners (many providers announce
// one service ID). Each record is signed by its owner over the Cap'n Proto
// canonical form of its body, hashed with tagged_hash("blockcloud/dht-record/v1").
// Only the owner can replace its record, and only with a higher sequence.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "layers/bytes.hpp"
#include "layers/crypto.hpp"
#include "layers/runtime.hpp"
#include "layers/sig_cache.hpp"

namespace bc::routing {

using Key = Hash256;

inline constexpr std::size_t kMaxPayloadBytes = 1024;

struct Record {
  Key key;
  XOnlyPubKey owner;
  std::uint64_t seq = 0;
  TimeMs expires_at = 0;  // absolute, driver clock
  Bytes payload;          // at most kMaxPayloadBytes
  Signature signature;

  friend bool operator==(const Record&, const Record&) = default;
};

// What a record is to the layer above, as its RecordValidator says
// (routing/dht.hpp). Routing does not read payloads; it only applies the
// storage rules each kind has (routing/store.hpp):
//   kGeneric  an application value (dht put/get): allowed only under keys
//             that hold no kService or kPinned record;
//   kService  a record the layer above validated for this key (a SAL
//             endpoint record): the key is a service key from then on, and
//             generic values under it make room for it;
//   kPinned   a kService record that others' records may never evict (the
//             service owner's statement, which revokes providers).
enum class RecordKind : std::uint8_t { kGeneric, kService, kPinned };

// Digest the owner signs (canonical form of every field but the signature).
Hash256 record_digest(const Record& r);

// Fills seq, expires_at and signature for r.key/r.payload with owner's key.
Record make_record(const KeyPair& owner, const Key& key, Bytes payload, std::uint64_t seq,
                   TimeMs expires_at);

enum class RecordError {
  kNone,
  kOversized,     // payload > kMaxPayloadBytes
  kExpired,       // expires_at <= now
  kTooFarAhead,   // expires_at - now > max_ttl
  kBadSignature,  // unsigned, bad key, or signature does not match
  kRejected,      // well-formed and signed, but the layer above refused the payload
};
const char* to_string(RecordError e);

// Full check of a record received from the network at time `now`. With a
// cache, a signature verified before (the same record from another replica,
// or our own) is not verified again.
RecordError check_record(const Record& r, TimeMs now, TimeMs max_ttl_ms,
                         SignatureCache* verified = nullptr);

// A DHT key from user text: a 64-hex-digit string is used as is, a
// 'k'-prefixed checksummed ID (layers/ids.hpp) is decoded, anything else is
// hashed with tagged_hash("blockcloud/dht-key/v1", text).
Key key_from_text(std::string_view text);

}  // namespace bc::routing
