// The storage probe's exchange (docs/proof-of-service.md "Storage offers and
// the storage probe"), plugged into the auditor's pos::ProbeClient: over the
// probe's flow it fetches the offer's chunk list once per storage root
// (checked against the root and kept for every later probe), then sends the
// audit challenge a client's `storage verify` sends, and hands the answer to
// the ProbeCore, which grades it.
//
//   list fetch    ChunkList pages of kMaxChunksPerPage until `total`; a list
//                 whose length or root is not the offer's is the provider's
//                 failure (graded wrong), like a failure answer
//   audit         AuditRequest{list[chunk], seed}; ttfb_ms from its send to
//                 its answer, so a list fetch never counts as latency
//   no answer     the flow ended or the attempt timed out: nullopt (re-sent)
//
// Threads: the io thread only.
#pragma once
#include <deque>
#include <map>
#include <memory>
#include <vector>

#include "apps/storage/format.hpp"
#include "consensus/pos/probe_client.hpp"

namespace bc::storage {

// Chunk lists checked against their roots, shared by an auditor's probes.
class ChunkListCache {
 public:
  explicit ChunkListCache(std::size_t max_lists = 64) : max_lists_(max_lists) {}
  const std::vector<ShardId>* find(const Hash256& root) const;
  // Keeps `shards` under `root`, forgetting the oldest list past max_lists.
  void add(const Hash256& root, std::vector<ShardId> shards);
  std::size_t size() const { return lists_.size(); }

 private:
  std::size_t max_lists_;
  std::map<Hash256, std::vector<ShardId>> lists_;
  std::deque<Hash256> order_;  // oldest first
};

pos::StorageExchangeFactory storage_probe_exchange(std::shared_ptr<ChunkListCache> cache);

}  // namespace bc::storage
