// Routing table: bucket placement, LRU order, full buckets and replacement
// cache, eviction after repeated failures, closest-first queries.
#include <doctest/doctest.h>

#include <algorithm>
#include <map>

#include "routing/detail/routing_table.hpp"

using namespace bc;
using namespace bc::routing;

namespace {

// An id sharing exactly `prefix` leading bits with `self`, varied by `salt`.
NodeId id_in_bucket(const NodeId& self, int prefix, std::uint8_t salt) {
  NodeId id = self;
  int byte = prefix / 8;
  id.bytes[byte] ^= static_cast<std::uint8_t>(0x80u >> (prefix % 8));
  id.bytes[31] ^= salt;  // low bits only: prefix < 248 in these tests
  return id;
}

Endpoint ep(int i) { return Endpoint::v4(0x7f000001u + static_cast<std::uint32_t>(i), 4000); }

}  // namespace

TEST_CASE("contacts land in the bucket of their shared prefix") {
  NodeId self;
  self.bytes.fill(0x5a);
  RoutingTable t(self, 4);
  CHECK(t.observe(self, ep(0), 1).outcome == RoutingTable::Observed::kSelf);
  for (int p : {0, 1, 7, 100, 200}) {
    NodeId id = id_in_bucket(self, p, 1);
    CHECK(t.bucket_of(id) == p);
    CHECK(t.observe(id, ep(p), 1).outcome == RoutingTable::Observed::kAdded);
    CHECK(t.bucket_size(p) == 1);
  }
  CHECK(t.size() == 5);
  CHECK(t.bucket_of(self) == -1);
}

TEST_CASE("a full bucket keeps LRU order and fills the replacement cache") {
  NodeId self{};
  RoutingTable t(self, 3);
  std::vector<NodeId> ids;
  for (std::uint8_t i = 1; i <= 3; ++i) {
    ids.push_back(id_in_bucket(self, 10, i));
    CHECK(t.observe(ids.back(), ep(i), i).outcome == RoutingTable::Observed::kAdded);
  }
  // Seeing the first again makes it most recent; the LRU is now the second.
  CHECK(t.observe(ids[0], ep(1), 10).outcome == RoutingTable::Observed::kUpdated);
  NodeId extra = id_in_bucket(self, 10, 9);
  auto r = t.observe(extra, ep(9), 11);
  CHECK(r.outcome == RoutingTable::Observed::kBucketFull);
  REQUIRE(r.lru.has_value());
  CHECK(r.lru->id == ids[1]);
  CHECK(t.size() == 3);
  CHECK(t.replacements() == 1);
  CHECK_FALSE(t.contains(extra));

  SUBCASE("the LRU entry is evicted only after repeated failures") {
    CHECK_FALSE(t.fail(ids[1], 3));
    CHECK_FALSE(t.fail(ids[1], 3));
    CHECK(t.fail(ids[1], 3));
    CHECK_FALSE(t.contains(ids[1]));
    CHECK(t.contains(extra));  // promoted from the replacement cache
    CHECK(t.size() == 3);
    CHECK(t.replacements() == 0);
  }
  SUBCASE("an answer resets the failure count") {
    CHECK_FALSE(t.fail(ids[1], 2));
    t.observe(ids[1], ep(2), 12);
    CHECK_FALSE(t.fail(ids[1], 2));
    CHECK(t.contains(ids[1]));
  }
  SUBCASE("replacement cache is bounded by k") {
    for (std::uint8_t i = 20; i < 30; ++i) t.observe(id_in_bucket(self, 10, i), ep(i), 20);
    CHECK(t.replacements() == 3);
  }
  SUBCASE("would_keep: room in the bucket or spares, or a stale spare to push out") {
    NodeId other = id_in_bucket(self, 11, 40);  // a bucket still empty
    CHECK(t.would_keep(other, 0));
    CHECK(t.would_keep(id_in_bucket(self, 10, 41), 0));  // 1 of 3 spares used
    for (std::uint8_t i = 20; i < 23; ++i) t.observe(id_in_bucket(self, 10, i), ep(i), 20);
    REQUIRE(t.replacements() == 3);
    NodeId late = id_in_bucket(self, 10, 42);
    CHECK_FALSE(t.would_keep(late, 20));  // every spare seen at 20 or later
    CHECK(t.would_keep(late, 21));        // the oldest spare is stale
    CHECK_FALSE(t.would_keep(self, 1000));
  }
}

