// SAL payloads: building, bounded decoding, and the owner-side record helper.
#include "sal/records/endpoint_record.hpp"

#include <capnp/message.h>
#include <capnp/serialize.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "layers/wire/decode.hpp"
#include "sal/records/wire/records.capnp.h"

namespace bc::sal {
namespace {

using bc::wire::bytes_ptr;

Result<Bytes> finish(capnp::MallocMessageBuilder& message) {
  kj::Array<capnp::word> words = capnp::messageToFlatArray(message);
  auto bytes = words.asBytes();
  Bytes payload;
  payload.reserve(kSalPayloadMagic.size() + bytes.size());
  payload.assign(kSalPayloadMagic.begin(), kSalPayloadMagic.end());
  payload.insert(payload.end(), bytes.begin(), bytes.end());
  if (payload.size() > routing::kMaxPayloadBytes) {
    return fail(make_error_code(bc::Errc::kOversized),
                "SAL payload is " + std::to_string(payload.size()) + " bytes, over the DHT's " +
                    std::to_string(routing::kMaxPayloadBytes) + "-byte limit; use fewer addresses or revoked keys");
  }
  return payload;
}

Status invalid(std::string what) { return fail(make_error_code(bc::Errc::kInvalidArgument), std::move(what)); }

Status malformed(const char* reason) { return fail(make_error_code(Errc::kMalformedRecord), reason); }

Result<EndpointInfo> read_endpoint(wire::EndpointInfo::Reader in) {
  EndpointInfo out;
  auto addrs = in.getAddresses();
  if (addrs.size() > kMaxAddresses) return malformed("too_many_addresses");
  for (auto a : addrs) {
    Endpoint e;
    auto ip = a.getIp();
    if (ip.size() != e.ip.size()) return malformed("address_bad_ip_size");
    std::memcpy(e.ip.data(), ip.begin(), ip.size());
    e.port = a.getPort();
    if (e.port == 0) return malformed("address_port_zero");
    out.addresses.push_back(e);
  }
  out.weight = in.getWeight();
  auto hints = in.getClusterHints();
  if (hints.size() > kMaxClusterHints) return malformed("too_many_cluster_hints");
  for (auto h : hints) {
    ClusterHint c;
    c.level = h.getLevel();
    if (c.level < 1 || c.level > 2) return malformed("cluster_hint_bad_level");
    auto id = h.getId();
    if (id.size() != Hash256::size()) return malformed("cluster_hint_bad_id_size");
    std::memcpy(c.id.data(), id.begin(), id.size());
    out.cluster_hints.push_back(c);
  }
  if (!in.hasDelegation()) return malformed(kNoDelegation);
  Result<Delegation> d = delegation_from_reader(in.getDelegation());
  if (!d) return std::move(d).take_status();
  out.delegation = std::move(d).value();
  return out;
}

template <typename T>
Result<SalPayload> as_payload(Result<T> r) {
  if (!r) return std::move(r).take_status();
  return SalPayload(std::move(r).value());
}

}  // namespace

std::vector<ClusterHint> cluster_hints_of(const routing::DhtStatus& status) {
  std::vector<ClusterHint> out;
  for (std::uint8_t level = 1; level <= 2; ++level) {
    if (!status.cluster_ids[level].is_zero()) out.push_back({level, status.cluster_ids[level]});
  }
  return out;
}

bool has_sal_magic(ByteView payload) {
  return payload.size() >= kSalPayloadMagic.size() &&
         std::equal(kSalPayloadMagic.begin(), kSalPayloadMagic.end(), payload.begin());
}

Result<Bytes> build_endpoint_payload(const EndpointInfo& info) {
  if (info.addresses.size() > kMaxAddresses) {
    return invalid("an endpoint record holds at most 8 addresses (got " + std::to_string(info.addresses.size()) +
                   "); publish the most useful ones");
  }
  for (const Endpoint& e : info.addresses) {
    if (e.port == 0) return invalid("address " + e.ip_string() + " has port 0; give the port the service listens on");
  }
  if (info.cluster_hints.size() > kMaxClusterHints) {
    return invalid("at most 2 cluster hints (levels 1 and 2) fit an endpoint record");
  }
  for (const ClusterHint& h : info.cluster_hints) {
    if (h.level < 1 || h.level > 2) {
      return invalid("cluster hint level must be 1 or 2 (level 0 is global and never hinted)");
    }
  }
  capnp::MallocMessageBuilder message(128);
  auto ep = message.initRoot<wire::SalPayload>().initEndpoint();
  auto addrs = ep.initAddresses(static_cast<unsigned>(info.addresses.size()));
  for (unsigned i = 0; i < addrs.size(); ++i) {
    const Endpoint& e = info.addresses[i];
    addrs[i].setIp(kj::arrayPtr(e.ip.data(), e.ip.size()));
    addrs[i].setPort(e.port);
  }
  ep.setWeight(info.weight);
  auto hints = ep.initClusterHints(static_cast<unsigned>(info.cluster_hints.size()));
  for (unsigned i = 0; i < hints.size(); ++i) {
    hints[i].setLevel(info.cluster_hints[i].level);
    hints[i].setId(bytes_ptr(info.cluster_hints[i].id.view()));
  }
  delegation_to_builder(info.delegation, ep.initDelegation());
  return finish(message);
}

Result<Bytes> build_statement_payload(const OwnerStatement& statement) {
  if (statement.revoked_providers.size() > kMaxRevokedProviders) {
    return invalid("an owner statement lists at most 16 revoked provider keys; raise min_serial instead");
  }
  capnp::MallocMessageBuilder message(128);
  owner_statement_to_builder(statement, message.initRoot<wire::SalPayload>().initStatement());
  return finish(message);
}

Result<SalPayload> decode_sal_payload(ByteView payload) {
  if (!has_sal_magic(payload)) return malformed("no_magic");
  const ByteView body = payload.subspan(kSalPayloadMagic.size());
  const bc::wire::DecodeLimits limits{.max_bytes = routing::kMaxPayloadBytes - kSalPayloadMagic.size(),
                                      .traversal_words = 256,
                                      .nesting = 8,
                                      .max_segments = 2};
  Result<SalPayload> out = malformed("malformed");
  const auto err = bc::wire::decode<wire::SalPayload>(body, limits, [&](wire::SalPayload::Reader r) {
    switch (r.which()) {
      case wire::SalPayload::ENDPOINT: out = as_payload(read_endpoint(r.getEndpoint())); break;
      case wire::SalPayload::STATEMENT: out = as_payload(owner_statement_from_reader(r.getStatement())); break;
      default:
        out = malformed("unknown_payload_kind");  // a newer schema's union member
    }
  });
  if (err != bc::wire::DecodeError::kOk) return malformed(bc::wire::to_string(err));
  return out;
}

routing::Record make_statement_record(const KeyPair& owner, const OwnerStatement& statement,
                                      std::uint64_t record_seq, TimeMs expires_at) {
  if (owner.public_key() != statement.owner) {
    throw std::invalid_argument("the statement record must be signed by the statement's owner key");
  }
  Result<Bytes> p = build_statement_payload(statement);
  if (!p) throw std::invalid_argument(p.status().message);
  return routing::make_record(owner, statement.service(), std::move(p).value(), record_seq, expires_at);
}

routing::Record make_endpoint_record(const KeyPair& provider, const EndpointInfo& info,
                                     std::uint64_t seq, TimeMs expires_at) {
  Result<Bytes> p = build_endpoint_payload(info);
  if (!p) throw std::invalid_argument(p.status().message);
  return routing::make_record(provider, info.delegation.service(), std::move(p).value(), seq, expires_at);
}

}  // namespace bc::sal
