// storage::ChunkListReleaser: frees the shards of storage offers that ended
// (docs/storage.md "Committed shards"). A chunk list pins its shards
// (ShardPins) while an audit could still ask for them; once a minute the
// releaser asks this node's ledger which offers name each list's root
// (`list_offers {storage_root}`, in process) and hands back the lists
// judge_chunk_list lets go. A node without a ledger releases nothing.
//
// Threads: io thread only. The registry must outlive it.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <string>

#include <boost/json.hpp>

#include "apps/storage/format.hpp"
#include "layers/node/rpc_registry.hpp"
#include "layers/runtime.hpp"

namespace bc::storage {

// A list no offer names this long after it was committed (or loaded at
// start) is released: the offer it was made for was never registered.
inline constexpr TimeMs kUnofferedListGraceMs = 60 * 60 * 1000;

struct ListJudgement {
  bool release = false;
  std::string why;
};
// `offers`: list_offers' entries for the list's root. Kept while one is
// active or withdrawn with its bond still waiting (slashable: the epochs it
// was active in may not be settled yet); released once every one ended, or
// when none names it kUnofferedListGraceMs after `committed_at`.
ListJudgement judge_chunk_list(const boost::json::array& offers, TimeMs committed_at, TimeMs now);

class ChunkListReleaser {
 public:
  using Release = std::function<void(const Hash256& root, const std::string& why)>;
  ChunkListReleaser(const node::RpcRegistry& rpc, Release release);
  ~ChunkListReleaser() { *alive_ = false; }
  ChunkListReleaser(const ChunkListReleaser&) = delete;
  ChunkListReleaser& operator=(const ChunkListReleaser&) = delete;

  // A list now served, committed (or loaded) at `at`.
  void track(const Hash256& root, TimeMs at) { lists_.emplace(root, at); }
  // Judges every tracked list, at most once per kPeriodMs.
  void step(TimeMs now);
  std::size_t tracked() const { return lists_.size(); }
  static constexpr TimeMs kPeriodMs = 60'000;

 private:
  void judge(const Hash256& root, const boost::json::value& answer, TimeMs now);

  const node::RpcRegistry& rpc_;
  Release release_;
  std::map<Hash256, TimeMs> lists_;  // root -> committed at
  TimeMs next_step_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace bc::storage
