// Validation of SAL records in the DSHT (docs/sal-records.md, "Validation").
//
// validate_service_record() checks a record's SAL payload against the record
// that carries it. It assumes routing::check_record() passed (the record's
// own signature, size and expiry), as DhtNode does before calling its
// RecordValidator. make_record_validator() wraps it for
// DhtNode::set_record_validator(), so every node refuses bad SAL records
// when they are stored, returned from a get, pushed in a watch or put.
#pragma once
#include <cstdint>
#include <string>

#include "layers/metrics.hpp"
#include "layers/runtime.hpp"
#include "layers/sig_cache.hpp"
#include "routing/dht.hpp"
#include "routing/record.hpp"
#include "sal/records/endpoint_record.hpp"

namespace bc::sal {

enum class RecordReason {
  kOk,
  kNotSal,                    // no SAL magic: not a SAL record at all
  kMalformedPayload,          // SAL magic but the payload does not decode or breaks a bound
  kNoDelegation,              // endpoint record without a delegation
  kBadDelegationSignature,    // delegation not signed by the owner key it names
  kSelfDelegation,            // delegation names the owner as provider
  kBadDelegationValidity,     // delegation expires_at <= not_before
  kDelegationWrongService,    // delegation's owner+name hash to another ID than the record key
  kDelegationWrongProvider,   // delegation names another provider key than the record owner
  kDelegationNotYetValid,     // now < delegation.not_before
  kDelegationExpired,         // now >= delegation.expires_at
  kOutlivesDelegation,        // record.expires_at > delegation.expires_at
  kStatementWrongService,     // statement's owner+name hash to another ID than the record key
  kStatementNotByOwner,       // the DHT record is signed by someone else than the statement's owner
  kBadStatementSignature,     // statement signature does not verify
};
// Stable snake_case name, usable as a metric label.
const char* to_string(RecordReason r);
// A sentence for logs and API errors: what is wrong and what to do.
std::string explain(RecordReason r);

// With `parsed`, the decoded payload is left there on kOk (saves a decode).
// With a cache, a delegation or statement signature verified before is not
// verified again.
RecordReason validate_service_record(const routing::Record& record, TimeMs now,
                                     SignatureCache* verified = nullptr,
                                     SalPayload* parsed = nullptr);

struct ValidatorOptions {
  // true: refuse every record that is not a SAL record (a DSHT used only for
  // services). false: records without the SAL magic pass untouched, so the
  // generic put/get of the same DSHT keeps working.
  bool sal_only = false;
  std::size_t signature_cache_entries = 4096;
};

// For DhtNode::set_record_validator(). Valid SAL records are accepted as
// RecordKind::kService, owner statements as kPinned (never evicted by others'
// records); with them in a key, the node's store refuses generic values there
// (StoreOutcome::kWrongKind), so a service ID holds only valid SAL records
// whatever sal_only says. Counts each refusal in
// bc_sal_records_rejected_total{reason} when `metrics` is given (it must
// outlive the validator). Deterministic; never calls into the node.
routing::RecordValidator make_record_validator(metrics::Registry* metrics = nullptr,
                                               ValidatorOptions options = {});

}  // namespace bc::sal
