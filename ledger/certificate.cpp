#include "ledger/certificate.hpp"

#include <capnp/message.h>
#include <capnp/serialize.h>

#include <cstring>
#include <set>

#include "layers/wire/decode.hpp"
#include "ledger/detail/cert_wire.hpp"
#include "ledger/state.hpp"
#include "ledger/validators.hpp"

namespace bc::ledger {

namespace {

using bc::wire::bytes_ptr;
using bc::wire::copy_fixed;

// Reads a vote; the chain id is checked by the caller's digest, not here.
bool read_vote(wire::VoteSignBytes::Reader in, VoteRecord& v) {
  const std::uint16_t type = in.getType();
  if (type != 1 && type != 2) return false;
  v.type = static_cast<VoteKind>(type);
  v.height = in.getHeight();
  v.round = in.getRound();
  auto value = in.getValueHash();
  if (value.size() != 0) {
    Hash256 h;
    if (!copy_fixed(value, h.bytes)) return false;
    v.value = h;
  }
  return copy_fixed(in.getValidator(), v.validator.bytes) && copy_fixed(in.getSignature(), v.signature.bytes);
}

}  // namespace

namespace detail {

void write_vote_record(const Hash256& chain, const VoteRecord& v, bool with_signature, wire::VoteSignBytes::Builder out) {
  out.setChainId(bytes_ptr(chain.view()));
  out.setType(static_cast<std::uint16_t>(v.type));
  out.setHeight(v.height);
  out.setRound(v.round);
  if (v.value) out.setValueHash(bytes_ptr(v.value->view()));
  out.setValidator(bytes_ptr(v.validator.view()));
  if (with_signature) out.setSignature(bytes_ptr(v.signature.view()));
}

void write_certificate(const CommitCertificate& c, wire::CommitCertificate::Builder out) {
  out.setHeight(c.height);
  out.setRound(c.round);
  out.setBlockHash(bytes_ptr(c.block_hash.view()));
  auto list = out.initPrecommits(static_cast<unsigned>(c.precommits.size()));
  for (unsigned i = 0; i < c.precommits.size(); ++i) {
    list[i].setValidator(bytes_ptr(c.precommits[i].validator.view()));
    list[i].setSignature(bytes_ptr(c.precommits[i].signature.view()));
  }
}

// Evidence carries no chain id of its own: votes are checked against this chain's.
void write_evidence(const DuplicateVoteEvidence& e, wire::DuplicateVoteEvidence::Builder out) {
  write_vote_record(Hash256{}, e.a, true, out.initVoteA());
  write_vote_record(Hash256{}, e.b, true, out.initVoteB());
}

bool read_certificate(wire::CommitCertificate::Reader in, CommitCertificate& out) {
  out.height = in.getHeight();
  out.round = in.getRound();
  if (!copy_fixed(in.getBlockHash(), out.block_hash.bytes)) return false;
  auto list = in.getPrecommits();
  if (list.size() > kMaxCommittee) return false;
  out.precommits.resize(list.size());
  for (unsigned i = 0; i < list.size(); ++i) {
    if (!copy_fixed(list[i].getValidator(), out.precommits[i].validator.bytes)) return false;
    if (!copy_fixed(list[i].getSignature(), out.precommits[i].signature.bytes)) return false;
  }
  return true;
}

bool read_evidence(wire::DuplicateVoteEvidence::Reader in, DuplicateVoteEvidence& out) {
  return read_vote(in.getVoteA(), out.a) && read_vote(in.getVoteB(), out.b);
}

}  // namespace detail

Hash256 vote_digest(const Hash256& chain, const VoteRecord& v) {
  capnp::MallocMessageBuilder message(32);
  detail::write_vote_record(chain, v, false, message.initRoot<wire::VoteSignBytes>());
  return bc::wire::canonical_hash("blockcloud/bft-vote/v1", message);
}

Hash256 precommit_digest(const Hash256& chain, std::uint64_t height, std::uint32_t round, const Hash256& block_hash,
                         const XOnlyPubKey& validator) {
  return vote_digest(chain, VoteRecord{VoteKind::kPrecommit, height, round, block_hash, validator, {}});
}

VoteRecord sign_vote(const KeyPair& key, const Hash256& chain, VoteRecord v) {
  v.validator = key.public_key();
  v.signature = key.sign(vote_digest(chain, v));
  return v;
}

CommitSig sign_precommit(const KeyPair& key, const Hash256& chain, std::uint64_t height, std::uint32_t round, const Hash256& block_hash) {
  return CommitSig{key.public_key(), key.sign(precommit_digest(chain, height, round, block_hash, key.public_key()))};
}

Bytes encode_certificate(const CommitCertificate& c) {
  capnp::MallocMessageBuilder message(64 + 16 * static_cast<unsigned>(c.precommits.size()));
  detail::write_certificate(c, message.initRoot<wire::CommitCertificate>());
  auto words = capnp::messageToFlatArray(message);
  auto bytes = words.asBytes();
  return Bytes(bytes.begin(), bytes.end());
}

Result<CommitCertificate> decode_certificate(ByteView bytes) {
  const std::size_t max = 256 + kMaxCommittee * 160;
  bc::wire::DecodeLimits limits{.max_bytes = max, .traversal_words = bytes.size() / 8 * 2 + 64, .nesting = 4, .max_segments = 1};
  CommitCertificate c;
  bool ok = false;
  auto err = bc::wire::decode<wire::CommitCertificate>(bytes, limits, [&](wire::CommitCertificate::Reader r) { ok = detail::read_certificate(r, c); });
  if (err != bc::wire::DecodeError::kOk)
    return fail(err == bc::wire::DecodeError::kOversized ? Error::kOversized : Error::kMalformed, std::string("certificate: ") + bc::wire::to_string(err));
  if (!ok) return fail(Error::kMalformed, "certificate: a hash, key or signature has the wrong size, or too many precommits");
  return c;
}

Hash256 certificate_hash(const CommitCertificate& c) {
  capnp::MallocMessageBuilder message(64 + 16 * static_cast<unsigned>(c.precommits.size()));
  detail::write_certificate(c, message.initRoot<wire::CommitCertificate>());
  return bc::wire::canonical_hash("blockcloud/commit-certificate/v1", message);
}

Hash256 evidence_hash(const DuplicateVoteEvidence& e) {
  capnp::MallocMessageBuilder message(64);
  detail::write_evidence(e, message.initRoot<wire::DuplicateVoteEvidence>());
  return bc::wire::canonical_hash("blockcloud/evidence/v1", message);
}

Status verify_certificate(const CommitCertificate& c, const Hash256& chain, const Committee& set, std::uint64_t height,
                          const Hash256& block_hash, SignatureCache* cache) {
  auto bad = [](const std::string& why) { return fail(Error::kUncertified, "certificate: " + why); };
  if (c.height != height) return bad("for height " + std::to_string(c.height) + ", expected " + std::to_string(height));
  if (c.block_hash != block_hash) return bad("for block " + c.block_hash.hex() + ", expected " + block_hash.hex());
  if (c.precommits.size() > set.members.size()) return bad("more precommits than validators");
  std::set<XOnlyPubKey> seen;
  unsigned __int128 signed_power = 0;
  for (std::size_t i = 0; i < c.precommits.size(); ++i) {
    const CommitSig& p = c.precommits[i];
    const CommitteeMember* m = find_member(set, p.validator);
    if (!m) return bad("precommit " + std::to_string(i) + " is not from a validator of epoch " + std::to_string(set.epoch));
    if (!seen.insert(p.validator).second) return bad("validator " + to_hex(p.validator.view()) + " counted twice");
    const Hash256 digest = precommit_digest(chain, height, c.round, block_hash, p.validator);
    const bool good = cache ? cache->verify(p.validator, digest, p.signature) : verify(p.validator, digest, p.signature);
    if (!good) return bad("precommit " + std::to_string(i) + " has a bad signature");
    signed_power += m->power;
  }
  const unsigned __int128 total = total_power(set);
  if (3 * signed_power <= 2 * total) return bad("signers hold " + std::to_string(static_cast<std::uint64_t>(signed_power)) + " of " +
                                                std::to_string(static_cast<std::uint64_t>(total)) + " power, not more than 2/3");
  return {};
}

Status verify_evidence_votes(const DuplicateVoteEvidence& e, const Hash256& chain, const Committee& set, const CommitteeMember** who) {
  auto bad = [](const std::string& why) { return fail(Error::kBadEvidence, "evidence: " + why); };
  const VoteRecord &a = e.a, &b = e.b;
  if (a.validator != b.validator) return bad("votes of two validators");
  if (a.height != b.height || a.round != b.round || a.type != b.type) return bad("votes at different height, round or type");
  if (a.value == b.value) return bad("both votes are for the same value");
  const CommitteeMember* m = find_member(set, a.validator);
  if (!m) return bad("signer " + to_hex(a.validator.view()) + " is not in the set of height " + std::to_string(a.height));
  if (!verify(a.validator, vote_digest(chain, a), a.signature) || !verify(b.validator, vote_digest(chain, b), b.signature))
    return bad("a vote's signature does not verify");
  *who = m;
  return {};
}

}  // namespace bc::ledger