TEST_CASE("closest returns entries by XOR distance") {
  NodeId self{};
  RoutingTable t(self, 8);
  Rng rng(7);
  std::vector<NodeId> ids;
  for (int i = 0; i < 200; ++i) {
    NodeId id;
    rng.fill({id.data(), id.size()});
    ids.push_back(id);
    t.observe(id, ep(i), 1);
  }
  NodeId target;
  rng.fill({target.data(), target.size()});
  auto got = t.closest(target, 5);
  REQUIRE(got.size() == 5);
  std::vector<NodeId> in_table;
  for (const auto& e : t.all()) in_table.push_back(e.id);
  std::sort(in_table.begin(), in_table.end(),
            [&](const NodeId& a, const NodeId& b) { return (a ^ target) < (b ^ target); });
  for (int i = 0; i < 5; ++i) CHECK(got[i].id == in_table[i]);
  // With random ids most land in the first buckets; k bounds each bucket.
  CHECK(t.bucket_size(0) == 8);
  CHECK(t.size() < 200);
}

TEST_CASE("random ids for refresh fall in the asked bucket; stale buckets are reported") {
  NodeId self;
  self.bytes.fill(0xc3);
  RoutingTable t(self, 8);
  Rng rng(1);
  for (int b : {0, 5, 63, 130}) CHECK(t.bucket_of(t.random_id_in(b, rng)) == b);
  t.observe(id_in_bucket(self, 3, 1), ep(1), 1000);
  auto stale = t.stale_buckets(1000 + 600000, 600000);
  CHECK(stale.size() == 4);  // buckets 0..3
  t.touch_bucket(0, 600000);
  stale = t.stale_buckets(1000 + 600000, 600000);
  CHECK(std::find(stale.begin(), stale.end(), 0) == stale.end());
  CHECK(t.remove(id_in_bucket(self, 3, 1)));
  CHECK(t.size() == 0);
}

TEST_CASE("the neighbourhood bucket holds the k-th closest entry") {
  NodeId self;
  self.bytes.fill(0x3c);
  RoutingTable t(self, 4);
  CHECK(t.neighbourhood_bucket() == -1);  // empty
  t.observe(id_in_bucket(self, 20, 1), ep(1), 1);
  t.observe(id_in_bucket(self, 12, 1), ep(2), 1);
  t.observe(id_in_bucket(self, 12, 2), ep(3), 1);
  CHECK(t.neighbourhood_bucket() == -1);  // 3 entries, k = 4
  t.observe(id_in_bucket(self, 9, 1), ep(4), 1);
  CHECK(t.neighbourhood_bucket() == 9);   // 20, 12, 12, then the 4th in bucket 9
  t.observe(id_in_bucket(self, 12, 3), ep(5), 1);
  CHECK(t.neighbourhood_bucket() == 12);  // now 4 entries in buckets >= 12
  for (std::uint8_t s = 1; s <= 4; ++s) t.observe(id_in_bucket(self, 2, s), ep(10 + s), 1);
  CHECK(t.neighbourhood_bucket() == 12);  // farther entries change nothing
}

// ---- Lookup state (routing/detail/lookup.hpp), driven synchronously ----
#include "routing/detail/lookup.hpp"

