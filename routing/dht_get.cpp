// DhtNode gets: the get walk over cluster levels (GetOp).
#include <algorithm>

#include "routing/detail/dht_impl.hpp"

namespace bc::routing {

// One get, level by level innermost first: a FIND_VALUE lookup per level
// (kLookingUp) until a plain get finds values, or, for a fresh get, until
// every level was asked; then kDone with each owner's newest record. Owned
// by its lookup's on_done, like PutOp.
class GetOp : public std::enable_shared_from_this<GetOp> {
 public:
  enum class State { kIdle, kLookingUp, kDone };

  GetOp(DhtNode::Impl& node, const Key& key, std::vector<int> levels, bool fresh,
        DhtNode::GetCallback done)
      : node_(node), key_(key), levels_(std::move(levels)), fresh_(fresh), done_(std::move(done)) {
    BC_ASSERT(!levels_.empty());
  }

  // Records we hold ourselves count as found at the innermost level.
  void add_local(const std::vector<Record>& local) {
    for (const auto& r : local) keep_newest(newest_, r);
    if (!local.empty()) level_found_ = levels_.front();
  }

  void start_level() {
    BC_ASSERT(state_ != State::kDone);
    if (next_ >= levels_.size()) {
      finish();
      return;
    }
    state_ = State::kLookingUp;
    const int level = levels_[next_++];
    auto self = shared_from_this();
    auto op = node_.start_lookup(LookupOp::Purpose::kGet, key_, level, 0,
                                 [self, level](LookupOp& op) { self->on_lookup_done(op, level); });
    if (op) op->exhaustive = fresh_;  // answers arrive later than this: set in time
  }

 private:
  void on_lookup_done(LookupOp& op, int level) {
    BC_ASSERT(state_ == State::kLookingUp);
    hops_ = std::max(hops_, op.lk.hops());
    for (auto& [owner, r] : op.found) keep_newest(newest_, r);
    if (!op.found.empty() && level_found_ < 0) level_found_ = level;
    // A plain get ends at the first level with values; a fresh one asks every level.
    if (!op.found.empty() && !fresh_) {
      finish();
      return;
    }
    start_level();
  }

  void finish() {
    state_ = State::kDone;
    GetResult res;
    res.status = Status::success();
    res.hops = hops_;
    res.level = level_found_;
    for (auto& [owner, r] : newest_) {
      if (!node_.superseded_own(r)) res.values.push_back(r);
    }
    node_.complete(std::move(done_), std::move(res));
  }

  DhtNode::Impl& node_;
  Key key_;
  std::vector<int> levels_;
  bool fresh_;
  DhtNode::GetCallback done_;
  State state_ = State::kIdle;
  std::size_t next_ = 0;
  int hops_ = 0;
  int level_found_ = -1;  // innermost level that had values
  std::map<XOnlyPubKey, Record> newest_;
};

void DhtNode::Impl::start_get(const Key& k, GetCallback done, bool fresh) {
  auto levels = lookup_levels();
  // We may be one of the key's storage nodes ourselves.
  auto local = local_records(k);
  if (!local.empty() && !fresh) {
    GetResult res;
    res.status = Status::success();
    res.level = levels.front();
    res.values = std::move(local);
    complete(std::move(done), std::move(res));
    return;
  }
  auto op = std::make_shared<GetOp>(*this, k, std::move(levels), fresh, std::move(done));
  op->add_local(local);
  op->start_level();
}

}  // namespace bc::routing
