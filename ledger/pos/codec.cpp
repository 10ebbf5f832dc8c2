#include "ledger/pos/codec.hpp"

#include <capnp/message.h>
#include <capnp/serialize.h>

#include <cstring>
#include <optional>

#include "ledger/pos/errors.hpp"
#include "ledger/pos/wire/pos.capnp.h"
#include "layers/assert.hpp"
#include "layers/wire/decode.hpp"

namespace bc::pos {
namespace {

constexpr std::string_view kOfferTag = "blockcloud/pos-offer/v1";
constexpr std::string_view kOfferIdTag = "blockcloud/pos-offer-id/v1";
constexpr std::string_view kReportTag = "blockcloud/pos-report/v1";
constexpr std::string_view kStorageAnswerTag = "blockcloud/storage-answer/v1";

struct Reject {
  Error error;
};

using bc::wire::bytes_ptr;

template <typename Fixed>
void read_fixed(capnp::Data::Reader in, Fixed& out) {
  if (in.size() != sizeof(out.bytes)) throw Reject{Error::kBadField};
  std::memcpy(out.bytes.data(), in.begin(), in.size());
}

Bytes read_bytes(capnp::Data::Reader d, std::size_t max) {
  if (d.size() > max) throw Reject{Error::kOversized};
  return Bytes(d.begin(), d.end());
}

void write_offer(const Offer& o, wire::Offer::Builder b, bool with_signature) {
  b.setServiceId(bytes_ptr(o.service_id.view()));
  b.setOwner(bytes_ptr(o.owner.view()));
  b.setProvider(bytes_ptr(o.provider.view()));
  b.setKind(o.kind == ServiceKind::kStorage ? wire::ServiceKind::STORAGE : wire::ServiceKind::GENERIC);
  b.setProbeRequest(bytes_ptr(ByteView(o.probe_request)));
  b.setExpectedResponseHash(bytes_ptr(o.expected_response_hash.view()));
  b.setStorageRoot(bytes_ptr(o.storage_root.view()));
  b.setStorageChunks(o.storage_chunks);
  b.setDeltaBps(o.delta_bps);
  b.setMaxLatencyMs(o.max_latency_ms);
  b.setMinThroughputBps(o.min_throughput_bps);
  b.setPrice(o.price);
  b.setBond(o.bond);
  b.setNonce(o.nonce);
  if (with_signature) b.setSignature(bytes_ptr(o.signature.view()));
}

Offer read_offer(wire::Offer::Reader r, const PosLimits& limits) {
  Offer o;
  read_fixed(r.getServiceId(), o.service_id);
  read_fixed(r.getOwner(), o.owner);
  read_fixed(r.getProvider(), o.provider);
  switch (r.getKind()) {
    case wire::ServiceKind::GENERIC: o.kind = ServiceKind::kGeneric; break;
    case wire::ServiceKind::STORAGE: o.kind = ServiceKind::kStorage; break;
    default: throw Reject{Error::kBadField};
  }
  o.probe_request = read_bytes(r.getProbeRequest(), limits.max_probe_request_bytes);
  read_fixed(r.getExpectedResponseHash(), o.expected_response_hash);
  read_fixed(r.getStorageRoot(), o.storage_root);
  o.storage_chunks = r.getStorageChunks();
  o.delta_bps = r.getDeltaBps();
  if (o.delta_bps < kBps / 2 || o.delta_bps > kBps) throw Reject{Error::kBadField};
  if (o.kind == ServiceKind::kStorage && o.storage_chunks == 0) throw Reject{Error::kBadField};
  o.max_latency_ms = r.getMaxLatencyMs();
  o.min_throughput_bps = r.getMinThroughputBps();
  o.price = r.getPrice();
  o.bond = r.getBond();
  o.nonce = r.getNonce();
  read_fixed(r.getSignature(), o.signature);
  return o;
}

ProbeOutcome read_outcome(wire::ProbeOutcome w) {
  switch (w) {
    case wire::ProbeOutcome::PASS: return ProbeOutcome::kPass;
    case wire::ProbeOutcome::SLOW: return ProbeOutcome::kSlow;
    case wire::ProbeOutcome::TIMEOUT: return ProbeOutcome::kTimeout;
    case wire::ProbeOutcome::WRONG: return ProbeOutcome::kWrong;
    default: throw Reject{Error::kBadField};
  }
}

wire::ProbeOutcome write_outcome(ProbeOutcome o) {
  switch (o) {
    case ProbeOutcome::kPass: return wire::ProbeOutcome::PASS;
    case ProbeOutcome::kSlow: return wire::ProbeOutcome::SLOW;
    case ProbeOutcome::kTimeout: return wire::ProbeOutcome::TIMEOUT;
    case ProbeOutcome::kWrong: return wire::ProbeOutcome::WRONG;
  }
  BC_ASSERT(false && "probe outcome out of range");
  return wire::ProbeOutcome::UNSET;
}

void write_probe(const ProbeRecord& p, wire::ProbeRecord::Builder b) {
  b.setIndex(p.index);
  b.setScheduledMs(p.scheduled_ms);
  b.setAttempts(p.attempts);
  b.setOutcome(write_outcome(p.outcome));
  b.setConnectMs(p.connect_ms);
  b.setTtfbMs(p.ttfb_ms);
  b.setThroughputBps(p.throughput_bps);
  b.setResponseHash(bytes_ptr(p.response_hash.view()));
}

ProbeRecord read_probe(wire::ProbeRecord::Reader r) {
  ProbeRecord p;
  p.index = r.getIndex();
  p.scheduled_ms = r.getScheduledMs();
  p.attempts = r.getAttempts();
  if (p.attempts == 0) throw Reject{Error::kBadField};
  p.outcome = read_outcome(r.getOutcome());
  p.connect_ms = r.getConnectMs();
  p.ttfb_ms = r.getTtfbMs();
  p.throughput_bps = r.getThroughputBps();
  read_fixed(r.getResponseHash(), p.response_hash);
  return p;
}

void write_hashes(const std::vector<Hash256>& hashes, capnp::List<capnp::Data>::Builder out) {
  for (std::size_t i = 0; i < hashes.size(); ++i) out.set(static_cast<unsigned>(i), bytes_ptr(hashes[i].view()));
}

std::vector<Hash256> read_hashes(capnp::List<capnp::Data>::Reader in, const PosLimits& limits) {
  if (in.size() > limits.max_path) throw Reject{Error::kOversized};
  std::vector<Hash256> out(in.size());
  for (unsigned i = 0; i < in.size(); ++i) read_fixed(in[i], out[i]);
  return out;
}

void write_answer(const StorageAnswer& a, wire::StorageAnswer::Builder b, bool with_signature) {
  b.setShard(bytes_ptr(a.shard.view()));
  b.setSeed(bytes_ptr(a.seed.view()));
  b.setLeafIndex(a.proof.leaf_index);
  b.setLeaf(bytes_ptr(ByteView(a.proof.leaf)));
  write_hashes(a.proof.path, b.initPath(static_cast<unsigned>(a.proof.path.size())));
  b.setShardSize(a.proof.shard_size);
  if (with_signature) b.setProviderSignature(bytes_ptr(a.provider_signature.view()));
}

StorageAnswer read_answer(wire::StorageAnswer::Reader r, const PosLimits& limits) {
  StorageAnswer a;
  read_fixed(r.getShard(), a.shard);
  read_fixed(r.getSeed(), a.seed);
  a.proof.leaf_index = r.getLeafIndex();
  a.proof.leaf = read_bytes(r.getLeaf(), limits.max_leaf_bytes);
  a.proof.path = read_hashes(r.getPath(), limits);
  a.proof.shard_size = r.getShardSize();
  read_fixed(r.getProviderSignature(), a.provider_signature);
  return a;
}

void write_evidence(const StorageEvidence& e, wire::StorageEvidence::Builder b) {
  b.setOfferId(bytes_ptr(e.offer_id.view()));
  b.setProbeIndex(e.probe_index);
  b.setChunk(e.chunk);
  write_hashes(e.chunk_path, b.initChunkPath(static_cast<unsigned>(e.chunk_path.size())));
  write_answer(e.answer, b.initAnswer(), true);
}

StorageEvidence read_evidence(wire::StorageEvidence::Reader r, const PosLimits& limits) {
  StorageEvidence e;
  read_fixed(r.getOfferId(), e.offer_id);
  e.probe_index = r.getProbeIndex();
  e.chunk = r.getChunk();
  e.chunk_path = read_hashes(r.getChunkPath(), limits);
  e.answer = read_answer(r.getAnswer(), limits);
  return e;
}

void write_report(const Report& rep, wire::Report::Builder b, bool with_signature) {
  b.setEpoch(rep.epoch);
  b.setOfferId(bytes_ptr(rep.offer_id.view()));
  b.setAuditor(bytes_ptr(rep.auditor.view()));
  b.setSecret(bytes_ptr(rep.secret.view()));
  auto probes = b.initProbes(static_cast<unsigned>(rep.probes.size()));
  for (std::size_t i = 0; i < rep.probes.size(); ++i) write_probe(rep.probes[i], probes[static_cast<unsigned>(i)]);
  auto ev = b.initEvidence(static_cast<unsigned>(rep.evidence.size()));
  for (std::size_t i = 0; i < rep.evidence.size(); ++i) write_evidence(rep.evidence[i], ev[static_cast<unsigned>(i)]);
  if (with_signature) b.setSignature(bytes_ptr(rep.signature.view()));
}

Report read_report(wire::Report::Reader r, const PosLimits& limits) {
  Report rep;
  rep.epoch = r.getEpoch();
  read_fixed(r.getOfferId(), rep.offer_id);
  read_fixed(r.getAuditor(), rep.auditor);
  read_fixed(r.getSecret(), rep.secret);
  auto probes = r.getProbes();
  auto evidence = r.getEvidence();
  if (probes.size() > limits.max_probes || evidence.size() > limits.max_evidence) throw Reject{Error::kOversized};
  rep.probes.reserve(probes.size());
  for (auto p : probes) rep.probes.push_back(read_probe(p));
  rep.evidence.reserve(evidence.size());
  for (auto e : evidence) {
    rep.evidence.push_back(read_evidence(e, limits));
    if (rep.evidence.back().offer_id != rep.offer_id) throw Reject{Error::kBadField};
  }
  read_fixed(r.getSignature(), rep.signature);
  return rep;
}

Status error(Error e, std::string detail) { return fail(make_error_code(e), std::move(detail)); }

template <typename Root, typename Fill>
Hash256 digest(std::string_view tag, Fill fill) {
  capnp::MallocMessageBuilder message(64);
  fill(message.initRoot<Root>());
  return bc::wire::canonical_hash(tag, message);
}

}  // namespace

Bytes encode(const Message& m) {
  capnp::MallocMessageBuilder message;
  auto root = message.initRoot<wire::Message>();
  if (auto* o = std::get_if<Offer>(&m)) {
    write_offer(*o, root.initOffer(), true);
  } else {
    write_report(std::get<Report>(m), root.initReport(), true);
  }
  kj::Array<capnp::word> words = capnp::messageToFlatArray(message);
  auto bytes = words.asBytes();
  return Bytes(bytes.begin(), bytes.end());
}

Result<Message> decode(ByteView frame, const PosLimits& limits) {
  const bc::wire::DecodeLimits bounds{.max_bytes = limits.max_frame_bytes,
                                      .traversal_words = limits.max_frame_bytes / sizeof(capnp::word) + 64,
                                      .nesting = 8,
                                      .max_segments = 16};
  std::optional<Message> out;
  bc::wire::DecodeError err = bc::wire::DecodeError::kOk;
  try {
    err = bc::wire::decode<wire::Message>(frame, bounds, [&](wire::Message::Reader r) {
      switch (r.which()) {
        case wire::Message::OFFER: out = read_offer(r.getOffer(), limits); break;
        case wire::Message::REPORT: out = read_report(r.getReport(), limits); break;
        default: throw Reject{Error::kMalformed};
      }
    });
  } catch (const Reject& r) {
    return error(r.error, "field rejected");
  }
  if (err == bc::wire::DecodeError::kOversized) return error(Error::kOversized, bc::wire::to_string(err));
  if (err != bc::wire::DecodeError::kOk) return error(Error::kMalformed, bc::wire::to_string(err));
  BC_ASSERT(out.has_value());
  return std::move(*out);
}

Hash256 offer_id(const Offer& o) {
  Bytes data;
  data.insert(data.end(), o.provider.bytes.begin(), o.provider.bytes.end());
  data.insert(data.end(), o.service_id.bytes.begin(), o.service_id.bytes.end());
  for (int i = 7; i >= 0; --i) data.push_back(static_cast<std::uint8_t>(o.nonce >> (8 * i)));
  return tagged_hash(kOfferIdTag, data);
}

Hash256 offer_digest(const Offer& o) {
  return digest<wire::Offer>(kOfferTag, [&](wire::Offer::Builder b) { write_offer(o, b, false); });
}

Hash256 report_digest(const Report& r) {
  return digest<wire::Report>(kReportTag, [&](wire::Report::Builder b) { write_report(r, b, false); });
}

Hash256 storage_answer_digest(const StorageAnswer& a) {
  return digest<wire::StorageAnswer>(kStorageAnswerTag, [&](wire::StorageAnswer::Builder b) { write_answer(a, b, false); });
}

void sign_offer(Offer& o, const KeyPair& owner) {
  o.owner = owner.public_key();
  o.signature = owner.sign(offer_digest(o));
}

void sign_report(Report& r, const KeyPair& auditor) {
  r.auditor = auditor.public_key();
  r.signature = auditor.sign(report_digest(r));
}

void sign_storage_answer(StorageAnswer& a, const KeyPair& provider) {
  a.provider_signature = provider.sign(storage_answer_digest(a));
}

Status verify_offer(const Offer& o) {
  if (!verify(o.owner, offer_digest(o), o.signature)) return error(Error::kBadSignature, "offer signature");
  return Status::success();
}

Status verify_report(const Report& r) {
  if (!verify(r.auditor, report_digest(r), r.signature)) return error(Error::kBadSignature, "report signature");
  return Status::success();
}

bool verify_storage_answer(const StorageAnswer& a, const XOnlyPubKey& provider) {
  return verify(provider, storage_answer_digest(a), a.provider_signature);
}

}  // namespace bc::pos
