// BftCore: one node of the Tendermint-style committee, sans-I/O.
// docs/consensus.md is the specification; names there are names here.
//
// Contract (layers/core.hpp): a StreamProtocol. Peers are framed-stream
// connections named by the driver; every frame is one consensus message
// (consensus/bft/codec.hpp). After each input the driver takes, in order:
// out.writes (synced before anything else of that Outbox leaves: the
// signer's record rides there ahead of the vote it covers), out.frames, then
// events with poll_event(), then next_wakeup().
//
// The core decides on opaque values through the Application the driver
// injects (the ledger in a node, a toy value source in tests). It calls the
// Application synchronously from inside its inputs; the Application must not
// call back into the core.
//
// Durable state: kSignerKey (consensus/bft/signer.hpp) and kDecidedKey (the
// last decided height's certificate; BftOptions::record_decisions). A
// restarted node passes both back in Recovery and resumes where it can do
// no harm.
//
// Thread safety: none; one input at a time, as every core.
#pragma once
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "consensus/bft/codec.hpp"
#include "consensus/bft/errors.hpp"
#include "consensus/bft/signer.hpp"
#include "consensus/bft/types.hpp"
#include "consensus/bft/validator_set.hpp"
#include "consensus/bft/vote_set.hpp"
#include "layers/core.hpp"
#include "layers/sig_cache.hpp"

namespace bc::bft {

inline constexpr std::string_view kDecidedKey = "bft/decided";

struct BftOptions {
  Hash256 chain_id;  // the genesis hash: every signed message carries it
  TimeMs propose_ms = 300, propose_delta_ms = 100;  // timeout_propose(r) = propose_ms + r * propose_delta_ms
  TimeMs prevote_ms = 100, precommit_ms = 100, vote_delta_ms = 50;
  TimeMs commit_ms = 20;   // after a decision, before the next height
  TimeMs gossip_ms = 200;  // re-send own messages of the current round
  std::uint32_t future_rounds = 4;  // votes up to round + this are stored; later ones only counted for the skip
  std::size_t retained_certificates = 64;  // served to peers that are behind
  // Write kDecidedKey with each decision. A driver whose Application commits
  // every Decided durably before that input's frames leave (consensus::
  // Validator: the ledger's synced commit) turns it off: the record would
  // only repeat the block the ledger holds.
  bool record_decisions = true;
  CodecLimits limits;
};

// What the core needs from the ledger.
class Application {
 public:
  virtual ~Application() = default;
  // The validator set of `height` with its priorities as of round 0, or
  // nullopt if not known yet (the core retries on its next tick).
  virtual std::optional<ValidatorSet> validators(std::uint64_t height) = 0;
  // A value to propose at `height` (this node is the proposer).
  virtual Value propose_value(std::uint64_t height, TimeMs now) = 0;
  // Whether `value` may be decided at `height`. Must check that value.hash
  // is the hash of value.bytes. Deterministic for one (height, value).
  virtual bool valid_value(std::uint64_t height, const Value& value) = 0;
  // The commit certificate stored with the block at `height`, if this node
  // has it: served to peers that are further behind than the core's own
  // memory of recent certificates (BftOptions::retained_certificates).
  virtual std::optional<CommitCertificate> certificate(std::uint64_t height) = 0;
};

struct Decided {
  std::uint64_t height = 0;
  Value value;
  CommitCertificate certificate;
};
struct EvidenceFound {
  DuplicateVoteEvidence evidence;
};
using BftEvent = std::variant<Decided, EvidenceFound>;

// The values of kSignerKey and kDecidedKey read back from the store.
struct Recovery {
  std::optional<Bytes> signer_record;
  std::optional<Bytes> decided_record;
};

struct BftStats {
  std::uint64_t frames_in = 0;
  std::uint64_t messages_accepted = 0;
  std::uint64_t duplicates = 0;
  std::uint64_t stale = 0;           // a lower height or a round already left
  std::uint64_t future = 0;          // a higher height: not verifiable yet
  std::uint64_t held = 0;            // of those, kept for the next height and handled when it starts
  std::uint64_t certificates_served = 0;
  std::uint64_t rounds_skipped = 0;
  std::uint64_t decisions = 0;
  std::map<std::string, std::uint64_t> drops;  // by Error name
};

class BftCore final : public StreamProtocol {
 public:
  // key: nullopt for a follower, which decides but never signs. Fails with
  // kCorrupt if a recovery record does not decode.
  static Result<std::unique_ptr<BftCore>> create(BftOptions options, Application& app, std::optional<KeyPair> key,
                                                 const Recovery& recovery, SignatureCache* cache = nullptr);

