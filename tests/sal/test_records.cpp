// Service IDs, their text form, delegation certificates, owner statements,
// SAL payloads and every reason validate_service_record() gives.
#include <doctest/doctest.h>

#include <capnp/message.h>
#include <capnp/serialize.h>

#include <stdexcept>

#include "layers/ids.hpp"
#include "layers/metrics.hpp"
#include "sal/records/delegation.hpp"
#include "sal/records/endpoint_record.hpp"
#include "sal/records/record_validator.hpp"
#include "sal/records/service_id.hpp"
#include "sal/records/wire/records.capnp.h"

using namespace bc;
using namespace bc::sal;

namespace {

KeyPair key(const std::string& tag) { return *KeyPair::from_secret(sha256(as_bytes("records/" + tag)).view()); }

constexpr TimeMs kNow = 1'800'000'000'000;
constexpr TimeMs kHour = 3'600'000;

Endpoint ep(const char* text) { return *Endpoint::parse(text); }

EndpointInfo info_for(const Delegation& d) {
  EndpointInfo i;
  i.addresses = {ep("127.0.0.2:4000"), ep("[::1]:4001")};
  i.weight = 7;
  Hash256 c;
  c.bytes[0] = 9;
  i.cluster_hints = {{2, c}};
  i.delegation = d;
  return i;
}

Bytes with_magic(capnp::MallocMessageBuilder& m) {
  auto words = capnp::messageToFlatArray(m);
  auto bytes = words.asBytes();
  Bytes out(kSalPayloadMagic.begin(), kSalPayloadMagic.end());
  out.insert(out.end(), bytes.begin(), bytes.end());
  return out;
}

}  // namespace

TEST_CASE("service names follow DNS label rules") {
  CHECK(is_valid_service_name("storage"));
  CHECK(is_valid_service_name("a"));
  CHECK(is_valid_service_name("web-2"));
  CHECK(is_valid_service_name(std::string(63, 'x')));
  CHECK_FALSE(is_valid_service_name(""));
  CHECK_FALSE(is_valid_service_name(std::string(64, 'x')));
  CHECK_FALSE(is_valid_service_name("Web"));
  CHECK_FALSE(is_valid_service_name("a_b"));
  CHECK_FALSE(is_valid_service_name("a.b"));
  CHECK_FALSE(is_valid_service_name("-a"));
  CHECK_FALSE(is_valid_service_name("a-"));
  CHECK(check_service_name("web").ok());
  CHECK(check_service_name("A").code == bc::Errc::kInvalidArgument);
  CHECK(check_service_name("A").message.find("position 0") != std::string::npos);
  CHECK(check_service_name(std::string(64, 'x')).message.find("63") != std::string::npos);
}

TEST_CASE("a service id commits to the owner key and the name") {
  KeyPair a = key("owner-a"), b = key("owner-b");
  ServiceId s = service_id_of(a.public_key(), "web");
  CHECK(s == service_id_of(a.public_key(), "web"));
  CHECK(s != service_id_of(a.public_key(), "web2"));
  CHECK(s != service_id_of(b.public_key(), "web"));
  Bytes data(a.public_key().bytes.begin(), a.public_key().bytes.end());
  data.insert(data.end(), {'w', 'e', 'b'});
  CHECK(s == tagged_hash("blockcloud/service-id/v1", data));
}

