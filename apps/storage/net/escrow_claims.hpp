// storage::EscrowClaimer: the provider's side of payment (docs/storage.md
// "Payment"). It keeps the highest usage receipt per escrow that clients
// sent, and on each step claims them on the node's own ledger: an
// EscrowClaim per escrow, signed by the service owner's key (whose account
// the directory advertises), through the node's JSON-RPC methods called in
// process (head, get_account, send_tx), so it needs no handle on the ledger
// module and does nothing on a node without one.
//
// A claim the ledger refuses (a receipt not signed by the escrow's client,
// nothing new to claim, an unknown escrow) is dropped and counted; receipts
// are cumulative, so a lost one only delays payment until the next.
//
// Threads: io thread only. The registry must outlive the claimer.
#pragma once
#include <map>
#include <memory>

#include "apps/storage/messages.hpp"
#include "layers/node/rpc_registry.hpp"

namespace bc::storage {

struct ClaimStats {
  std::uint64_t sent = 0;     // claims the mempool accepted
  std::uint64_t refused = 0;  // claims the node refused
  std::uint64_t no_ledger = 0;  // steps skipped: the node runs no ledger
};

class EscrowClaimer {
 public:
  EscrowClaimer(const node::RpcRegistry& rpc, const KeyPair& owner) : rpc_(rpc), owner_(owner) {}
  ~EscrowClaimer() { *alive_ = false; }  // answers still on their way find it gone
  EscrowClaimer(const EscrowClaimer&) = delete;
  EscrowClaimer& operator=(const EscrowClaimer&) = delete;

  // Keeps each receipt unless one with a higher amount is waiting.
  void add(const std::vector<ReceiptRequest>& receipts);
  // Sends a claim for every waiting receipt, unless claims are under way.
  void step();

  std::size_t waiting() const { return waiting_.size(); }
  const ClaimStats& stats() const { return *stats_; }

 private:
  struct Run;
  void send_all(const std::shared_ptr<Run>& run);

  const node::RpcRegistry& rpc_;
  const KeyPair& owner_;
  std::map<Hash256, ReceiptRequest> waiting_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  std::shared_ptr<bool> busy_ = std::make_shared<bool>(false);
  std::shared_ptr<std::uint64_t> next_nonce_ = std::make_shared<std::uint64_t>(0);  // after the last round's claims
  std::shared_ptr<ClaimStats> stats_ = std::make_shared<ClaimStats>();
};

}  // namespace bc::storage