  // Enters the first round. Call once, before any other input.
  void start(TimeMs now, Outbox& out);

  void on_peer_up(PeerId peer, const Endpoint& remote, bool outbound, TimeMs now, Outbox& out) override;
  void on_frame(PeerId peer, ByteView frame, TimeMs now, Outbox& out) override;
  void on_peer_down(PeerId peer, TimeMs now, Outbox& out) override;
  void on_tick(TimeMs now, Outbox& out) override;
  TimeMs next_wakeup() const override;

  std::optional<BftEvent> poll_event();

  std::uint64_t height() const { return height_; }
  std::uint32_t round() const { return round_; }
  Step step() const { return step_; }
  const Lock& lock() const { return lock_; }
  const std::vector<DuplicateVoteEvidence>& evidence() const { return evidence_; }
  const BftStats& stats() const { return stats_; }
  // Votes of the next height kept per peer until it starts (plus one proposal).
  static constexpr std::size_t kHeldVotesPerPeer = 8;

 private:
  enum class TimeoutKind { kPropose, kPrevote, kPrecommit, kCommit };
  struct Timeout {
    TimeMs at;
    TimeoutKind kind;
    std::uint64_t height;
    std::uint32_t round;
  };
  struct RoundFlags {
    bool prevote_timeout = false;    // rule 34 fired
    bool precommit_timeout = false;  // rule 47 fired
    bool lock_rule = false;          // rule 36 fired
  };

  BftCore(BftOptions options, Application& app, SignatureCache* cache);
  Status restore(std::optional<KeyPair> key, const Recovery& recovery);
  void resume(TimeMs now, Outbox& out);
  void adopt_last_signed(TimeMs now, Outbox& out);

  // core.cpp: heights, timers, gossip, peers
  bool enter_height(std::uint64_t height, TimeMs now);
  void advance_height(TimeMs now, Outbox& out);  // enter height_ + 1, round 0, then the held messages
  void schedule(TimeoutKind kind, TimeMs delay, TimeMs now);
  void fire_timeout(const Timeout& t, TimeMs now, Outbox& out);
  void gossip(TimeMs now, Outbox& out);
  void broadcast(const Message& m, Outbox& out);
  void serve_certificate(PeerId peer, std::uint64_t height, TimeMs now, Outbox& out);
  void serve_round(PeerId peer, std::uint32_t round, TimeMs now, Outbox& out);
  void drop(Error reason);

  // core_rules.cpp: the paper's rules
  void enter_new_round(std::uint32_t round, TimeMs now, Outbox& out);
  void enter_prevote(const VoteValue& value, TimeMs now, Outbox& out);
  void enter_precommit(const VoteValue& value, TimeMs now, Outbox& out);
  void check_rules(TimeMs now, Outbox& out);
  bool rule_proposal(TimeMs now, Outbox& out);
  bool rule_prevotes(TimeMs now, Outbox& out);
  bool rule_precommits(TimeMs now, Outbox& out);
  bool rule_decide(TimeMs now, Outbox& out);
  bool rule_round_skip(TimeMs now, Outbox& out);
  void decide(const Value& value, CommitCertificate certificate, TimeMs now, Outbox& out);
  bool valid(const Value& value);
  // A value with this hash that passed valid(), from this height's proposals,
  // the lock or the valid value; nullopt if none is known.
  std::optional<Value> validated_value(const Hash256& hash);
  const XOnlyPubKey& proposer_for(std::uint32_t round);
  void sign_and_send_vote(VoteType type, const VoteValue& value, Outbox& out);
  TimeMs timeout_of(TimeoutKind kind, std::uint32_t round) const;

