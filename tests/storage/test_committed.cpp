// Committed shards (docs/storage.md "Committed shards"): when a chunk list
// may be released, judged from the offers the ledger shows on its root, and
// the releaser asking the node's ledger over its RPC registry.
#include <doctest/doctest.h>

#include <map>

#include "apps/storage/net/chunk_list_release.hpp"
#include "layers/crypto.hpp"
#include "layers/node/params.hpp"

using namespace bc;
using namespace bc::storage;
namespace json = boost::json;

namespace {

json::object offer(const char* id, const char* status) { return json::object{{"offer_id", id}, {"status", status}}; }

json::object unbonding(const char* id, std::uint64_t release_at) {
  json::object o = offer(id, "withdrawn");
  o["bond_release_at"] = release_at;
  return o;
}

}  // namespace

TEST_CASE("committed shards: a list stays pinned while an offer on it is active or its bond still waits") {
  constexpr TimeMs t0 = 1'000'000;
  CHECK_FALSE(judge_chunk_list(json::array{offer("a", "active")}, t0, t0 + kUnofferedListGraceMs * 10).release);
  const ListJudgement waiting = judge_chunk_list(json::array{offer("a", "banned"), unbonding("b", 77)}, t0, t0);
  CHECK_FALSE(waiting.release);
  CHECK(waiting.why.find("height 77") != std::string::npos);
  CHECK(judge_chunk_list(json::array{offer("a", "withdrawn"), offer("b", "banned")}, t0, t0).release);
  // None names it: an offer may still be on its way, for an hour.
  CHECK_FALSE(judge_chunk_list(json::array{}, t0, t0 + kUnofferedListGraceMs - 1).release);
  CHECK(judge_chunk_list(json::array{}, t0, t0 + kUnofferedListGraceMs).release);
  CHECK_FALSE(judge_chunk_list(json::array{json::value(3)}, t0, t0 + kUnofferedListGraceMs).release);  // not offers
}

TEST_CASE("committed shards: the releaser asks the ledger about each list once a period and releases the ended ones") {
  const Hash256 live = sha256(as_bytes("live")), ended = sha256(as_bytes("ended")), fresh = sha256(as_bytes("fresh"));
  std::map<std::string, json::array> on_chain{{live.hex(), {offer("o1", "active")}}, {ended.hex(), {offer("o2", "withdrawn")}}};
  node::RpcRegistry rpc;
  std::size_t asked = 0;
  std::vector<Hash256> released;
  ChunkListReleaser releaser(rpc, [&](const Hash256& root, const std::string&) { released.push_back(root); });
  releaser.track(live, 0);
  releaser.track(ended, 0);
  releaser.track(fresh, 0);
  releaser.step(1'000);
  CHECK(released.empty());  // a node without a ledger (no list_offers) releases nothing
  rpc.add("list_offers", [&](const node::Params& p) {
    ++asked;
    auto root = p.opt_string("storage_root", "a root");
    REQUIRE(root.has_value());
    return json::value(json::object{{"offers", on_chain[*root]}});
  });
  releaser.step(2'000);
  CHECK(asked == 3);
  CHECK(released == std::vector<Hash256>{ended});
  CHECK(releaser.tracked() == 2);
  releaser.step(2'000 + ChunkListReleaser::kPeriodMs - 1);
  CHECK(asked == 3);  // once a period
  on_chain[live.hex()] = json::array{unbonding("o1", 500)};
  releaser.step(2'000 + kUnofferedListGraceMs);
  CHECK(released == std::vector<Hash256>{ended, fresh});  // live's bond still waits
  on_chain[live.hex()] = json::array{offer("o1", "withdrawn")};
  releaser.step(2'000 + kUnofferedListGraceMs + ChunkListReleaser::kPeriodMs);
  CHECK(released == std::vector<Hash256>{ended, fresh, live});
  CHECK(releaser.tracked() == 0);
}
