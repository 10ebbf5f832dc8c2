// SAL payloads of DSHT records (docs/sal-records.md).
//
// Under a service ID the DSHT holds routing::Records whose payload is
//   kSalPayloadMagic (8 bytes "bcsal/v1") || one Cap'n Proto SalPayload
// (sal/records/wire/records.capnp), either
//   - an endpoint record: the DHT record's owner is the provider node key
//     (so the provider node ID is node_id_of(record.owner)), its seq and
//     expiry are the record's; the payload holds the addresses, a weight,
//     the provider's Coral cluster ids and the owner's delegation; or
//   - an owner statement: the DHT record's owner is the service owner key.
// The magic lets the validator tell SAL records from other values stored in
// the same DSHT (generic put/get), which it leaves alone.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "layers/bytes.hpp"
#include "layers/crypto.hpp"
#include "layers/runtime.hpp"
#include "routing/dht.hpp"
#include "routing/record.hpp"
#include "sal/records/delegation.hpp"
#include "sal/records/service_id.hpp"

namespace bc::sal {

inline constexpr std::array<std::uint8_t, 8> kSalPayloadMagic = {'b', 'c', 's', 'a', 'l', '/', 'v', '1'};
inline constexpr std::size_t kMaxAddresses = 8;
inline constexpr std::size_t kMaxClusterHints = 2;  // levels 1 and 2; level 0 is global

struct ClusterHint {
  std::uint8_t level = 0;  // 1 or 2
  Hash256 id;
  friend bool operator==(const ClusterHint&, const ClusterHint&) = default;
};

// The provider's view of one service it serves. No addresses = withdrawn
// (the provider stopped; the record replaces its earlier one at once).
struct EndpointInfo {
  std::vector<Endpoint> addresses;  // IPv4 (mapped) or IPv6, port != 0; at most 8
  std::uint16_t weight = 1;         // relative share in weighted anycast; 0 = standby
  std::vector<ClusterHint> cluster_hints;
  Delegation delegation;
  bool withdrawn() const { return addresses.empty(); }
  friend bool operator==(const EndpointInfo&, const EndpointInfo&) = default;
};

using SalPayload = std::variant<EndpointInfo, OwnerStatement>;

// The provider's Coral cluster ids at levels 1 and 2 (zero ids skipped).
std::vector<ClusterHint> cluster_hints_of(const routing::DhtStatus& status);

// Encodes with the magic. Refuses with kInvalidArgument (saying what to fix)
// more than 8 addresses, port 0, more than 2 hints or a hint level outside
// 1..2, and with kOversized a payload over routing::kMaxPayloadBytes.
Result<Bytes> build_endpoint_payload(const EndpointInfo& info);
Result<Bytes> build_statement_payload(const OwnerStatement& statement);

// The refusal reason of an endpoint record without a delegation.
inline constexpr const char* kNoDelegation = "no_delegation";
// Bounded decode (1024 bytes with the magic, 256 traversal words, nesting 8).
// A refusal is Errc::kMalformedRecord whose message is a stable snake_case
// reason ("no_magic", "truncated", "delegation_bad_name", kNoDelegation, ...).
// Checks sizes only, not signatures.
Result<SalPayload> decode_sal_payload(ByteView payload);
bool has_sal_magic(ByteView payload);

// Owner side: the DHT record carrying a statement, signed by the owner key.
// Throws std::invalid_argument if `owner` is not the statement's owner or the
// payload does not fit.
routing::Record make_statement_record(const KeyPair& owner, const OwnerStatement& statement,
                                      std::uint64_t record_seq, TimeMs expires_at);
// Tests and tools: an endpoint record signed by `provider` (DhtNode::publish
// does this for a running node). Throws std::invalid_argument if the payload
// cannot be built.
routing::Record make_endpoint_record(const KeyPair& provider, const EndpointInfo& info,
                                     std::uint64_t seq, TimeMs expires_at);

}  // namespace bc::sal