TEST_CASE("service id text form: bare, .bc, any case; clear errors") {
  ServiceId s = service_id_of(key("text").public_key(), "mail");
  std::string text = service_id_to_text(s);
  CHECK(text.size() == 59);
  CHECK(text[0] == 's');
  CHECK(service_host_name(s) == text + ".bc");
  std::string upper;
  for (char c : text) upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (const std::string& form : {text, text + ".bc", text + ".BC", text + ".bc.", upper + ".Bc"}) {
    Result<ServiceId> p = parse_service_id(form);
    REQUIRE_MESSAGE(p.ok(), form << ": " << p.status().text());
    CHECK(*p == s);
  }
  const auto refusal = [](std::string_view t) {
    Result<ServiceId> p = parse_service_id(t);
    CHECK_FALSE(p.ok());
    CHECK(p.status().code == bc::Errc::kInvalidArgument);
    return p.status().message;
  };
  CHECK(refusal("").find("empty") != std::string::npos);
  CHECK(refusal(".bc").find("empty") != std::string::npos);
  CHECK(refusal(text + ".com").find(".bc") != std::string::npos);
  CHECK(refusal(id_to_text('n', s)).find("node id") != std::string::npos);
  CHECK(refusal(text.substr(0, 58)).find("58 characters") != std::string::npos);
  std::string bad_char = text;
  bad_char[10] = '1';  // '1' is not in base32
  CHECK(refusal(bad_char).find("base32") != std::string::npos);
  std::string typo = text;
  typo[20] = typo[20] == 'a' ? 'b' : 'a';
  CHECK(refusal(typo).find("checksum") != std::string::npos);
}

TEST_CASE("delegation certificates: signed by the owner, bounded in time, bound to a provider") {
  KeyPair owner = key("owner"), provider = key("provider"), other = key("other");
  Delegation d = make_delegation(owner, "web", provider.public_key(), 3, kNow - kHour, kNow + kHour);
  CHECK(d.service() == service_id_of(owner.public_key(), "web"));
  CHECK(check_delegation(d, kNow) == DelegationError::kNone);
  CHECK(check_delegation(d, kNow - kHour - 1) == DelegationError::kNotYetValid);
  CHECK(check_delegation(d, kNow + kHour) == DelegationError::kExpired);
  CHECK(check_delegation_for(d, d.service(), provider.public_key(), kNow) == DelegationError::kNone);
  CHECK(check_delegation_for(d, d.service(), other.public_key(), kNow) == DelegationError::kWrongProvider);
  CHECK(check_delegation_for(d, service_id_of(owner.public_key(), "mail"), provider.public_key(), kNow) ==
        DelegationError::kWrongService);

  for (int field = 0; field < 4; ++field) {
    Delegation t = d;
    if (field == 0) t.serial += 1;
    if (field == 1) t.expires_at += 1;
    if (field == 2) t.provider = other.public_key();
    if (field == 3) t.name = "wef";
    CHECK(check_delegation(t, kNow) == DelegationError::kBadSignature);
  }
  // Signed by someone else than the owner it names.
  Delegation forged = d;
  forged.signature = other.sign(delegation_digest(forged));
  CHECK(check_delegation(forged, kNow) == DelegationError::kBadSignature);

  CHECK_THROWS_AS(make_delegation(owner, "Web", provider.public_key(), 1, kNow, kNow + 1),
                  std::invalid_argument);
  CHECK_THROWS_AS(make_delegation(owner, "web", provider.public_key(), 1, kNow, kNow), std::invalid_argument);
  CHECK_THROWS_AS(make_delegation(owner, "web", owner.public_key(), 1, kNow, kNow + 1), std::invalid_argument);

  SignatureCache cache(16);
  CHECK(check_delegation(d, kNow, &cache) == DelegationError::kNone);
  CHECK(cache.size() == 1);
  CHECK(check_delegation(d, kNow, &cache) == DelegationError::kNone);
  CHECK(cache.hits() == 1);
}

TEST_CASE("a delegation round-trips through its standalone encoding; bad bytes are refused") {
  KeyPair owner = key("owner"), provider = key("provider");
  Delegation d = make_delegation(owner, "web", provider.public_key(), 3, kNow, kNow + kHour);
  Bytes b = encode_delegation(d);
  CHECK(b.size() <= kMaxEncodedDelegationBytes);
  auto back = decode_delegation(b);
  REQUIRE(back.ok());
  CHECK(*back == d);
  const auto refusal = [](const Result<Delegation>& r) {
    CHECK_FALSE(r.ok());
    CHECK(r.status().code == sal::Errc::kMalformedRecord);
    return r.status().message;
  };
  CHECK(refusal(decode_delegation(ByteView(b.data(), b.size() - 8))) == "truncated");
  CHECK(refusal(decode_delegation(Bytes(600, 0))) == "oversized");
  Bytes odd = b;
  odd.resize(odd.size() + 8, 0);
  CHECK(refusal(decode_delegation(odd)) == "trailing_data");
  // A name that breaks the rules is refused by the decoder.
  Delegation bad = d;
  bad.name = "BAD";
  CHECK(refusal(decode_delegation(encode_delegation(bad))) == "delegation_bad_name");
}

