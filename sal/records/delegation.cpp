// Delegation certificates and owner statements: digests, signing, checks, wire.
#include "sal/records/delegation.hpp"

#include <capnp/message.h>
#include <capnp/serialize.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "layers/wire/decode.hpp"

namespace bc::sal {
namespace {

constexpr std::string_view kDelegationTag = "blockcloud/sal-delegation/v1";
constexpr std::string_view kStatementTag = "blockcloud/sal-owner-statement/v1";

using bc::wire::bytes_ptr;

// Verifies once per (signer, digest, signature) when a cache is given.
bool verify_cached(const XOnlyPubKey& key, const Hash256& digest, const Signature& sig,
                   SignatureCache* verified) {
  if (verified == nullptr) return verify(key, digest, sig);
  Sha256 h;
  const Hash256 id = h.update(key.view()).update(digest.view()).update(sig.view()).finish();
  if (verified->contains(id)) return true;
  if (!verify(key, digest, sig)) return false;
  verified->insert(id);
  return true;
}

void fill_body(const Delegation& d, wire::Delegation::Builder b) {
  b.setOwnerKey(bytes_ptr(d.owner.view()));
  b.setName(d.name);
  b.setProviderKey(bytes_ptr(d.provider.view()));
  b.setSerial(d.serial);
  b.setNotBefore(d.not_before);
  b.setExpiresAt(d.expires_at);
}

void fill_body(const OwnerStatement& s, wire::OwnerStatement::Builder b) {
  b.setOwnerKey(bytes_ptr(s.owner.view()));
  b.setName(s.name);
  b.setSeq(s.seq);
  b.setMinSerial(s.min_serial);
  auto list = b.initRevokedProviders(static_cast<unsigned>(s.revoked_providers.size()));
  for (unsigned i = 0; i < list.size(); ++i) list.set(i, bytes_ptr(s.revoked_providers[i].view()));
}

Status malformed(const char* reason) { return fail(make_error_code(Errc::kMalformedRecord), reason); }

template <std::size_t N>
bool copy_exact(capnp::Data::Reader in, std::array<std::uint8_t, N>& out) {
  if (in.size() != N) return false;
  std::memcpy(out.data(), in.begin(), N);
  return true;
}

bool read_name(capnp::Text::Reader in, std::string& out) {
  if (in.size() > kMaxServiceNameChars) return false;
  std::string_view v(in.cStr(), in.size());
  if (!is_valid_service_name(v)) return false;
  out.assign(v);
  return true;
}

}  // namespace

bool OwnerStatement::revokes(const Delegation& d) const {
  if (d.owner != owner || d.name != name) return false;
  if (d.serial < min_serial) return true;
  return std::find(revoked_providers.begin(), revoked_providers.end(), d.provider) !=
         revoked_providers.end();
}

Hash256 delegation_digest(const Delegation& d) {
  capnp::MallocMessageBuilder message(64);
  fill_body(d, message.initRoot<wire::Delegation>());
  return bc::wire::canonical_hash(kDelegationTag, message);
}

Hash256 owner_statement_digest(const OwnerStatement& s) {
  capnp::MallocMessageBuilder message(64 + 6 * s.revoked_providers.size());
  fill_body(s, message.initRoot<wire::OwnerStatement>());
  return bc::wire::canonical_hash(kStatementTag, message);
}

Delegation make_delegation(const KeyPair& owner, std::string name, const XOnlyPubKey& provider,
                           std::uint64_t serial, TimeMs not_before, TimeMs expires_at) {
  if (Status s = check_service_name(name); !s.ok()) throw std::invalid_argument(s.message);
  if (expires_at <= not_before) {
    throw std::invalid_argument("delegation expires_at must be after not_before");
  }
  if (provider == owner.public_key()) {
    throw std::invalid_argument(
        "a delegation to the owner's own key is not allowed: the owner's DHT slot under the service "
        "id holds its statements; run the provider under a node key of its own");
  }
  Delegation d;
  d.owner = owner.public_key();
  d.name = std::move(name);
  d.provider = provider;
  d.serial = serial;
  d.not_before = not_before;
  d.expires_at = expires_at;
  d.signature = owner.sign(delegation_digest(d));
  return d;
}

OwnerStatement make_owner_statement(const KeyPair& owner, std::string name, std::uint64_t seq,
                                    std::uint64_t min_serial,
                                    std::vector<XOnlyPubKey> revoked_providers) {
  if (Status s = check_service_name(name); !s.ok()) throw std::invalid_argument(s.message);
  if (revoked_providers.size() > kMaxRevokedProviders) {
    throw std::invalid_argument("an owner statement lists at most 16 revoked provider keys (got " +
                                std::to_string(revoked_providers.size()) +
                                "); raise min_serial and re-issue delegations instead");
  }
  OwnerStatement s;
  s.owner = owner.public_key();
  s.name = std::move(name);
  s.seq = seq;
  s.min_serial = min_serial;
  s.revoked_providers = std::move(revoked_providers);
  s.signature = owner.sign(owner_statement_digest(s));
  return s;
}

const char* to_string(DelegationError e) {
  switch (e) {
    case DelegationError::kNone: return "ok";
    case DelegationError::kBadName: return "bad_name";
    case DelegationError::kSelfDelegation: return "self_delegation";
    case DelegationError::kBadValidity: return "bad_validity";
    case DelegationError::kBadSignature: return "bad_signature";
    case DelegationError::kNotYetValid: return "not_yet_valid";
    case DelegationError::kExpired: return "expired";
    case DelegationError::kWrongService: return "wrong_service";
    case DelegationError::kWrongProvider: return "wrong_provider";
  }
  return "unknown";
}

DelegationError check_delegation(const Delegation& d, TimeMs now, SignatureCache* verified) {
  // Cheap checks first: a signature verification costs ~40 us.
  if (!is_valid_service_name(d.name)) return DelegationError::kBadName;
  if (d.provider == d.owner) return DelegationError::kSelfDelegation;
  if (d.expires_at <= d.not_before) return DelegationError::kBadValidity;
  if (now < d.not_before) return DelegationError::kNotYetValid;
  if (now >= d.expires_at) return DelegationError::kExpired;
  if (!verify_cached(d.owner, delegation_digest(d), d.signature, verified)) {
    return DelegationError::kBadSignature;
  }
  return DelegationError::kNone;
}

DelegationError check_delegation_for(const Delegation& d, const ServiceId& service,
                                     const XOnlyPubKey& provider, TimeMs now,
                                     SignatureCache* verified) {
  if (d.provider != provider) return DelegationError::kWrongProvider;
  if (!is_valid_service_name(d.name)) return DelegationError::kBadName;
  if (d.service() != service) return DelegationError::kWrongService;
  return check_delegation(d, now, verified);
}

bool verify_owner_statement(const OwnerStatement& s, SignatureCache* verified) {
  if (!is_valid_service_name(s.name)) return false;
  if (s.revoked_providers.size() > kMaxRevokedProviders) return false;
  return verify_cached(s.owner, owner_statement_digest(s), s.signature, verified);
}

void delegation_to_builder(const Delegation& d, wire::Delegation::Builder out) {
  fill_body(d, out);
  out.setSignature(bytes_ptr(d.signature.view()));
}

Result<Delegation> delegation_from_reader(wire::Delegation::Reader in) {
  Delegation out;
  if (!in.hasOwnerKey() || !copy_exact(in.getOwnerKey(), out.owner.bytes)) {
    return malformed("delegation_bad_owner_key");
  }
  if (!read_name(in.getName(), out.name)) return malformed("delegation_bad_name");
  if (!copy_exact(in.getProviderKey(), out.provider.bytes)) return malformed("delegation_bad_provider_key");
  if (!copy_exact(in.getSignature(), out.signature.bytes)) return malformed("delegation_bad_signature_size");
  out.serial = in.getSerial();
  out.not_before = in.getNotBefore();
  out.expires_at = in.getExpiresAt();
  return out;
}

void owner_statement_to_builder(const OwnerStatement& s, wire::OwnerStatement::Builder out) {
  fill_body(s, out);
  out.setSignature(bytes_ptr(s.signature.view()));
}

Result<OwnerStatement> owner_statement_from_reader(wire::OwnerStatement::Reader in) {
  OwnerStatement out;
  if (!copy_exact(in.getOwnerKey(), out.owner.bytes)) return malformed("statement_bad_owner_key");
  if (!read_name(in.getName(), out.name)) return malformed("statement_bad_name");
  auto list = in.getRevokedProviders();
  if (list.size() > kMaxRevokedProviders) return malformed("statement_too_many_revoked");
  out.revoked_providers.reserve(list.size());
  for (auto k : list) {
    XOnlyPubKey key;
    if (!copy_exact(k, key.bytes)) return malformed("statement_bad_revoked_key");
    out.revoked_providers.push_back(key);
  }
  if (!copy_exact(in.getSignature(), out.signature.bytes)) return malformed("statement_bad_signature_size");
  out.seq = in.getSeq();
  out.min_serial = in.getMinSerial();
  return out;
}

Bytes encode_delegation(const Delegation& d) {
  capnp::MallocMessageBuilder message(64);
  delegation_to_builder(d, message.initRoot<wire::Delegation>());
  kj::Array<capnp::word> words = capnp::messageToFlatArray(message);
  auto bytes = words.asBytes();
  return Bytes(bytes.begin(), bytes.end());
}

Result<Delegation> decode_delegation(ByteView data) {
  const bc::wire::DecodeLimits limits{.max_bytes = kMaxEncodedDelegationBytes,
                                      .traversal_words = kMaxEncodedDelegationBytes / 8,
                                      .nesting = 4,
                                      .max_segments = 2};
  Result<Delegation> out = malformed("malformed");
  const auto err = bc::wire::decode<wire::Delegation>(
      data, limits, [&](wire::Delegation::Reader r) { out = delegation_from_reader(r); });
  if (err != bc::wire::DecodeError::kOk) return malformed(bc::wire::to_string(err));
  return out;
}

}  // namespace bc::sal