namespace {

struct Synthetic {
  std::vector<NodeId> ids;
  explicit Synthetic(int n, std::uint64_t seed) {
    Rng rng(seed);
    for (int i = 0; i < n; ++i) {
      NodeId id;
      rng.fill({id.data(), id.size()});
      ids.push_back(id);
    }
  }
  std::vector<NodeId> closest(const Hash256& t, std::size_t n) const {
    auto v = ids;
    std::sort(v.begin(), v.end(), [&](const NodeId& a, const NodeId& b) { return (a ^ t) < (b ^ t); });
    v.resize(std::min(n, v.size()));
    return v;
  }
  // What node `who` would answer from a complete Kademlia table (up to 8
  // nodes per shared-prefix bucket): the 8 closest to target it knows.
  std::vector<WireContact> answer(const NodeId& who, const Hash256& target) const {
    std::map<int, int> per_bucket;
    std::vector<NodeId> known;
    for (const auto& id : ids) {
      if (id == who) continue;
      if (per_bucket[common_prefix_bits(who, id)]++ < 8) known.push_back(id);
    }
    std::sort(known.begin(), known.end(),
              [&](const NodeId& a, const NodeId& b) { return (a ^ target) < (b ^ target); });
    std::vector<WireContact> out;
    for (std::size_t i = 0; i < known.size() && i < 8; ++i) out.push_back({known[i], ep(0)});
    return out;
  }
};

}  // namespace

TEST_CASE("lookup converges on the true closest nodes with at most alpha in flight") {
  Synthetic net(500, 3);
  Rng rng(4);
  for (int trial = 0; trial < 20; ++trial) {
    NodeId target;
    rng.fill({target.data(), target.size()});
    NodeId self = net.ids[static_cast<std::size_t>(trial)];
    Lookup lk(target, 14, 8, 4);
    for (int i = 0; i < 3; ++i) lk.add(net.ids[100 + static_cast<std::size_t>(trial * 3 + i)], ep(0), 1);
    int rounds = 0;
    while (!lk.finished() && rounds < 100) {
      auto batch = lk.next_to_query();
      CHECK(lk.in_flight() <= 4);
      std::vector<NodeId> asked;
      for (auto* c : batch) asked.push_back(c->id);
      for (const auto& id : asked) {
        auto& cands = lk.candidates();
        auto it = std::find_if(cands.begin(), cands.end(), [&](const Candidate& c) { return c.id == id; });
        REQUIRE(it != cands.end());
        lk.on_response(*it, net.answer(id, target), self);
      }
      ++rounds;
    }
    REQUIRE(lk.finished());
    auto want = net.closest(target, 9);
    want.erase(std::remove(want.begin(), want.end(), self), want.end());
    want.resize(8);
    auto got = lk.closest_done(8);
    REQUIRE(got.size() == 8);
    for (std::size_t i = 0; i < 8; ++i) CHECK(got[i]->id == want[i]);
    CHECK(lk.hops() >= 1);
  }
}

TEST_CASE("lookup: failures are skipped, stop() ends it once in-flight requests settle") {
  NodeId target{};
  Lookup lk(target, 4, 2, 2);
  for (std::uint8_t i = 1; i <= 6; ++i) {
    NodeId id{};
    id.bytes[31] = i;
    lk.add(id, ep(i), 1);
  }
  CHECK(lk.candidates().size() == 4);  // width bounds the tracked set
  auto first = lk.next_to_query();
  REQUIRE(first.size() == 2);
  NodeId a = first[0]->id, b = first[1]->id;
  auto find = [&](const NodeId& id) -> Candidate& {
    return *std::find_if(lk.candidates().begin(), lk.candidates().end(),
                         [&](const Candidate& c) { return c.id == id; });
  };
  lk.on_failure(find(a));
  CHECK(lk.in_flight() == 1);
  auto next = lk.next_to_query();
  REQUIRE(next.size() == 1);
  lk.stop();
  CHECK_FALSE(lk.finished());  // still waiting for two answers
  CHECK(lk.next_to_query().empty());
  lk.on_response(find(b), {}, NodeId{});
  lk.on_failure(find(next[0]->id));
  CHECK(lk.finished());
  CHECK(lk.closest_done(5).size() == 1);
}