TEST_CASE("owner statements revoke by serial and by provider key") {
  KeyPair owner = key("owner"), p1 = key("p1"), p2 = key("p2");
  Delegation d1 = make_delegation(owner, "web", p1.public_key(), 5, kNow, kNow + kHour);
  Delegation d2 = make_delegation(owner, "web", p2.public_key(), 9, kNow, kNow + kHour);
  Delegation other_service = make_delegation(owner, "mail", p1.public_key(), 1, kNow, kNow + kHour);
  OwnerStatement s = make_owner_statement(owner, "web", 1, 6);
  CHECK(verify_owner_statement(s));
  CHECK(s.revokes(d1));
  CHECK_FALSE(s.revokes(d2));
  CHECK_FALSE(s.revokes(other_service));
  OwnerStatement by_key = make_owner_statement(owner, "web", 2, 0, {p2.public_key()});
  CHECK_FALSE(by_key.revokes(d1));
  CHECK(by_key.revokes(d2));
  OwnerStatement tampered = by_key;
  tampered.revoked_providers.clear();
  CHECK_FALSE(verify_owner_statement(tampered));
  std::vector<XOnlyPubKey> many(17, p1.public_key());
  CHECK_THROWS_AS(make_owner_statement(owner, "web", 3, 0, many), std::invalid_argument);
}

TEST_CASE("SAL payloads: round trip, bounds, clear build errors") {
  KeyPair owner = key("owner"), provider = key("provider");
  Delegation d = make_delegation(owner, std::string(63, 'n'), provider.public_key(), 1, kNow, kNow + kHour);
  EndpointInfo info = info_for(d);
  Result<Bytes> b = build_endpoint_payload(info);
  REQUIRE(b.ok());
  CHECK(has_sal_magic(*b));
  auto back = decode_sal_payload(*b);
  REQUIRE(back.ok());
  REQUIRE(std::holds_alternative<EndpointInfo>(*back));
  CHECK(std::get<EndpointInfo>(*back) == info);

  // The largest endpoint record and the largest statement fit a DHT record.
  EndpointInfo big = info;
  big.addresses.clear();
  for (int i = 0; i < 8; ++i) big.addresses.push_back(ep("[2001:db8::1]:65535"));
  Hash256 c1;
  c1.bytes[1] = 1;
  big.cluster_hints = {{1, c1}, {2, c1}};
  Result<Bytes> bb = build_endpoint_payload(big);
  REQUIRE_MESSAGE(bb.ok(), bb.status().text());
  CHECK(bb->size() <= routing::kMaxPayloadBytes);
  std::vector<XOnlyPubKey> revoked(16, provider.public_key());
  Result<Bytes> sb = build_statement_payload(make_owner_statement(owner, std::string(63, 'n'), 1, 1, revoked));
  REQUIRE_MESSAGE(sb.ok(), sb.status().text());
  CHECK(sb->size() <= routing::kMaxPayloadBytes);

  const auto refusal = [](const Result<Bytes>& r) {
    CHECK(r.status().code == bc::Errc::kInvalidArgument);
    return r.status().message;
  };
  EndpointInfo nine = big;
  nine.addresses.push_back(ep("127.0.0.1:1"));
  CHECK(refusal(build_endpoint_payload(nine)).find("at most 8 addresses") != std::string::npos);
  EndpointInfo port0 = info;
  port0.addresses[0].port = 0;
  CHECK(refusal(build_endpoint_payload(port0)).find("port 0") != std::string::npos);
  EndpointInfo level0 = info;
  level0.cluster_hints = {{0, c1}};
  CHECK(refusal(build_endpoint_payload(level0)).find("level") != std::string::npos);

  auto no_magic = decode_sal_payload(Bytes{1, 2, 3});
  CHECK(no_magic.status().code == sal::Errc::kMalformedRecord);
  CHECK(no_magic.status().message == "no_magic");
  Bytes cut = *b;
  cut.resize(cut.size() - 16);
  CHECK(decode_sal_payload(cut).status().message == "truncated");
}

