// Signed DHT values: digest, signing, checks, keys from text.
#include "routing/record.hpp"

#include <capnp/message.h>

#include "layers/ids.hpp"
#include "layers/wire/decode.hpp"
#include "routing/wire/record.capnp.h"

namespace bc::routing {
namespace {

constexpr std::string_view kRecordTag = "blockcloud/dht-record/v1";
constexpr std::string_view kKeyTag = "blockcloud/dht-key/v1";

}  // namespace

Hash256 record_digest(const Record& r) {
  // The signed body is the Record struct with `signature` left null, in
  // canonical form, so every encoder produces the same bytes.
  capnp::MallocMessageBuilder message(32);
  auto body = message.initRoot<wire::Record>();
  body.setKey(kj::arrayPtr(r.key.data(), r.key.size()));
  body.setOwner(kj::arrayPtr(r.owner.bytes.data(), r.owner.bytes.size()));
  body.setSeq(r.seq);
  body.setExpiresAt(r.expires_at);
  body.setPayload(kj::arrayPtr(r.payload.data(), r.payload.size()));
  return bc::wire::canonical_hash(kRecordTag, message);
}

Record make_record(const KeyPair& owner, const Key& key, Bytes payload, std::uint64_t seq,
                   TimeMs expires_at) {
  Record r;
  r.key = key;
  r.owner = owner.public_key();
  r.seq = seq;
  r.expires_at = expires_at;
  r.payload = std::move(payload);
  r.signature = owner.sign(record_digest(r));
  return r;
}

const char* to_string(RecordError e) {
  switch (e) {
    case RecordError::kNone: return "ok";
    case RecordError::kOversized: return "oversized";
    case RecordError::kExpired: return "expired";
    case RecordError::kTooFarAhead: return "too_far_ahead";
    case RecordError::kBadSignature: return "bad_signature";
    case RecordError::kRejected: return "rejected";
  }
  return "unknown";
}

RecordError check_record(const Record& r, TimeMs now, TimeMs max_ttl_ms,
                         SignatureCache* verified) {
  // Cheap checks first: a signature verification costs ~40 us.
  if (r.payload.size() > kMaxPayloadBytes) return RecordError::kOversized;
  if (r.expires_at <= now) return RecordError::kExpired;
  // expires_at > now, so the unsigned difference is exact for any values.
  const auto ahead = static_cast<std::uint64_t>(r.expires_at) - static_cast<std::uint64_t>(now);
  if (max_ttl_ms < 0 || ahead > static_cast<std::uint64_t>(max_ttl_ms)) {
    return RecordError::kTooFarAhead;
  }
  const Hash256 digest = record_digest(r);
  const bool ok = verified ? verified->verify(r.owner, digest, r.signature)
                           : verify(r.owner, digest, r.signature);
  return ok ? RecordError::kNone : RecordError::kBadSignature;
}

Key key_from_text(std::string_view text) {
  if (text.size() == 64) {
    if (auto h = Hash256::from_hex(text)) return *h;
  }
  if (!text.empty() && (text[0] == 'k' || text[0] == 'K')) {
    if (auto h = id_from_text('k', text)) return *h;
  }
  return tagged_hash(kKeyTag, as_bytes(text));
}

}  // namespace bc::routing
