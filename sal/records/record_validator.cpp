// The rules every node applies to SAL records (docs/sal-records.md).
#include "sal/records/record_validator.hpp"

#include <array>
#include <memory>

namespace bc::sal {
namespace {

RecordReason from_delegation(DelegationError e) {
  switch (e) {
    case DelegationError::kNone: return RecordReason::kOk;
    case DelegationError::kBadName: return RecordReason::kMalformedPayload;
    case DelegationError::kSelfDelegation: return RecordReason::kSelfDelegation;
    case DelegationError::kBadValidity: return RecordReason::kBadDelegationValidity;
    case DelegationError::kBadSignature: return RecordReason::kBadDelegationSignature;
    case DelegationError::kNotYetValid: return RecordReason::kDelegationNotYetValid;
    case DelegationError::kExpired: return RecordReason::kDelegationExpired;
    case DelegationError::kWrongService: return RecordReason::kDelegationWrongService;
    case DelegationError::kWrongProvider: return RecordReason::kDelegationWrongProvider;
  }
  return RecordReason::kMalformedPayload;
}

constexpr std::size_t kReasons = static_cast<std::size_t>(RecordReason::kBadStatementSignature) + 1;

}  // namespace

const char* to_string(RecordReason r) {
  switch (r) {
    case RecordReason::kOk: return "ok";
    case RecordReason::kNotSal: return "not_sal";
    case RecordReason::kMalformedPayload: return "malformed_payload";
    case RecordReason::kNoDelegation: return "no_delegation";
    case RecordReason::kBadDelegationSignature: return "bad_delegation_signature";
    case RecordReason::kSelfDelegation: return "self_delegation";
    case RecordReason::kBadDelegationValidity: return "bad_delegation_validity";
    case RecordReason::kDelegationWrongService: return "delegation_wrong_service";
    case RecordReason::kDelegationWrongProvider: return "delegation_wrong_provider";
    case RecordReason::kDelegationNotYetValid: return "delegation_not_yet_valid";
    case RecordReason::kDelegationExpired: return "delegation_expired";
    case RecordReason::kOutlivesDelegation: return "outlives_delegation";
    case RecordReason::kStatementWrongService: return "statement_wrong_service";
    case RecordReason::kStatementNotByOwner: return "statement_not_by_owner";
    case RecordReason::kBadStatementSignature: return "bad_statement_signature";
  }
  return "unknown";
}

std::string explain(RecordReason r) {
  switch (r) {
    case RecordReason::kOk: return "valid SAL record";
    case RecordReason::kNotSal: return "payload is not a SAL record (no \"bcsal/v1\" prefix)";
    case RecordReason::kMalformedPayload:
      return "SAL payload does not decode or breaks a bound (addresses <= 8, names 1..63 of [a-z0-9-], "
             "keys 32 bytes); rebuild it with build_endpoint_payload()";
    case RecordReason::kNoDelegation:
      return "endpoint record without a delegation; ask the service owner for a delegation certificate";
    case RecordReason::kBadDelegationSignature:
      return "delegation is not signed by the owner key it names; ask the owner to sign it again";
    case RecordReason::kSelfDelegation:
      return "delegation names the owner key as provider; serve from a node key of its own";
    case RecordReason::kBadDelegationValidity: return "delegation expires before it starts";
    case RecordReason::kDelegationWrongService:
      return "delegation is for another service than the record's key";
    case RecordReason::kDelegationWrongProvider:
      return "delegation names another provider key than the node that signed the record";
    case RecordReason::kDelegationNotYetValid:
      return "delegation is not valid yet (not_before is in the future); check the clocks";
    case RecordReason::kDelegationExpired: return "delegation has expired; ask the owner to renew it";
    case RecordReason::kOutlivesDelegation:
      return "record expires after its delegation; publish with a TTL ending at or before the delegation's expiry";
    case RecordReason::kStatementWrongService:
      return "owner statement is for another service than the record's key";
    case RecordReason::kStatementNotByOwner:
      return "owner statement published by a key other than the service owner's";
    case RecordReason::kBadStatementSignature: return "owner statement signature does not verify";
  }
  return "unknown reason";
}

RecordReason validate_service_record(const routing::Record& record, TimeMs now,
                                     SignatureCache* verified, SalPayload* parsed) {
  if (!has_sal_magic(record.payload)) return RecordReason::kNotSal;
  Result<SalPayload> p = decode_sal_payload(record.payload);
  if (!p) {
    return p.status().message == kNoDelegation ? RecordReason::kNoDelegation : RecordReason::kMalformedPayload;
  }
  if (auto* ep = std::get_if<EndpointInfo>(&*p)) {
    const Delegation& d = ep->delegation;
    // Cheap binding checks before the signature.
    if (d.service() != record.key) return RecordReason::kDelegationWrongService;
    if (d.provider != record.owner) return RecordReason::kDelegationWrongProvider;
    if (record.expires_at > d.expires_at) return RecordReason::kOutlivesDelegation;
    if (RecordReason r = from_delegation(check_delegation(d, now, verified)); r != RecordReason::kOk) {
      return r;
    }
  } else {
    const OwnerStatement& s = std::get<OwnerStatement>(*p);
    if (s.service() != record.key) return RecordReason::kStatementWrongService;
    if (s.owner != record.owner) return RecordReason::kStatementNotByOwner;
    if (!verify_owner_statement(s, verified)) return RecordReason::kBadStatementSignature;
  }
  if (parsed) *parsed = std::move(*p);
  return RecordReason::kOk;
}

routing::RecordValidator make_record_validator(metrics::Registry* metrics, ValidatorOptions options) {
  struct State {
    SignatureCache verified;
    std::array<metrics::Counter*, kReasons> rejected{};
    bool sal_only = false;
    explicit State(std::size_t n) : verified(n) {}
  };
  auto st = std::make_shared<State>(options.signature_cache_entries);
  st->sal_only = options.sal_only;
  if (metrics) {
    for (std::size_t i = 1; i < kReasons; ++i) {
      st->rejected[i] = &metrics->counter("bc_sal_records_rejected_total",
                                          "SAL records refused by the record validator, by reason",
                                          {{"reason", to_string(static_cast<RecordReason>(i))}});
    }
  }
  return [st](const routing::Record& r, TimeMs now) -> routing::RecordVerdict {
    SalPayload parsed;
    RecordReason reason = validate_service_record(r, now, &st->verified, &parsed);
    if (reason == RecordReason::kOk) {
      // The owner's statement (it revokes providers) must outlast any
      // flood of others' records under its service ID.
      return std::holds_alternative<OwnerStatement>(parsed) ? routing::RecordKind::kPinned
                                                            : routing::RecordKind::kService;
    }
    // Generic values pass unless sal_only; the node's store still refuses
    // them under any key that holds a valid SAL record (a service key).
    if (reason == RecordReason::kNotSal && !st->sal_only) return routing::RecordKind::kGeneric;
    if (auto* c = st->rejected[static_cast<std::size_t>(reason)]) c->inc();
    return false;
  };
}

}  // namespace bc::sal
