#include "consensus/bft/codec.hpp"

#include <capnp/message.h>
#include <capnp/serialize.h>

#include <cstring>
#include <set>

#include "consensus/bft/detail/wire_io.hpp"
#include "layers/assert.hpp"
#include "layers/wire/decode.hpp"

namespace bc::bft {
namespace {

constexpr std::string_view kVoteTag = "blockcloud/bft-vote/v1";
constexpr std::string_view kProposalTag = "blockcloud/bft-proposal/v1";

using bc::wire::bytes_ptr;

using detail::Reject;

template <typename Fixed>
void read_fixed(capnp::Data::Reader in, Fixed& out) {
  if (in.size() != sizeof(out.bytes)) throw Reject{Error::kBadField};
  std::memcpy(out.bytes.data(), in.begin(), in.size());
}

void write_vote(const Vote& v, wire::Vote::Builder b, bool with_signature) {
  b.setChainId(bytes_ptr(v.chain_id.view()));
  b.setType(v.type == VoteType::kPrevote ? wire::VoteType::PREVOTE : wire::VoteType::PRECOMMIT);
  b.setHeight(v.height);
  b.setRound(v.round);
  if (v.value) b.setValueHash(bytes_ptr(v.value->view()));
  b.setValidator(bytes_ptr(v.validator.view()));
  if (with_signature) b.setSignature(bytes_ptr(v.signature.view()));
}

Vote read_vote(wire::Vote::Reader r) {
  Vote v;
  read_fixed(r.getChainId(), v.chain_id);
  switch (r.getType()) {
    case wire::VoteType::PREVOTE: v.type = VoteType::kPrevote; break;
    case wire::VoteType::PRECOMMIT: v.type = VoteType::kPrecommit; break;
    default: throw Reject{Error::kBadField};
  }
  v.height = r.getHeight();
  v.round = r.getRound();
  if (r.hasValueHash()) {
    Hash256 h;
    read_fixed(r.getValueHash(), h);
    v.value = h;
  }
  read_fixed(r.getValidator(), v.validator);
  read_fixed(r.getSignature(), v.signature);
  return v;
}

void write_proposal(const Proposal& p, wire::Proposal::Builder b, bool with_signature) {
  b.setChainId(bytes_ptr(p.chain_id.view()));
  b.setHeight(p.height);
  b.setRound(p.round);
  b.setPolRound(p.pol_round);
  b.setValueHash(bytes_ptr(p.value_hash.view()));
  b.setProposer(bytes_ptr(p.proposer.view()));
  if (with_signature) b.setSignature(bytes_ptr(p.signature.view()));
}

Proposal read_proposal(wire::Proposal::Reader r) {
  Proposal p;
  read_fixed(r.getChainId(), p.chain_id);
  p.height = r.getHeight();
  p.round = r.getRound();
  p.pol_round = r.getPolRound();
  if (p.pol_round < -1 || (p.pol_round >= 0 && static_cast<std::uint32_t>(p.pol_round) >= p.round))
    throw Reject{Error::kBadField};
  read_fixed(r.getValueHash(), p.value_hash);
  read_fixed(r.getProposer(), p.proposer);
  read_fixed(r.getSignature(), p.signature);
  return p;
}

void write_votes(const std::vector<Vote>& votes, capnp::List<wire::Vote>::Builder list) {
  for (std::size_t i = 0; i < votes.size(); ++i) write_vote(votes[i], list[i], true);
}

std::vector<Vote> read_votes(capnp::List<wire::Vote>::Reader list, const CodecLimits& limits) {
  if (list.size() > limits.max_votes) throw Reject{Error::kOversized};
  std::vector<Vote> out;
  out.reserve(list.size());
  for (auto v : list) out.push_back(read_vote(v));
  return out;
}

Bytes read_value(capnp::Data::Reader d, const CodecLimits& limits) {
  if (d.size() > limits.max_value_bytes) throw Reject{Error::kOversized};
  return Bytes(d.begin(), d.end());
}

}  // namespace

void detail::write_message(const Message& m, wire::Message::Builder b) {
  if (auto* p = std::get_if<ProposalMsg>(&m)) {
    auto pb = b.initProposal();
    write_proposal(p->proposal, pb.initProposal(), true);
    pb.setValue(bytes_ptr(ByteView(p->value)));
    write_votes(p->pol_prevotes, pb.initPolPrevotes(p->pol_prevotes.size()));
  } else if (auto* v = std::get_if<Vote>(&m)) {
    write_vote(*v, b.initVote(), true);
  } else if (auto* c = std::get_if<CommitCertificate>(&m)) {
    auto cb = b.initCertificate();
    cb.setHeight(c->height);
    cb.setRound(c->round);
    cb.setValueHash(bytes_ptr(c->value_hash.view()));
    cb.setValue(bytes_ptr(ByteView(c->value)));
    write_votes(c->precommits, cb.initPrecommits(c->precommits.size()));
  } else {
    const auto& e = std::get<DuplicateVoteEvidence>(m);
    auto eb = b.initEvidence();
    write_vote(e.a, eb.initVoteA(), true);
    write_vote(e.b, eb.initVoteB(), true);
  }
}

Message detail::read_message(wire::Message::Reader r, const CodecLimits& limits) {
  switch (r.which()) {
    case wire::Message::PROPOSAL: {
      auto p = r.getProposal();
      return ProposalMsg{read_proposal(p.getProposal()), read_value(p.getValue(), limits),
                         read_votes(p.getPolPrevotes(), limits)};
    }
    case wire::Message::VOTE: return read_vote(r.getVote());
    case wire::Message::CERTIFICATE: {
      auto c = r.getCertificate();
      CommitCertificate out{c.getHeight(), c.getRound(), {}, read_value(c.getValue(), limits), {}};
      read_fixed(c.getValueHash(), out.value_hash);
      out.precommits = read_votes(c.getPrecommits(), limits);
      return out;
    }
    case wire::Message::EVIDENCE: {
      auto e = r.getEvidence();
      return DuplicateVoteEvidence{read_vote(e.getVoteA()), read_vote(e.getVoteB())};
    }
    default: throw Reject{Error::kMalformed};
  }
}

namespace {

Status error(Error e, std::string detail) { return fail(make_error_code(e), std::move(detail)); }

}  // namespace

Bytes encode(const Message& m) {
  capnp::MallocMessageBuilder message;
  detail::write_message(m, message.initRoot<wire::Message>());
  kj::Array<capnp::word> words = capnp::messageToFlatArray(message);
  auto bytes = words.asBytes();
  return Bytes(bytes.begin(), bytes.end());
}

Result<Message> decode(ByteView frame, const CodecLimits& limits) {
  const bc::wire::DecodeLimits bounds{.max_bytes = limits.max_frame_bytes,
                                  .traversal_words = limits.max_frame_bytes / sizeof(capnp::word) + 64,
                                  .nesting = 8,
                                  .max_segments = 16};
  std::optional<Message> out;
  bc::wire::DecodeError err = bc::wire::DecodeError::kOk;
  try {
    err = bc::wire::decode<wire::Message>(frame, bounds, [&](wire::Message::Reader r) { out = detail::read_message(r, limits); });
  } catch (const Reject& r) {
    return error(r.error, "field rejected");
  }
  if (err == bc::wire::DecodeError::kOversized) return error(Error::kOversized, bc::wire::to_string(err));
  if (err != bc::wire::DecodeError::kOk) return error(Error::kMalformed, bc::wire::to_string(err));
  BC_ASSERT(out.has_value());
  return std::move(*out);
}

Hash256 vote_digest(const Vote& v) {
  capnp::MallocMessageBuilder message(32);
  write_vote(v, message.initRoot<wire::Vote>(), false);
  return bc::wire::canonical_hash(kVoteTag, message);
}

Hash256 proposal_digest(const Proposal& p) {
  capnp::MallocMessageBuilder message(32);
  write_proposal(p, message.initRoot<wire::Proposal>(), false);
  return bc::wire::canonical_hash(kProposalTag, message);
}

void sign_vote(Vote& v, const KeyPair& key) {
  v.validator = key.public_key();
  v.signature = key.sign(vote_digest(v));
}

void sign_proposal(Proposal& p, const KeyPair& key) {
  p.proposer = key.public_key();
  p.signature = key.sign(proposal_digest(p));
}

namespace {

bool check_signature(const XOnlyPubKey& key, const Hash256& digest, const Signature& sig, SignatureCache* cache) {
  return cache ? cache->verify(key, digest, sig) : verify(key, digest, sig);
}

}  // namespace

Status verify_vote(const Vote& v, const ValidatorSet& set, SignatureCache* cache) {
  if (!set.index_of(v.validator)) return error(Error::kUnknownValidator, "vote signer not in the set");
  if (!check_signature(v.validator, vote_digest(v), v.signature, cache))
    return error(Error::kBadSignature, "vote signature");
  return Status::success();
}

Status verify_proposal(const Proposal& p, const ValidatorSet& set, SignatureCache* cache) {
  if (!set.index_of(p.proposer)) return error(Error::kUnknownValidator, "proposer not in the set");
  if (!check_signature(p.proposer, proposal_digest(p), p.signature, cache))
    return error(Error::kBadSignature, "proposal signature");
  return Status::success();
}

Status verify_certificate(const CommitCertificate& c, const Hash256& chain_id, const ValidatorSet& set,
                          SignatureCache* cache) {
  std::set<std::size_t> signers;
  std::int64_t power = 0;
  for (const Vote& v : c.precommits) {
    if (v.chain_id != chain_id) return error(Error::kWrongChain, "certificate vote of another chain");
    if (v.type != VoteType::kPrecommit || v.height != c.height || v.round != c.round || v.value != c.value_hash)
      return error(Error::kBadCertificate, "vote does not match the certificate");
    auto index = set.index_of(v.validator);
    if (!index) return error(Error::kUnknownValidator, "certificate signer not in the set");
    if (!signers.insert(*index).second) return error(Error::kBadCertificate, "duplicate signer");
    Status s = verify_vote(v, set, cache);
    if (!s.ok()) return s;
    power += set.power_of(*index);
  }
  if (!set.two_thirds(power)) return error(Error::kBadCertificate, "precommits under +2/3 of the power");
  return Status::success();
}

Status verify_evidence(const DuplicateVoteEvidence& e, const Hash256& chain_id, const ValidatorSet& set,
                       SignatureCache* cache) {
  const Vote& a = e.a;
  const Vote& b = e.b;
  if (a.chain_id != chain_id || b.chain_id != chain_id) return error(Error::kWrongChain, "evidence of another chain");
  if (a.validator != b.validator || a.height != b.height || a.round != b.round || a.type != b.type)
    return error(Error::kBadEvidence, "votes of different signers or slots");
  if (a.value == b.value) return error(Error::kBadEvidence, "votes for one value");
  Status s = verify_vote(a, set, cache);
  if (!s.ok()) return s;
  return verify_vote(b, set, cache);
}

bool same_content(const Vote& a, const Vote& b) {
  return a.chain_id == b.chain_id && a.type == b.type && a.height == b.height && a.round == b.round &&
         a.value == b.value && a.validator == b.validator;
}

}  // namespace bc::bft
