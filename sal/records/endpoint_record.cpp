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

kj::ArrayPtr<const kj::byte> ptr(ByteView v) { return kj::arrayPtr(v.data(), v.size()); }

PayloadBuild finish(capnp::MallocMessageBuilder& message) {
  PayloadBuild out;
  kj::Array<capnp::word> words = capnp::messageToFlatArray(message);
  auto bytes = words.asBytes();
  out.payload.reserve(kSalPayloadMagic.size() + bytes.size());
  out.payload.assign(kSalPayloadMagic.begin(), kSalPayloadMagic.end());
  out.payload.insert(out.payload.end(), bytes.begin(), bytes.end());
  if (out.payload.size() > routing::kMaxPayloadBytes) {
    out.error = "SAL payload is " + std::to_string(out.payload.size()) + " bytes, over the DHT's " +
                std::to_string(routing::kMaxPayloadBytes) +
                "-byte limit; use fewer addresses or revoked keys";
    out.payload.clear();
  }
  return out;
}

bool fail(const char** why, const char* reason) {
  if (why) *why = reason;
  return false;
}

bool read_endpoint(wire::EndpointInfo::Reader in, EndpointInfo& out, const char** why) {
  auto addrs = in.getAddresses();
  if (addrs.size() > kMaxAddresses) return fail(why, "too_many_addresses");
  for (auto a : addrs) {
    Endpoint e;
    auto ip = a.getIp();
    if (ip.size() != e.ip.size()) return fail(why, "address_bad_ip_size");
    std::memcpy(e.ip.data(), ip.begin(), ip.size());
    e.port = a.getPort();
    if (e.port == 0) return fail(why, "address_port_zero");
    out.addresses.push_back(e);
  }
  out.weight = in.getWeight();
  auto hints = in.getClusterHints();
  if (hints.size() > kMaxClusterHints) return fail(why, "too_many_cluster_hints");
  for (auto h : hints) {
    ClusterHint c;
    c.level = h.getLevel();
    if (c.level < 1 || c.level > 2) return fail(why, "cluster_hint_bad_level");
    auto id = h.getId();
    if (id.size() != Hash256::size()) return fail(why, "cluster_hint_bad_id_size");
    std::memcpy(c.id.data(), id.begin(), id.size());
    out.cluster_hints.push_back(c);
  }
  if (!in.hasDelegation()) return fail(why, "no_delegation");
  return delegation_from_reader(in.getDelegation(), out.delegation, why);
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

PayloadBuild build_endpoint_payload(const EndpointInfo& info) {
  PayloadBuild err;
  if (info.addresses.size() > kMaxAddresses) {
    err.error = "an endpoint record holds at most 8 addresses (got " +
                std::to_string(info.addresses.size()) + "); publish the most useful ones";
    return err;
  }
  for (const Endpoint& e : info.addresses) {
    if (e.port == 0) {
      err.error = "address " + e.ip_string() + " has port 0; give the port the service listens on";
      return err;
    }
  }
  if (info.cluster_hints.size() > kMaxClusterHints) {
    err.error = "at most 2 cluster hints (levels 1 and 2) fit an endpoint record";
    return err;
  }
  for (const ClusterHint& h : info.cluster_hints) {
    if (h.level < 1 || h.level > 2) {
      err.error = "cluster hint level must be 1 or 2 (level 0 is global and never hinted)";
      return err;
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
    hints[i].setId(ptr(info.cluster_hints[i].id.view()));
  }
  delegation_to_builder(info.delegation, ep.initDelegation());
  return finish(message);
}

PayloadBuild build_statement_payload(const OwnerStatement& statement) {
  if (statement.revoked_providers.size() > kMaxRevokedProviders) {
    PayloadBuild err;
    err.error = "an owner statement lists at most 16 revoked provider keys; raise min_serial instead";
    return err;
  }
  capnp::MallocMessageBuilder message(128);
  owner_statement_to_builder(statement, message.initRoot<wire::SalPayload>().initStatement());
  return finish(message);
}

std::optional<SalPayload> decode_sal_payload(ByteView payload, const char** why) {
  if (!has_sal_magic(payload)) {
    fail(why, "no_magic");
    return std::nullopt;
  }
  const ByteView body = payload.subspan(kSalPayloadMagic.size());
  const bc::wire::DecodeLimits limits{.max_bytes = routing::kMaxPayloadBytes - kSalPayloadMagic.size(),
                                      .traversal_words = 256,
                                      .nesting = 8,
                                      .max_segments = 2};
  std::optional<SalPayload> out;
  const char* field_why = "malformed";
  const auto err = bc::wire::decode<wire::SalPayload>(body, limits, [&](wire::SalPayload::Reader r) {
    switch (r.which()) {
      case wire::SalPayload::ENDPOINT: {
        EndpointInfo e;
        if (read_endpoint(r.getEndpoint(), e, &field_why)) out = std::move(e);
        break;
      }
      case wire::SalPayload::STATEMENT: {
        OwnerStatement s;
        if (owner_statement_from_reader(r.getStatement(), s, &field_why)) out = std::move(s);
        break;
      }
      default:
        field_why = "unknown_payload_kind";  // a newer schema's union member
    }
  });
  if (err != bc::wire::DecodeError::kOk) {
    fail(why, bc::wire::to_string(err));
    return std::nullopt;
  }
  if (!out) fail(why, field_why);
  return out;
}

routing::Record make_statement_record(const KeyPair& owner, const OwnerStatement& statement,
                                      std::uint64_t record_seq, TimeMs expires_at) {
  if (owner.public_key() != statement.owner) {
    throw std::invalid_argument("the statement record must be signed by the statement's owner key");
  }
  PayloadBuild p = build_statement_payload(statement);
  if (!p.ok()) throw std::invalid_argument(p.error);
  return routing::make_record(owner, statement.service(), std::move(p.payload), record_seq, expires_at);
}

routing::Record make_endpoint_record(const KeyPair& provider, const EndpointInfo& info,
                                     std::uint64_t seq, TimeMs expires_at) {
  PayloadBuild p = build_endpoint_payload(info);
  if (!p.ok()) throw std::invalid_argument(p.error);
  return routing::make_record(provider, info.delegation.service(), std::move(p.payload), seq, expires_at);
}

}  // namespace bc::sal