  // core_messages.cpp: one handler per message kind
  void handle(PeerId from, Message m, TimeMs now, Outbox& out);
  void handle_vote(PeerId from, const Vote& v, TimeMs now, Outbox& out);
  void handle_proposal(PeerId from, ProposalMsg m, bool own, TimeMs now, Outbox& out);
  void handle_certificate(PeerId from, CommitCertificate c, TimeMs now, Outbox& out);
  void handle_evidence(const DuplicateVoteEvidence& e, Outbox& out);
  bool add_vote(const Vote& v, Outbox& out);
  bool accept_proof_of_lock(ProposalMsg& m, Outbox& out);
  void record_evidence(const DuplicateVoteEvidence& e, Outbox& out);
  bool check_height(PeerId from, std::uint64_t height, TimeMs now, Outbox& out);
  bool hold_for_next_height(PeerId from, Message& m);

  BftOptions opt_;
  Application& app_;
  SignatureCache* cache_;
  std::optional<Signer> signer_;

  std::uint64_t height_ = 0;
  std::uint32_t round_ = 0;
  Step step_ = Step::kPropose;
  Lock lock_;  // locked_round, locked_value
  std::int32_t valid_round_ = -1;
  std::optional<Value> valid_value_;
  bool decided_ = false;  // at height_, waiting for timeout_commit
  struct {
    std::uint32_t round = 0;
    Lock lock;
  } recovered_;  // where the signer record says to resume at the first height

  std::unique_ptr<ValidatorSet> set_;  // of height_
  std::unique_ptr<HeightVotes> votes_;
  std::map<std::uint32_t, ProposalMsg> proposals_;        // the proposer's, per round
  std::set<std::uint32_t> proven_locks_;                  // rounds whose proposal carried +2/3 proof of lock
  std::map<std::uint32_t, XOnlyPubKey> proposer_cache_;   // proposer_for_round memo
  std::map<Hash256, Bytes> valid_values_;                 // values app.valid_value accepted, by hash
  std::set<Hash256> invalid_;                             // sha256(hash || bytes) of values it refused
  std::map<std::uint32_t, RoundFlags> flags_;
  std::map<std::pair<std::uint32_t, VoteType>, VoteValue> signed_this_run_;  // the never-sign-twice assert

  std::optional<ProposalMsg> own_proposal_;
  std::optional<Vote> own_prevote_, own_precommit_;

  std::vector<Timeout> timeouts_;
  TimeMs next_gossip_ = kNever;
  TimeMs retry_height_at_ = kNever;  // validators(height) was not known yet
  std::set<PeerId> peers_;
  std::map<PeerId, TimeMs> served_at_;        // certificates
  std::map<PeerId, TimeMs> round_served_at_;  // votes of a round the peer lags in
  std::map<std::uint64_t, CommitCertificate> certificates_;
  // Proposals and votes of height_ + 1 that arrived before this node entered
  // it (a peer that committed first): at most one proposal and
  // kHeldVotesPerPeer votes per peer, checked in full only when the height
  // starts. Without them a proposal would wait for its sender's next gossip.
  struct Held {
    std::optional<ProposalMsg> proposal;
    std::vector<Vote> votes;
  };
  std::map<PeerId, Held> held_;

  std::deque<BftEvent> events_;
  std::vector<DuplicateVoteEvidence> evidence_;
  std::set<std::tuple<XOnlyPubKey, std::uint64_t, std::uint32_t, VoteType>> evidence_seen_;
  BftStats stats_;
};

}  // namespace bc::bft
