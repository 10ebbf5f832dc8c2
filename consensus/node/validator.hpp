// One validator of the committee on its ledger: BftCore + LedgerApplication
// + its durable CoreStore (FileStore in the daemon), the part of the daemon's driver that runs on the
// ledger thread (docs/consensus.md, "Daemon wiring"). The transport is the
// caller's: it hands frames and peer changes in and sends the frames that
// come out, after the call returns (every store write of that input is
// durable by then).
//
// Start and catch-up: the core starts at the height after what this node
// holds, which is the ledger's head or a decision the core recorded but the
// ledger did not commit before a crash (committed first, from the record).
// When block sync commits past the core's height, resync() makes a new core
// at the new head; the signer's record carries over through the store, so
// the new core never signs what the old one signed.
//
// Thread safety: none; the owner of the Ledger and Mempool calls it.
#pragma once
#include <map>
#include <memory>
#include <vector>

#include "consensus/bft/core.hpp"
#include "consensus/node/core_store.hpp"
#include "consensus/node/ledger_app.hpp"

namespace bc::consensus {

struct ValidatorStep {
  std::vector<Outbox::Frame> frames;              // to send, in order
  std::vector<PeerId> disconnects;
  std::vector<std::uint64_t> committed;   // heights this input committed
  Status fatal;                           // the store or the ledger failed: stop the node
};

class Validator {
 public:
  // key: this node's consensus key; nullopt runs a follower core, which
  // decides from certificates but never signs.
  static Result<std::unique_ptr<Validator>> create(bft::BftOptions options, ledger::Ledger& ledger,
                                                   ledger::Mempool& mempool, std::optional<KeyPair> key,
                                                   std::unique_ptr<CoreStore> store, LedgerApplication::Clock clock);

  ValidatorStep start(TimeMs now);
  ValidatorStep peer_up(PeerId peer, const Endpoint& remote, bool outbound, TimeMs now);
  ValidatorStep frame(PeerId peer, ByteView bytes, TimeMs now);
  ValidatorStep peer_down(PeerId peer, TimeMs now);
  ValidatorStep tick(TimeMs now);
  // Block sync committed blocks: restart the core past them if it is behind.
  ValidatorStep resync(TimeMs now);
  TimeMs next_wakeup() const { return core_->next_wakeup(); }

  const bft::BftCore& core() const { return *core_; }
  // Evidence waiting for a block (kept across cores: resync keeps the pool).
  const EvidencePool& evidence() const { return app_->evidence(); }
  std::size_t peers() const { return peers_.size(); }
  // Called when this node's proposal left a tx out as invalid (LedgerApplication::OnDropped).
  void on_dropped(LedgerApplication::OnDropped fn) { app_->on_dropped(std::move(fn)); }

 private:
  Validator(bft::BftOptions options, ledger::Ledger& ledger, std::optional<KeyPair> key, std::unique_ptr<CoreStore> store,
            std::unique_ptr<LedgerApplication> app)
      : options_(std::move(options)), ledger_(ledger), key_(std::move(key)), store_(std::move(store)),
        app_(std::move(app)) {}
  Status make_core();
  Status commit_recorded_decision();
  template <typename Fn>
  ValidatorStep run(Fn&& fn);

  bft::BftOptions options_;
  ledger::Ledger& ledger_;
  std::optional<KeyPair> key_;
  std::unique_ptr<CoreStore> store_;
  std::unique_ptr<LedgerApplication> app_;
  std::unique_ptr<bft::BftCore> core_;
  struct Peer {
    Endpoint remote;
    bool outbound = false;
  };
  std::map<PeerId, Peer> peers_;  // up now: told to a new core on resync
};

}  // namespace bc::consensus
