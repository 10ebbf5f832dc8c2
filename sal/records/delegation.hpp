// Delegation certificates and owner statements (docs/sal-records.md).
//
// A service owner delegates a provider node key with a certificate it signs
// (BIP340 over tagged_hash("blockcloud/sal-delegation/v1", Cap'n Proto
// canonical form of sal/records/wire/records.capnp Delegation with the signature
// null)). The certificate carries the owner key and the service name, so
// anyone recomputes the service ID from it. It is valid in
// [not_before, expires_at).
//
// Revocation: by expiry, and by an OwnerStatement (signed the same way with
// tag "blockcloud/sal-owner-statement/v1"): the statement with the highest
// seq for a service revokes every delegation with serial < min_serial and
// every delegation of a listed provider key.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "layers/bytes.hpp"
#include "layers/crypto.hpp"
#include "layers/runtime.hpp"
#include "layers/sig_cache.hpp"
#include "layers/status.hpp"
#include "sal/errc.hpp"
#include "sal/records/service_id.hpp"
#include "sal/records/wire/records.capnp.h"

namespace bc::sal {

inline constexpr std::size_t kMaxRevokedProviders = 16;

struct Delegation {
  XOnlyPubKey owner;
  std::string name;
  XOnlyPubKey provider;
  std::uint64_t serial = 0;
  TimeMs not_before = 0;
  TimeMs expires_at = 0;
  Signature signature;

  ServiceId service() const { return service_id_of(owner, name); }
  friend bool operator==(const Delegation&, const Delegation&) = default;
};

struct OwnerStatement {
  XOnlyPubKey owner;
  std::string name;
  std::uint64_t seq = 0;
  std::uint64_t min_serial = 0;
  std::vector<XOnlyPubKey> revoked_providers;  // at most kMaxRevokedProviders
  Signature signature;

  ServiceId service() const { return service_id_of(owner, name); }
  // True if this statement (assumed verified) revokes d: same service and
  // d.serial < min_serial, or d's provider is listed.
  bool revokes(const Delegation& d) const;
  friend bool operator==(const OwnerStatement&, const OwnerStatement&) = default;
};

Hash256 delegation_digest(const Delegation& d);
Hash256 owner_statement_digest(const OwnerStatement& s);

// Signs a delegation. Throws std::invalid_argument (saying what to fix) for a
// bad name, expires_at <= not_before, or provider == owner (the owner's DHT
// slot under the service ID holds its statements, see docs/sal-records.md).
Delegation make_delegation(const KeyPair& owner, std::string name, const XOnlyPubKey& provider,
                           std::uint64_t serial, TimeMs not_before, TimeMs expires_at);
// Throws std::invalid_argument for a bad name or more than 16 revoked keys.
OwnerStatement make_owner_statement(const KeyPair& owner, std::string name, std::uint64_t seq,
                                    std::uint64_t min_serial,
                                    std::vector<XOnlyPubKey> revoked_providers = {});

enum class DelegationError {
  kNone,
  kBadName,          // name breaks the service name rules
  kSelfDelegation,   // provider == owner
  kBadValidity,      // expires_at <= not_before
  kBadSignature,     // not signed by the owner key it names
  kNotYetValid,      // now < not_before
  kExpired,          // now >= expires_at
  kWrongService,     // for another service than the one asked about
  kWrongProvider,    // names another provider key than the one asked about
};
const char* to_string(DelegationError e);

// Signature, name and validity window at `now`. With a cache, a signature
// verified before is not verified again.
DelegationError check_delegation(const Delegation& d, TimeMs now, SignatureCache* verified = nullptr);
// check_delegation() plus: it is for `service` and names `provider` (what a
// flow opener checks against the TLS-proven peer key).
DelegationError check_delegation_for(const Delegation& d, const ServiceId& service,
                                     const XOnlyPubKey& provider, TimeMs now,
                                     SignatureCache* verified = nullptr);
// Name, list bound and signature. False if anything fails.
bool verify_owner_statement(const OwnerStatement& s, SignatureCache* verified = nullptr);

// ---- wire ----------------------------------------------------------------
// Builders write every field. Readers check every size (keys 32, signature
// 64, name rules, list bounds); a refusal is Errc::kMalformedRecord whose
// message is a stable snake_case reason ("delegation_bad_name", ...). They
// may throw kj::Exception on a malformed message (run them inside
// bc::wire::decode()).
void delegation_to_builder(const Delegation& d, wire::Delegation::Builder out);
Result<Delegation> delegation_from_reader(wire::Delegation::Reader in);
void owner_statement_to_builder(const OwnerStatement& s, wire::OwnerStatement::Builder out);
Result<OwnerStatement> owner_statement_from_reader(wire::OwnerStatement::Reader in);

// A delegation as one standalone message (flow handshakes carry it).
inline constexpr std::size_t kMaxEncodedDelegationBytes = 512;
Bytes encode_delegation(const Delegation& d);
// Bounded decode (size, traversal and nesting limits). A refusal is
// Errc::kMalformedRecord with a stable snake_case reason as message: the
// wire decoder's ("truncated", "too_large", ...) or the reader's.
Result<Delegation> decode_delegation(ByteView data);

}  // namespace bc::sal
