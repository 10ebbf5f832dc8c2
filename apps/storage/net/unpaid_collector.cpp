#include "apps/storage/net/unpaid_collector.hpp"

#include <spdlog/spdlog.h>

#include "apps/storage/net/local_rpc.hpp"
#include "apps/storage/payment.hpp"
#include "layers/assert.hpp"
#include "layers/ids.hpp"

namespace bc::storage {
namespace {
constexpr std::size_t kPerStep = 16;

// The escrow as `get_escrow` describes it; nullopt when the answer is not one.
std::optional<EscrowOnChain> escrow_from_json(const boost::json::value& v) {
  const auto* o = v.if_object();
  if (!o || !o->contains("provider") || !o->contains("deposited")) return std::nullopt;
  const auto* provider = o->at("provider").if_string();
  const auto* deposited = o->at("deposited").if_string();
  if (!provider || !deposited) return std::nullopt;
  auto address = id_from_text('a', std::string_view(*provider));
  if (!address) return std::nullopt;
  try {
    return EscrowOnChain{*address, std::stoull(std::string(*deposited))};
  } catch (const std::exception&) {
    return std::nullopt;
  }
}
}  // namespace

UnpaidCollector::UnpaidCollector(const node::RpcRegistry& rpc, ProviderService& provider, const Hash256& account,
                                 TimeMs grace_ms)
    : rpc_(rpc), provider_(provider), account_(account), grace_ms_(grace_ms) {
  BC_ASSERT(grace_ms_ > 0);
}

void UnpaidCollector::step(TimeMs now) {
  if (busy_) return;
  if (!rpc_.contains("get_escrow")) return void(++stats_.no_ledger);
  auto skip = [this](const Hash256& escrow, std::uint64_t bytes) {
    auto it = judged_bytes_.find(escrow);
    return it != judged_bytes_.end() && it->second >= bytes;
  };
  const auto due = provider_.store().holdings_due(now - grace_ms_, kPerStep, skip);
  if (due.empty()) return;
  busy_ = true;
  auto left = std::make_shared<std::size_t>(due.size());
  std::weak_ptr<bool> alive = alive_;
  for (const Holding& h : due) {
    if (h.escrow.is_zero()) {  // the puts named no escrow: nothing can pay for them
      judge(h, std::nullopt, left);
      continue;
    }
    call_local_rpc(rpc_, "get_escrow", {{"id", h.escrow.hex()}},
                   [this, alive, h, left](std::optional<boost::json::value> v, const std::string&) {
                     if (!alive.lock()) return;
                     // No answer: the ledger has no such escrow (never opened, or closed).
                     judge(h, v ? escrow_from_json(*v) : std::nullopt, left);
                   });
  }
}

void UnpaidCollector::judge(const Holding& h, const std::optional<EscrowOnChain>& chain,
                            const std::shared_ptr<std::size_t>& left) {
  if (--*left == 0) busy_ = false;
  if (escrow_pays_for(h, chain, account_)) {
    judged_bytes_[h.escrow] = h.bytes;
    ++stats_.escrows_paid;
    return;
  }
  ++stats_.escrows_unpaid;
  judged_bytes_.erase(h.escrow);
  // Committed shards stay: their holding is judged again only when it grows.
  std::vector<ShardId> unpinned;
  for (const ShardId& id : h.shards)
    if (!provider_.store().pins().contains(id)) unpinned.push_back(id);
  const std::size_t kept = h.shards.size() - unpinned.size();
  if (kept > 0) judged_bytes_[h.escrow] = h.bytes;
  stats_.shards_kept += kept;
  spdlog::info("storage: dropping {} unpaid shard(s) of {} bytes, keeping {} a storage offer commits to: {}",
               unpinned.size(), h.bytes, kept,
               h.escrow.is_zero() ? std::string("their puts named no escrow")
                                  : "escrow " + h.escrow.hex() + (chain ? " does not cover them" : " is not on chain"));
  std::weak_ptr<bool> alive = alive_;
  provider_.drop_unpaid(unpinned, h.escrow, [this, alive](std::size_t n) {
    if (alive.lock()) stats_.shards_dropped += n;
  });
}

}  // namespace bc::storage
