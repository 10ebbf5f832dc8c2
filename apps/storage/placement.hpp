// Where a file's shards go and where a get reads them from (docs/storage.md
// "Placement"). Pure functions over what the client knows of each provider,
// so the rules are tested without a network:
//
// - choose_placement: k + m distinct providers for a put (or replacements
//   for a repair), spread over distinct Coral level-1 clusters first, then
//   distinct level-2 clusters, then the nearest, with a caller-given tie
//   break (random in the CLI, fixed in tests).
// - fetch_order: the order in which a get asks for a segment's shards:
//   providers that failed before last, then the nearest cluster level first,
//   data shards before parity (no decoding), then the lower RTT.
#pragma once
#include <cstdint>
#include <optional>
#include <vector>

#include "layers/bytes.hpp"
#include "layers/status.hpp"

namespace bc::storage {

// Coral's cluster levels by RTT (routing::DhtConfig): 2 below 20 ms, 1 below
// 60 ms, 0 beyond; -1 when nothing was measured (rtt_us < 0).
int nearness_level(std::int64_t rtt_us);

struct PlacementCandidate {
  // Coral cluster IDs the provider's node reported at levels 1 and 2;
  // nullopt when unknown (an older advertisement): counted as a cluster of
  // its own, as the DHT counts a fresh node.
  std::optional<Hash256> cluster1, cluster2;
  int level = -1;      // innermost cluster level the client shares with it; -1 unknown (ranked as 0)
  std::uint64_t tiebreak = 0;  // orders otherwise equal candidates, lowest first
};

// Picks `count` candidates (indexes into `candidates`, in pick order) that
// are not in `fixed`, greedily: each pick minimises (picked providers,
// `fixed` included, in its level-1 cluster; those in its level-2 cluster;
// -level; tiebreak). So the first picks land in distinct level-1 clusters,
// later ones spread evenly over them. kBadShape when fewer than `count`
// candidates are left, naming both numbers.
Result<std::vector<std::size_t>> choose_placement(const std::vector<PlacementCandidate>& candidates,
                                                  std::size_t count, const std::vector<std::size_t>& fixed = {});

// Shard indexes 0 .. k+m-1 in the order a get asks for them. placement[j] is
// shard j's provider; strikes and rtt_us are per provider (rtt_us -1:
// unmeasured, asked after every measured level). REQUIRES: every
// placement[j] < strikes.size() and < rtt_us.size() (an empty rtt_us means
// nothing was measured).
std::vector<std::uint32_t> fetch_order(const std::vector<std::size_t>& placement, std::uint32_t data_shards,
                                       const std::vector<std::uint32_t>& strikes,
                                       const std::vector<std::int64_t>& rtt_us);

}  // namespace bc::storage
