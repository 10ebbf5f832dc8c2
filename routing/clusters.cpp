#include "routing/detail/clusters.hpp"

namespace bc::routing {

Clusters::Clusters(const NodeId& self, bool enabled, TimeMs level1_rtt_ms, TimeMs level2_rtt_ms)
    : enabled_(enabled), ids_{Hash256{}, self, self}, thresholds_{0, level1_rtt_ms, level2_rtt_ms} {}

bool Clusters::member(int level, const Hash256& peer_cluster, TimeMs rtt_ms) const {
  if (level == 0) return true;
  if (!enabled_ || level >= 3) return false;
  return peer_cluster == ids_[level] && rtt_ms >= 0 && rtt_ms < thresholds_[level];
}

bool Clusters::should_join(int level, const Hash256& peer_cluster, std::uint32_t peer_size,
                           TimeMs rtt_ms, std::uint32_t our_size) const {
  if (!enabled_ || level <= 0 || level >= 3) return false;
  if (peer_cluster.is_zero() || peer_cluster == ids_[level]) return false;
  if (rtt_ms < 0 || rtt_ms >= thresholds_[level]) return false;
  if (peer_size != our_size) return peer_size > our_size;
  return peer_cluster < ids_[level];
}

}  // namespace bc::routing
