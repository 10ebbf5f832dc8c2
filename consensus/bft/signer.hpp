// Never sign twice (docs/consensus.md, "Never sign twice").
//
// The Signer holds the validator's key and the last (height, round, step)
// it signed, with the message and the node's lock at that moment. Each
// signature it makes is preceded, in the same Outbox, by a synced StoreWrite
// of that record under kSignerKey; the driver makes the write durable before
// the message leaves (layers/core.hpp). So after a crash at any instant the
// record on disk covers every message a peer can have seen, and a restarted
// node refuses anything at or below it.
#pragma once
#include <cstdint>
#include <optional>
#include <string_view>

#include "consensus/bft/codec.hpp"
#include "consensus/bft/types.hpp"
#include "layers/core.hpp"
#include "layers/status.hpp"

namespace bc::bft {

inline constexpr std::string_view kSignerKey = "bft/signer";

struct Lock {
  std::int32_t locked_round = -1;
  std::optional<Value> locked_value;
  // The +2/3 prevotes of locked_round for locked_value: the proof of lock a
  // re-proposal of the value carries (rule 28). Persisted with the lock, so
  // a restarted node can still prove it; without it, a locked node whose
  // power the others need would block the height for good.
  std::vector<Vote> proof;
};

struct SignerRecord {
  std::uint64_t height = 0;  // 0: nothing signed yet
  std::uint32_t round = 0;
  Step step = Step::kPropose;
  // Every message signed at (height, round), in signing order (at most a
  // proposal, a prevote and a precommit): a restarted node re-sends them all,
  // since peers may have missed any of them. The last is the slot's.
  std::vector<Message> signed_in_round;
  const Message* last_signed() const { return signed_in_round.empty() ? nullptr : &signed_in_round.back(); }
  Lock lock;
};

Bytes encode_signer_record(const SignerRecord& r);
Result<SignerRecord> decode_signer_record(ByteView bytes, const CodecLimits& limits);

class Signer {
 public:
  Signer(KeyPair key, SignerRecord restored);

  // What to send for this slot: a fresh signature (after queueing the record
  // write in out), the message already signed for this exact slot (re-sent,
  // never re-signed), or nullopt when the slot is below the last signed one.
  // The returned message can differ from the request: after a restart the
  // slot may hold another value signed before the crash. `lock` is the
  // node's lock after this step, persisted with the signature.
  std::optional<Vote> sign_vote(Vote vote, const Lock& lock, Outbox& out);
  std::optional<ProposalMsg> sign_proposal(ProposalMsg msg, const Lock& lock, Outbox& out);

  const XOnlyPubKey& public_key() const { return key_.public_key(); }
  const SignerRecord& record() const { return record_; }

 private:
  enum class Slot { kBelow, kSame, kAbove };
  Slot compare(std::uint64_t height, std::uint32_t round, Step step) const;
  void persist(std::uint64_t height, std::uint32_t round, Step step, Message signed_message, const Lock& lock,
               Outbox& out);

  KeyPair key_;
  SignerRecord record_;
};

}  // namespace bc::bft
