#include "consensus/bft/signer.hpp"

#include <capnp/message.h>
#include <capnp/serialize.h>

#include <cstring>
#include <tuple>

#include "consensus/bft/detail/wire_io.hpp"
#include "layers/assert.hpp"
#include "layers/wire/decode.hpp"

namespace bc::bft {
namespace {

using bc::wire::bytes_ptr;

Status corrupt(std::string detail) { return fail(make_error_code(Error::kCorrupt), std::move(detail)); }

SignerRecord read_record(wire::SignerRecord::Reader r, const CodecLimits& limits) {
  SignerRecord out;
  out.height = r.getHeight();
  out.round = r.getRound();
  const std::uint8_t step = r.getStep();
  if (step < 1 || step > 3) throw detail::Reject{Error::kCorrupt};
  out.step = static_cast<Step>(step);
  if (r.getSignedInRound().size() > 3) throw detail::Reject{Error::kCorrupt};
  for (auto m : r.getSignedInRound()) out.signed_in_round.push_back(detail::read_message(m, limits));
  out.lock.locked_round = r.getLockedRound();
  if (out.lock.locked_round >= 0) {
    Value v;
    auto hash = r.getLockedValueHash();
    if (hash.size() != Hash256::size()) throw detail::Reject{Error::kCorrupt};
    std::memcpy(v.hash.data(), hash.begin(), hash.size());
    auto bytes = r.getLockedValue();
    v.bytes.assign(bytes.begin(), bytes.end());
    out.lock.locked_value = std::move(v);
    if (r.getLockProof().size() > limits.max_votes) throw detail::Reject{Error::kCorrupt};
    for (auto m : r.getLockProof()) {
      Message vote = detail::read_message(m, limits);
      if (!std::holds_alternative<Vote>(vote)) throw detail::Reject{Error::kCorrupt};
      out.lock.proof.push_back(std::get<Vote>(std::move(vote)));
    }
  }
  return out;
}

}  // namespace

Bytes encode_signer_record(const SignerRecord& r) {
  capnp::MallocMessageBuilder message;
  auto b = message.initRoot<wire::SignerRecord>();
  b.setHeight(r.height);
  b.setRound(r.round);
  b.setStep(static_cast<std::uint8_t>(r.step));
  auto list = b.initSignedInRound(r.signed_in_round.size());
  for (std::size_t i = 0; i < r.signed_in_round.size(); ++i) detail::write_message(r.signed_in_round[i], list[i]);
  b.setLockedRound(r.lock.locked_value ? r.lock.locked_round : -1);
  if (r.lock.locked_value) {
    b.setLockedValueHash(bytes_ptr(r.lock.locked_value->hash.view()));
    b.setLockedValue(bytes_ptr(ByteView(r.lock.locked_value->bytes)));
    auto proof = b.initLockProof(r.lock.proof.size());
    for (std::size_t i = 0; i < r.lock.proof.size(); ++i) detail::write_message(Message{r.lock.proof[i]}, proof[i]);
  }
  kj::Array<capnp::word> words = capnp::messageToFlatArray(message);
  auto bytes = words.asBytes();
  return Bytes(bytes.begin(), bytes.end());
}

Result<SignerRecord> decode_signer_record(ByteView bytes, const CodecLimits& limits) {
  const bc::wire::DecodeLimits bounds{.max_bytes = 2 * limits.max_frame_bytes,
                                  .traversal_words = 2 * limits.max_frame_bytes / sizeof(capnp::word),
                                  .nesting = 10,
                                  .max_segments = 16};
  std::optional<SignerRecord> out;
  bc::wire::DecodeError err = bc::wire::DecodeError::kOk;
  try {
    err = bc::wire::decode<wire::SignerRecord>(bytes, bounds,
                                          [&](wire::SignerRecord::Reader r) { out = read_record(r, limits); });
  } catch (const detail::Reject& r) {
    return corrupt(std::string("signer record: ") + to_string(r.error));
  }
  if (err != bc::wire::DecodeError::kOk) return corrupt(std::string("signer record: ") + bc::wire::to_string(err));
  return std::move(*out);
}

Signer::Signer(KeyPair key, SignerRecord restored) : key_(std::move(key)), record_(std::move(restored)) {}

Signer::Slot Signer::compare(std::uint64_t height, std::uint32_t round, Step step) const {
  if (record_.height == 0) return Slot::kAbove;
  const auto asked = std::make_tuple(height, round, static_cast<int>(step));
  const auto last = std::make_tuple(record_.height, record_.round, static_cast<int>(record_.step));
  if (asked < last) return Slot::kBelow;
  return asked == last ? Slot::kSame : Slot::kAbove;
}

void Signer::persist(std::uint64_t height, std::uint32_t round, Step step, Message signed_message, const Lock& lock,
                     Outbox& out) {
  if (record_.height != height || record_.round != round) record_.signed_in_round.clear();
  BC_ASSERT(record_.signed_in_round.size() < 3);
  record_.height = height;
  record_.round = round;
  record_.step = step;
  record_.signed_in_round.push_back(std::move(signed_message));
  record_.lock = lock;
  StoreWrite w;
  w.ops.push_back({std::string(kSignerKey), encode_signer_record(record_)});
  w.sync = true;
  out.write(std::move(w));  // queued before the caller's send: durable first
}

std::optional<Vote> Signer::sign_vote(Vote vote, const Lock& lock, Outbox& out) {
  switch (compare(vote.height, vote.round, step_of(vote.type))) {
    case Slot::kBelow: return std::nullopt;
    case Slot::kSame: {
      const Vote* last = record_.last_signed() ? std::get_if<Vote>(record_.last_signed()) : nullptr;
      BC_ASSERT_MSG(last != nullptr, "signer record at a vote slot holds no vote");
      return *last;  // what this slot already said, whatever was asked
    }
    case Slot::kAbove: break;
  }
  bft::sign_vote(vote, key_);
  persist(vote.height, vote.round, step_of(vote.type), vote, lock, out);
  return vote;
}

std::optional<ProposalMsg> Signer::sign_proposal(ProposalMsg msg, const Lock& lock, Outbox& out) {
  const Proposal& p = msg.proposal;
  switch (compare(p.height, p.round, Step::kPropose)) {
    case Slot::kBelow: return std::nullopt;
    case Slot::kSame: {
      const ProposalMsg* last = record_.last_signed() ? std::get_if<ProposalMsg>(record_.last_signed()) : nullptr;
      BC_ASSERT_MSG(last != nullptr, "signer record at a proposal slot holds no proposal");
      return *last;
    }
    case Slot::kAbove: break;
  }
  bft::sign_proposal(msg.proposal, key_);
  persist(p.height, p.round, Step::kPropose, msg, lock, out);
  return msg;
}

}  // namespace bc::bft
