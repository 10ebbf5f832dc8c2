// Placement (apps/storage/placement.hpp): a file's providers spread over
// Coral clusters, and a get's order of shard sources by nearness, on
// synthetic clusters.
#include <doctest/doctest.h>

#include <map>
#include <set>

#include "apps/storage/placement.hpp"
#include "layers/crypto.hpp"

using namespace bc;
using namespace bc::storage;

namespace {

Hash256 cluster(const std::string& name) { return sha256(as_bytes(name)); }

// Providers named "<l1>/<l2>" in level-1 cluster l1 and level-2 cluster l1/l2.
PlacementCandidate at(const std::string& l1, const std::string& l2, int level = 0, std::uint64_t tiebreak = 0) {
  return {cluster(l1), cluster(l1 + "/" + l2), level, tiebreak};
}

std::map<Hash256, int> per_level1(const std::vector<PlacementCandidate>& c, const std::vector<std::size_t>& picked) {
  std::map<Hash256, int> n;
  for (std::size_t i : picked) ++n[*c[i].cluster1];
  return n;
}

}  // namespace

TEST_CASE("placement: k+m distinct providers, one per level-1 cluster before any cluster gets a second") {
  std::vector<PlacementCandidate> c;
  for (const char* l1 : {"eu", "us", "asia"})
    for (int p = 0; p < 3; ++p) c.push_back(at(l1, "r" + std::to_string(p), 0, static_cast<std::uint64_t>(c.size())));
  auto three = choose_placement(c, 3);
  REQUIRE(three.ok());
  CHECK(per_level1(c, *three).size() == 3);
  auto six = choose_placement(c, 6);
  REQUIRE(six.ok());
  CHECK(std::set<std::size_t>(six->begin(), six->end()).size() == 6);
  for (const auto& [id, n] : per_level1(c, *six)) CHECK(n == 2);
  CHECK(*choose_placement(c, 6) == *six);  // deterministic for a given tie break
}

TEST_CASE("placement: losing any one cluster of four costs at most m = 2 of the 6 shards") {
  std::vector<PlacementCandidate> c;
  // Uneven clusters: 5 providers in one, 3, 2 and 1 in the others.
  const std::vector<std::pair<std::string, int>> sizes{{"a", 5}, {"b", 3}, {"c", 2}, {"d", 1}};
  for (const auto& [l1, n] : sizes)
    for (int p = 0; p < n; ++p) c.push_back(at(l1, "x", 2, static_cast<std::uint64_t>(c.size())));
  auto six = choose_placement(c, 6);
  REQUIRE(six.ok());
  for (const auto& [id, n] : per_level1(c, *six)) CHECK(n <= 2);
  CHECK(per_level1(c, *six).size() == 4);
}

TEST_CASE("placement: inside one level-1 cluster, distinct level-2 clusters first") {
  std::vector<PlacementCandidate> c{at("eu", "paris"), at("eu", "paris"), at("eu", "berlin"), at("eu", "berlin"),
                                    at("eu", "rome"),  at("eu", "rome")};
  for (std::size_t i = 0; i < c.size(); ++i) c[i].tiebreak = i;
  auto three = choose_placement(c, 3);
  REQUIRE(three.ok());
  std::set<Hash256> l2;
  for (std::size_t i : *three) l2.insert(*c[i].cluster2);
  CHECK(l2.size() == 3);
}

TEST_CASE("placement: among equally spread candidates the nearer cluster level wins, then the tie break") {
  std::vector<PlacementCandidate> c{at("a", "1", 0, 0), at("b", "1", 2, 5), at("c", "1", 1, 1), at("d", "1", -1, 2),
                                    at("e", "1", 2, 9)};
  auto two = choose_placement(c, 2);
  REQUIRE(two.ok());
  CHECK(*two == std::vector<std::size_t>{1, 4});  // both level 2, lower tie break first
  auto four = choose_placement(c, 4);
  REQUIRE(four.ok());
  CHECK((*four)[2] == 2);  // level 1 before level 0 and unknown (ranked as 0)
  CHECK((*four)[3] == 0);  // level 0 and unknown tie: tie break 0 < 2
}

TEST_CASE("placement: a provider without cluster IDs is a cluster of its own") {
  std::vector<PlacementCandidate> c{at("a", "1", 0, 0), at("a", "2", 0, 1), PlacementCandidate{{}, {}, 0, 5},
                                    PlacementCandidate{{}, {}, 0, 6}};
  auto three = choose_placement(c, 3);
  REQUIRE(three.ok());
  CHECK(*three == std::vector<std::size_t>{0, 2, 3});  // the second of cluster a comes last
}

TEST_CASE("placement: a repair's replacements avoid the survivors' clusters; too few candidates is an error") {
  std::vector<PlacementCandidate> c{at("a", "1", 2, 0), at("b", "1", 2, 0), at("a", "2", 2, 0),
                                    at("b", "2", 2, 0), at("c", "1", 0, 9)};
  auto one = choose_placement(c, 1, {0, 1});  // survivors in a and b
  REQUIRE(one.ok());
  CHECK(*one == std::vector<std::size_t>{4});  // the far cluster c, not a nearer second copy in a or b
  auto none = choose_placement(c, 4, {0, 1});
  REQUIRE_FALSE(none.ok());
  CHECK(none.status().message.find("3 providers to choose from, 4 needed") != std::string::npos);
}

TEST_CASE("fetch order: fewest strikes, then the nearest cluster level, data before parity, then the lower RTT") {
  // 4 + 2 shards on providers 0..5.
  const std::vector<std::size_t> placement{0, 1, 2, 3, 4, 5};
  const std::vector<std::uint32_t> no_strikes(6, 0);
  CHECK(fetch_order(placement, 4, no_strikes, {}) == std::vector<std::uint32_t>{0, 1, 2, 3, 4, 5});
  // Shards 0 and 1 far away (level 0), parity 4 and 5 near (level 2).
  const std::vector<std::int64_t> rtt{90'000, 70'000, 300, 500, 200, 15'000};
  CHECK(fetch_order(placement, 4, no_strikes, rtt) == std::vector<std::uint32_t>{2, 3, 4, 5, 1, 0});
  // Inside level 2, data before parity although parity 4 answered faster.
  CHECK(nearness_level(300) == 2);
  CHECK(nearness_level(20'000) == 1);
  CHECK(nearness_level(60'000) == 0);
  CHECK(nearness_level(-1) == -1);
  // An unmeasured provider after every measured level; a struck one after all.
  const std::vector<std::int64_t> partly{-1, 100, 100, 100, 100, 100};
  std::vector<std::uint32_t> strikes(6, 0);
  strikes[2] = 1;
  CHECK(fetch_order(placement, 4, strikes, partly) == std::vector<std::uint32_t>{1, 3, 4, 5, 0, 2});
}
