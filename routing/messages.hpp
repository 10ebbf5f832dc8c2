// DHT messages in memory, and their bounded codec (wire form: routing/wire/dht.capnp).
//
// decode() is the only way bytes from the network become a message: it
// enforces the datagram size, Cap'n Proto traversal and nesting limits, exact
// field lengths, list bounds, the protocol version and sender id == SHA-256 of
// the sender key, and returns a DropReason on failure for the node to count.
// Signatures inside (PONG, records) are checked by the node, which knows the
// context (our nonce, the current time).
#pragma once
#include <cstdint>
#include <optional>
#include <variant>
#include <vector>

#include "layers/bytes.hpp"
#include "layers/crypto.hpp"
#include "layers/ids.hpp"
#include "layers/runtime.hpp"
#include "routing/record.hpp"

namespace bc::routing {

inline constexpr std::uint16_t kProtocolVersion = 1;
inline constexpr std::size_t kMaxContactsPerMessage = 16;
inline constexpr std::size_t kMaxRecordsPerMessage = 64;
inline constexpr std::size_t kMaxTokenBytes = 64;
inline constexpr int kLevels = 3;

// Why an incoming datagram was dropped; each is a label value of
// bc_dht_dropped_total{reason=...}.
enum class DropReason {
  kMalformed,
  kTruncated,
  kOversized,
  kBadId,
  kUnsigned,
  kBadSignature,
  kExpired,
  kReplayed,
  kBadToken,
  kRateLimited,
  kUnsolicited,
  kWrongVersion,
  kRejected,  // a record the installed RecordValidator refused
};
inline constexpr int kDropReasonCount = 13;
const char* to_string(DropReason r);

struct WireContact {
  NodeId id;
  Endpoint endpoint;
  friend bool operator==(const WireContact&, const WireContact&) = default;
};

// STORE_ACK outcome: Store::put's outcomes plus the checks made before it.
enum class AckOutcome {
  kStored, kReplaced, kDuplicate, kStale, kNoRoom, kExpired, kBadRecord, kBadToken, kRateLimited
};
inline constexpr int kAckOutcomeCount = 9;
const char* to_string(AckOutcome o);
inline bool is_success(AckOutcome o) {
  return o == AckOutcome::kStored || o == AckOutcome::kReplaced || o == AckOutcome::kDuplicate;
}
enum class NotifyKind { kAdded, kExpired };
enum class ErrorCode { kUnknown, kRateLimited, kBadRequest, kWrongVersion };

namespace msg {
struct Ping {
  std::uint64_t nonce = 0;
  // false: a liveness check from a node that verified us at this address
  // already; the PONG may be unsigned (saves a sign and a verify).
  bool need_proof = true;
  friend bool operator==(const Ping&, const Ping&) = default;
};
struct Pong {
  std::uint64_t nonce = 0;
  Endpoint observed;  // the pinger's endpoint as the responder saw it
  Signature signature;  // the responder's address certificate (addr_cert_digest)
  bool proof = true;  // false: unsigned (signature all zeros, not sent)
  TimeMs cert_expires_at = 0;
  friend bool operator==(const Pong&, const Pong&) = default;
};
struct FindNode {
  Hash256 target;
  std::uint8_t level = 0;
  Hash256 cluster_id;
  friend bool operator==(const FindNode&, const FindNode&) = default;
};
struct Nodes {
  std::vector<WireContact> contacts;
  friend bool operator==(const Nodes&, const Nodes&) = default;
};
struct FindValue {
  Key key;
  std::uint8_t level = 0;
  Hash256 cluster_id;
  std::uint64_t new_ttl_ms = 0;
  bool want_records = true;
  Bytes token;  // from an earlier VALUES of the same node; empty: none
  friend bool operator==(const FindValue&, const FindValue&) = default;
};
struct Values {
  std::vector<Record> records;
  std::vector<WireContact> contacts;
  Bytes token;
  bool full = false;
  bool loaded = false;
  bool truncated = false;
  bool need_token = false;
  friend bool operator==(const Values&, const Values&) = default;
};
struct Store {
  Record record;
  Bytes token;
  std::uint8_t level = 0;
  friend bool operator==(const Store&, const Store&) = default;
};
struct StoreAck {
  AckOutcome outcome = AckOutcome::kBadRecord;
  friend bool operator==(const StoreAck&, const StoreAck&) = default;
};
struct Watch {
  Key key;
  std::uint64_t subscription_id = 0;
  std::uint64_t ttl_ms = 0;
  friend bool operator==(const Watch&, const Watch&) = default;
};
struct WatchAck {
  std::uint64_t subscription_id = 0;
  std::uint64_t ttl_ms = 0;
  friend bool operator==(const WatchAck&, const WatchAck&) = default;
};
struct Notify {
  Key key;
  std::uint64_t subscription_id = 0;
  NotifyKind kind = NotifyKind::kAdded;
  Record record;
  friend bool operator==(const Notify&, const Notify&) = default;
};
struct Error {
  ErrorCode code = ErrorCode::kUnknown;
  friend bool operator==(const Error&, const Error&) = default;
};
}  // namespace msg

using Body = std::variant<msg::Ping, msg::Pong, msg::FindNode, msg::Nodes, msg::FindValue,
                          msg::Values, msg::Store, msg::StoreAck, msg::Watch, msg::WatchAck,
                          msg::Notify, msg::Error>;

// True for the bodies that answer a request (matched by txid).
bool is_response(const Body& b);
const char* body_name(const Body& b);

struct Envelope {
  std::uint16_t version = kProtocolVersion;
  NodeId sender_id;
  XOnlyPubKey sender_key;
  std::uint64_t txid = 0;
  Hash256 cluster_ids[kLevels];      // [1], [2] travel; [0] is always zero
  std::uint32_t cluster_sizes[kLevels] = {0, 0, 0};
  // The sender is a read-only node (BEP 43): it is answered, never added to
  // a routing table, asked to prove its id or given records to store.
  bool read_only = false;
  Body body;
  friend bool operator==(const Envelope&, const Envelope&) = default;
};

struct DecodeLimits {
  std::size_t max_bytes = 8192;
  std::uint64_t traversal_words = 4096;  // 32 KiB of reads: 4x an 8 KiB datagram
  int nesting = 8;
};

struct DecodeResult {
  std::optional<Envelope> envelope;
  DropReason reason = DropReason::kMalformed;  // meaningful when !envelope
  bool ok() const { return envelope.has_value(); }
};

Bytes encode(const Envelope& env);
DecodeResult decode(ByteView data, const DecodeLimits& limits);

// Encodes a VALUES response with as many records as fit in max_bytes; the
// rest are left out and `truncated` is set (the requester keeps what it got;
// one record per owner is all a get needs, see docs/routing.md).
Bytes encode_values_fitting(Envelope env, std::size_t max_bytes);

// Digest of a node's address certificate, which a PONG carries as the
// identity proof: binds the node's id to the address it answers from, until
// expires_at.
Hash256 addr_cert_digest(const NodeId& node, const Endpoint& address, TimeMs expires_at);

}  // namespace bc::routing
