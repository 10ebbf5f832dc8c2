// Coral RTT clusters: this node's cluster id and the join rule per level.
//
// Level 0 is global (id all zeros). Levels 1 and 2 start as singleton
// clusters named by our own node id. A peer belongs in our level-L table
// only if it reports our level-L cluster id and our smoothed RTT to it is
// below threshold(L). We join a peer's level-L cluster when the peer is near
// enough (RTT < threshold) and its cluster is larger than ours (ties: the
// lower cluster id wins), so nearby nodes converge on one cluster per region.
#pragma once
#include <cstdint>

#include "layers/ids.hpp"
#include "layers/runtime.hpp"

namespace bc::routing {

class Clusters {
 public:
  Clusters(const NodeId& self, bool enabled, TimeMs level1_rtt_ms, TimeMs level2_rtt_ms);

  int levels() const { return enabled_ ? 3 : 1; }
  const Hash256& id(int level) const { return ids_[level]; }
  TimeMs threshold(int level) const { return thresholds_[level]; }

  // Whether a peer with this reported cluster id and RTT belongs in our
  // level-L table (level 0: always).
  bool member(int level, const Hash256& peer_cluster, TimeMs rtt_ms) const;
  // Coral's join rule; our_size is our current estimate for the level.
  bool should_join(int level, const Hash256& peer_cluster, std::uint32_t peer_size,
                   TimeMs rtt_ms, std::uint32_t our_size) const;
  void join(int level, const Hash256& cluster) { ids_[level] = cluster; }

 private:
  bool enabled_;
  Hash256 ids_[3];
  TimeMs thresholds_[3];
};

}  // namespace bc::routing
