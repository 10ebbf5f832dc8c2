// The committee's driver in blockcloudd (docs/consensus.md, "Daemon
// wiring"): a consensus::Validator on the ledger thread, its frames over a
// StreamNet of its own (TCP, beside the ledger's sync transport) on a
// network thread of its own. LedgerNode makes one on a certified chain when the node's key is
// in the committee (validator_membership below); otherwise the node follows
// by block sync.
//
// Threads: the core, the ledger and the mempool are on the ledger thread
// (validating and committing a block never holds up the io thread); the
// StreamNet on the node's consensus network thread, which start() starts
// and stop() joins, so consensus frames never queue behind the io thread's
// RPC calls and tx gossip. Frames cross with asio::post; the store writes
// of an input are durable (consensus::FileStore) before its frames are
// posted to the network thread, so no vote leaves that a restart could forget.
#pragma once
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/json/value.hpp>

#include "consensus/node/ledger_app.hpp"
#include "layers/crypto.hpp"
#include "layers/metrics.hpp"
#include "ledger/ledger.hpp"
#include "ledger/mempool.hpp"

namespace bc::apps {

struct BftNodeConfig {
  KeyPair consensus_key;         // the node key: the genesis or a bond registers it
  Endpoint listen;               // TCP for consensus messages
  std::vector<Endpoint> peers;   // the other validators' consensus endpoints, always (re)dialled
  std::filesystem::path dir;     // DATADIR/bft: the signer's record, so kill -9 never signs twice
  TimeMs block_interval_ms = 1000;  // timeout_commit: the pause after a decision, the pace of an idle chain
  // TEST ONLY (--test-fault equivocate, refused without BC_TEST_FAULTS=1):
  // double-sign every vote (consensus/node/equivocator.hpp) so the node is
  // slashed and banned. Never set in production.
  bool test_equivocate = false;
};

// Whether a node with `key` validates `ledger`'s next height, and why not if
// it does not (for the start-up log): the chain must be certified and the
// key a member of committee_for(head + 1).
struct Membership {
  bool member = false;
  std::string why;
};
Membership validator_membership(const ledger::Ledger& ledger, const XOnlyPubKey& key);

class BftNode {
 public:
  // Called on the ledger thread after the committee committed `height`.
  using OnCommitted = std::function<void(std::uint64_t height)>;
  // Called on the ledger thread when this node's proposal refused a pending tx.
  using OnDropped = consensus::LedgerApplication::OnDropped;
  // REQUIRES: ledger.certified(). Nothing runs before start().
  BftNode(boost::asio::io_context& ledger_io, ledger::Ledger& ledger, ledger::Mempool& mempool, BftNodeConfig cfg,
          metrics::Registry& metrics, OnCommitted on_committed, OnDropped on_dropped);
  ~BftNode();
  // io thread: opens the transport (throws naming the address if it cannot
  // bind) and starts its network thread; the core starts on the ledger thread.
  void start();
  // io thread, before the ledger thread ends: closes the transport and joins
  // its thread. Idempotent.
  void stop();
  // Ledger thread: block sync committed blocks; a core behind them restarts at the head.
  void on_synced();
  // Ledger thread: the core runs and is deciding `height` now, so a block a
  // peer announces for that height is about to be committed here as well.
  bool deciding(std::uint64_t height) const;
  // Ledger thread: height, round, step, last commit time, votes seen, drops.
  boost::json::value status() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace bc::apps
