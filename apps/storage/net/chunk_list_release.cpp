#include "apps/storage/net/chunk_list_release.hpp"

#include <spdlog/spdlog.h>

#include "apps/storage/net/local_rpc.hpp"

namespace bc::storage {
namespace {
std::string text_of(const boost::json::object& o, const char* key) {
  const auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string("?");
}
}  // namespace

ListJudgement judge_chunk_list(const boost::json::array& offers, TimeMs committed_at, TimeMs now) {
  for (const auto& v : offers) {
    const auto* o = v.if_object();
    if (!o) return {false, "the ledger's answer is not a list of offers"};
    const std::string status = text_of(*o, "status");
    if (status == "active") return {false, "offer " + text_of(*o, "offer_id") + " is active"};
    if (status == "withdrawn" && o->contains("bond_release_at"))
      return {false, "offer " + text_of(*o, "offer_id") + " is withdrawn; its bond waits until height " +
                         boost::json::serialize(o->at("bond_release_at"))};
  }
  if (!offers.empty()) return {true, "every offer that committed to it has ended"};
  if (now - committed_at >= kUnofferedListGraceMs) return {true, "no offer committed to it within an hour"};
  return {false, "no offer names it yet"};
}

ChunkListReleaser::ChunkListReleaser(const node::RpcRegistry& rpc, Release release)
    : rpc_(rpc), release_(std::move(release)) {}

void ChunkListReleaser::step(TimeMs now) {
  if (now < next_step_ || lists_.empty() || !rpc_.contains("list_offers")) return;
  next_step_ = now + kPeriodMs;
  std::weak_ptr<bool> alive = alive_;
  std::vector<Hash256> roots;  // an answer may come at once and release its list
  for (const auto& [root, at] : lists_) roots.push_back(root);
  for (const Hash256& root : roots)
    call_local_rpc(rpc_, "list_offers", {{"storage_root", root.hex()}},
                   [this, alive, root, now](std::optional<boost::json::value> v, const std::string& why) {
                     if (!alive.lock()) return;
                     if (!v) return spdlog::warn("storage: cannot ask the ledger about chunk list {}: {}", root.hex(), why);
                     judge(root, *v, now);
                   });
}

void ChunkListReleaser::judge(const Hash256& root, const boost::json::value& answer, TimeMs now) {
  auto it = lists_.find(root);
  if (it == lists_.end()) return;
  const auto* o = answer.if_object();
  const auto* offers = o ? o->if_contains("offers") : nullptr;
  if (!offers || !offers->is_array()) return spdlog::warn("storage: the ledger's list_offers answer has no offers");
  const ListJudgement j = judge_chunk_list(offers->as_array(), it->second, now);
  if (!j.release) return;
  lists_.erase(it);
  release_(root, j.why);
}

}  // namespace bc::storage
