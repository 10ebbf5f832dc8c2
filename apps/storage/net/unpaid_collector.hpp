// storage::UnpaidCollector: drops the priced shards that no escrow pays for
// (docs/storage.md "Unpaid objects"). Each step takes the holdings whose
// first shard is older than the grace period (ShardStore::holdings_due),
// asks this node's ledger for each one's escrow (`get_escrow`, in process)
// and deletes the shards of every holding escrow_pays_for refuses, except
// those a storage offer commits to (ShardPins: kept until the list is
// released). An escrow found to pay, or unpaid with pinned shards left, is
// remembered with the bytes it was judged for, and judged again only when
// more shards name it. A node without a ledger drops nothing.
//
// Threads: io thread only. The registry and the provider must outlive it.
#pragma once
#include <map>
#include <memory>

#include "apps/storage/net/provider_service.hpp"
#include "apps/storage/payment.hpp"
#include "layers/node/rpc_registry.hpp"

namespace bc::storage {

struct UnpaidStats {
  std::uint64_t escrows_paid = 0;     // holdings found paid (each once per growth)
  std::uint64_t escrows_unpaid = 0;   // holdings found unpaid
  std::uint64_t shards_dropped = 0;   // their shards deleted
  std::uint64_t shards_kept = 0;      // their shards kept: a storage offer commits to them
  std::uint64_t no_ledger = 0;        // steps skipped: the node runs no ledger
};

class UnpaidCollector {
 public:
  // grace_ms > 0; `account` is the provider's (its owner key's) ledger account.
  UnpaidCollector(const node::RpcRegistry& rpc, ProviderService& provider, const Hash256& account, TimeMs grace_ms);
  ~UnpaidCollector() { *alive_ = false; }
  UnpaidCollector(const UnpaidCollector&) = delete;
  UnpaidCollector& operator=(const UnpaidCollector&) = delete;

  // Checks up to 16 due holdings, unless the last step's checks are still under way.
  void step(TimeMs now);
  const UnpaidStats& stats() const { return stats_; }

 private:
  void judge(const Holding& h, const std::optional<EscrowOnChain>& chain, const std::shared_ptr<std::size_t>& left);

  const node::RpcRegistry& rpc_;
  ProviderService& provider_;
  Hash256 account_;
  TimeMs grace_ms_;
  std::map<Hash256, std::uint64_t> judged_bytes_;  // escrow -> the bytes of its holding when last judged
  bool busy_ = false;
  UnpaidStats stats_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace bc::storage
