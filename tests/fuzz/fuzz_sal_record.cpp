// libFuzzer target: hostile bytes -> SAL payload and delegation decoders ->
// validate_service_record() and the DHT record validator.
//
// Checks that the decoders never crash, never return values outside their
// bounds, that whatever decodes and can be rebuilt decodes back to the same
// value, and that validation gives a known reason and accepts a record only
// when every rule holds.
#include <cstddef>
#include <cstdint>
#include <string>

#include "routing/record.hpp"
#include "sal/records/delegation.hpp"
#include "sal/records/endpoint_record.hpp"
#include "sal/records/record_validator.hpp"

using namespace bc;
using namespace bc::sal;

namespace {

constexpr TimeMs kNow = 1'800'000'000'000;

void require(bool ok) {
  if (!ok) __builtin_trap();
}

void check_payload(ByteView payload) {
  auto p = decode_sal_payload(payload);
  if (!p) {
    require(p.status().code == sal::Errc::kMalformedRecord && !p.status().message.empty());
    return;
  }
  if (auto* e = std::get_if<EndpointInfo>(&*p)) {
    require(e->addresses.size() <= kMaxAddresses);
    require(e->cluster_hints.size() <= kMaxClusterHints);
    for (const auto& a : e->addresses) require(a.port != 0);
    for (const auto& h : e->cluster_hints) require(h.level == 1 || h.level == 2);
    require(is_valid_service_name(e->delegation.name));
    // Rebuilding may need more bytes than a hostile encoding that shares
    // pointers; when it fits, it must decode to the same value.
    Result<Bytes> b = build_endpoint_payload(*e);
    if (b.ok()) {
      auto again = decode_sal_payload(*b);
      require(again.ok() && std::get<EndpointInfo>(*again) == *e);
    }
  } else {
    const auto& s = std::get<OwnerStatement>(*p);
    require(s.revoked_providers.size() <= kMaxRevokedProviders);
    require(is_valid_service_name(s.name));
    Result<Bytes> b = build_statement_payload(s);
    if (b.ok()) {
      auto again = decode_sal_payload(*b);
      require(again.ok() && std::get<OwnerStatement>(*again) == s);
    }
  }
}

void check_record(ByteView payload, ByteView raw) {
  if (payload.size() > routing::kMaxPayloadBytes) return;
  routing::Record r;
  // Key and owner from the input, so the binding checks see both matches and
  // mismatches; the DHT would have checked the record signature already.
  for (std::size_t i = 0; i < 32 && i < raw.size(); ++i) r.owner.bytes[i] = raw[raw.size() - 1 - i];
  r.payload.assign(payload.begin(), payload.end());
  r.seq = raw.size();
  r.expires_at = kNow + static_cast<TimeMs>(raw.size()) * 1000;
  auto p = decode_sal_payload(payload);
  if (p) {
    if (auto* e = std::get_if<EndpointInfo>(&*p)) {
      r.key = e->delegation.service();
      if (!raw.empty() && raw[0] & 1) r.owner = e->delegation.provider;
    } else {
      r.key = std::get<OwnerStatement>(*p).service();
      if (!raw.empty() && raw[0] & 1) r.owner = std::get<OwnerStatement>(*p).owner;
    }
  }
  const RecordReason reason = validate_service_record(r, kNow);
  require(std::string(to_string(reason)) != "unknown");
  // Accepted only with every rule met (seeds carry genuinely signed ones).
  if (reason == RecordReason::kOk) {
    require(p.ok());
    if (auto* e = std::get_if<EndpointInfo>(&*p)) {
      require(check_delegation_for(e->delegation, r.key, r.owner, kNow) == DelegationError::kNone);
      require(r.expires_at <= e->delegation.expires_at);
    } else {
      const auto& s = std::get<OwnerStatement>(*p);
      require(s.owner == r.owner && s.service() == r.key && verify_owner_statement(s));
    }
  }
  static routing::RecordValidator validator = make_record_validator();
  require(validator(r, kNow).accepted == (reason == RecordReason::kOk || reason == RecordReason::kNotSal));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const ByteView in(data, size);
  if (has_sal_magic(in)) {
    check_payload(in);
    check_record(in, in);
    return 0;
  }
  // Not a payload: try it as a standalone delegation, and as a payload body.
  if (auto d = decode_delegation(in)) {
    require(is_valid_service_name(d->name));
    auto again = decode_delegation(encode_delegation(*d));
    require(again.ok() && *again == *d);
    require(std::string(to_string(check_delegation(*d, kNow))) != "unknown");
  } else {
    require(d.status().code == sal::Errc::kMalformedRecord && !d.status().message.empty());
  }
  Bytes with_magic(kSalPayloadMagic.begin(), kSalPayloadMagic.end());
  with_magic.insert(with_magic.end(), in.begin(), in.end());
  check_payload(with_magic);
  check_record(with_magic, in);
  return 0;
}