TEST_CASE("validate_service_record gives every reason") {
  KeyPair owner = key("owner"), provider = key("provider"), other = key("other");
  Delegation d = make_delegation(owner, "web", provider.public_key(), 1, kNow - kHour, kNow + kHour);
  const ServiceId sid = d.service();
  auto reason = [](const routing::Record& r, TimeMs now = kNow) { return validate_service_record(r, now); };

  routing::Record good = make_endpoint_record(provider, info_for(d), 1, kNow + 60'000);
  SalPayload parsed;
  CHECK(validate_service_record(good, kNow, nullptr, &parsed) == RecordReason::kOk);
  CHECK(std::get<EndpointInfo>(parsed).weight == 7);

  CHECK(reason(routing::make_record(provider, sid, Bytes{'h', 'i'}, 1, kNow + 1000)) == RecordReason::kNotSal);
  Bytes junk(kSalPayloadMagic.begin(), kSalPayloadMagic.end());
  junk.insert(junk.end(), {0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4});
  CHECK(reason(routing::make_record(provider, sid, junk, 1, kNow + 1000)) == RecordReason::kMalformedPayload);

  {  // an endpoint with no delegation at all
    capnp::MallocMessageBuilder m;
    auto e = m.initRoot<wire::SalPayload>().initEndpoint();
    auto a = e.initAddresses(1);
    Endpoint x = ep("127.0.0.9:80");
    a[0].setIp(kj::arrayPtr(x.ip.data(), x.ip.size()));
    a[0].setPort(80);
    CHECK(reason(routing::make_record(provider, sid, with_magic(m), 1, kNow + 1000)) ==
          RecordReason::kNoDelegation);
  }
  Delegation forged = d;
  forged.serial = 99;  // signature no longer matches
  CHECK(reason(make_endpoint_record(provider, info_for(forged), 1, kNow + 1000)) ==
        RecordReason::kBadDelegationSignature);

  Delegation self;  // built by hand: make_delegation refuses it
  self.owner = owner.public_key();
  self.name = "web";
  self.provider = owner.public_key();
  self.serial = 1;
  self.not_before = kNow - 1;
  self.expires_at = kNow + kHour;
  self.signature = owner.sign(delegation_digest(self));
  CHECK(reason(make_endpoint_record(owner, info_for(self), 1, kNow + 1000)) == RecordReason::kSelfDelegation);

  Delegation backwards = d;
  backwards.not_before = kNow + 2 * kHour;
  backwards.signature = owner.sign(delegation_digest(backwards));
  CHECK(reason(make_endpoint_record(provider, info_for(backwards), 1, kNow + 1000)) ==
        RecordReason::kBadDelegationValidity);

  // A valid delegation for "mail" published under web's key.
  Delegation mail = make_delegation(owner, "mail", provider.public_key(), 1, kNow - 1, kNow + kHour);
  Result<Bytes> mp = build_endpoint_payload(info_for(mail));
  CHECK(reason(routing::make_record(provider, sid, mp.value(), 1, kNow + 1000)) ==
        RecordReason::kDelegationWrongService);
  // Another node replays the provider's delegation under its own key.
  CHECK(reason(make_endpoint_record(other, info_for(d), 1, kNow + 1000)) == RecordReason::kDelegationWrongProvider);

  Delegation later = make_delegation(owner, "web", provider.public_key(), 1, kNow + 1000, kNow + kHour);
  CHECK(reason(make_endpoint_record(provider, info_for(later), 1, kNow + 60'000)) ==
        RecordReason::kDelegationNotYetValid);
  Delegation past = make_delegation(owner, "web", provider.public_key(), 1, kNow - kHour, kNow);
  CHECK(reason(make_endpoint_record(provider, info_for(past), 1, kNow)) == RecordReason::kDelegationExpired);
  CHECK(reason(make_endpoint_record(provider, info_for(d), 1, kNow + kHour + 1)) ==
        RecordReason::kOutlivesDelegation);
  CHECK(reason(make_endpoint_record(provider, info_for(d), 1, kNow + kHour)) == RecordReason::kOk);

  OwnerStatement st = make_owner_statement(owner, "web", 1, 2);
  CHECK(reason(make_statement_record(owner, st, 1, kNow + 1000)) == RecordReason::kOk);
  OwnerStatement mail_st = make_owner_statement(owner, "mail", 1, 2);
  CHECK(reason(routing::make_record(owner, sid, build_statement_payload(mail_st).value(), 1, kNow + 1000)) ==
        RecordReason::kStatementWrongService);
  CHECK(reason(routing::make_record(other, sid, build_statement_payload(st).value(), 1, kNow + 1000)) ==
        RecordReason::kStatementNotByOwner);
  OwnerStatement bent = st;
  bent.min_serial = 0;
  CHECK(reason(routing::make_record(owner, sid, build_statement_payload(bent).value(), 1, kNow + 1000)) ==
        RecordReason::kBadStatementSignature);
  CHECK_THROWS_AS(make_statement_record(other, st, 1, kNow + 1000), std::invalid_argument);

  for (int i = 0; i <= static_cast<int>(RecordReason::kBadStatementSignature); ++i) {
    auto r = static_cast<RecordReason>(i);
    CHECK(std::string(to_string(r)) != "unknown");
    CHECK_FALSE(explain(r).empty());
  }
}

TEST_CASE("the DHT record validator: SAL records checked and counted, other values left alone") {
  KeyPair owner = key("owner"), provider = key("provider"), other = key("other");
  Delegation d = make_delegation(owner, "web", provider.public_key(), 1, kNow - kHour, kNow + kHour);
  routing::Record good = make_endpoint_record(provider, info_for(d), 1, kNow + 60'000);
  routing::Record stolen = make_endpoint_record(other, info_for(d), 1, kNow + 60'000);
  routing::Record plain = routing::make_record(other, d.service(), Bytes{'x'}, 1, kNow + 60'000);

  metrics::Registry reg;
  auto v = make_record_validator(&reg);
  CHECK(v(good, kNow));
  CHECK_FALSE(v(stolen, kNow));
  CHECK(v(plain, kNow));
  CHECK(reg.counter_value("bc_sal_records_rejected_total", {{"reason", "delegation_wrong_provider"}}) == 1);
  // The kinds the DHT store keys its rules on: endpoint records make a
  // service key, the owner's statement is pinned, plain values are generic.
  routing::Record statement = make_statement_record(
      owner, make_owner_statement(owner, "web", 1, 0, {other.public_key()}), 1, kNow + 60'000);
  CHECK(v(good, kNow).kind == routing::RecordKind::kService);
  CHECK(v(statement, kNow).kind == routing::RecordKind::kPinned);
  CHECK(v(plain, kNow).kind == routing::RecordKind::kGeneric);

  auto strict = make_record_validator(&reg, ValidatorOptions{.sal_only = true});
  CHECK(strict(good, kNow));
  CHECK_FALSE(strict(plain, kNow));
  CHECK(reg.counter_value("bc_sal_records_rejected_total", {{"reason", "not_sal"}}) == 1);
  // Later, the delegation has run out: the same record is refused.
  CHECK_FALSE(v(good, kNow + kHour));
  CHECK(reg.counter_value("bc_sal_records_rejected_total", {{"reason", "delegation_expired"}}) == 1);
}
