// LedgerNode's block sync and production: the sync core's inputs on the io
// thread, the blocks and txs it asks for committed or admitted on the ledger
// thread, the single producer's slots and the committee's commits announced.
#include <chrono>

#include <spdlog/spdlog.h>

#include "apps/daemon/detail/ledger_node_impl.hpp"

namespace bc::apps {
using namespace bc::ledger;

namespace {
constexpr TimeMs kSettleMs = SyncOptions{}.hello_timeout_ms;  // the producer's start-up window
}  // namespace

// ---- ledger thread ----

// The committee committed `height`; sync announces it with its certificate.
void LedgerNode::Impl::on_bft_committed(std::uint64_t height) {
  catch_up_index();
  if (miner) miner->on_committed(AsioUdpDriver::now_ms());
  auto bytes = ledger->block_at(height);
  auto cert = ledger->certificate_bytes_at(height);
  if (!bytes || !cert) return;
  post_io([this, bytes = std::move(*bytes), cert = std::move(*cert)] {
    input([&](TimeMs now, Outbox& out) { sync->announce_block(bytes, now, out, cert); });
  });
}

void LedgerNode::Impl::after_commit(const BlockHeader& h, TimeMs now) {
  mempool.prune(ledger->state());
  if (producer) producer->on_committed(h, now);
  catch_up_index();
}

void LedgerNode::Impl::catch_up_index() {
  if (auto s = index->catch_up(*ledger); !s.ok()) spdlog::warn("tx index: {}", s.text());
}

Status LedgerNode::Impl::commit_received(const ApplyBlock& req, TimeMs now) {
  auto s = apply_sync_block(*ledger, req);
  if (!s.ok()) return s;
  auto shell = decode_block_shell(req.bytes, ledger->params());
  if (shell.ok()) after_commit(shell->header, now);
  if (miner) miner->on_committed(now);
  if (bft) bft->on_synced();
  join_committee_if_member();
  return s;
}

// Commits a block sync asks for and answers the core. A validator whose
// committee is deciding that very height first gives it kCommitteeGraceMs:
// a peer's announcement (NewBlock) often outruns the last precommits here
// by a few ms, and committing it through sync would execute the block a
// second time (the committee's own commit reuses its validation) and
// restart the core, which loses the next height's messages it holds until
// their senders' gossip brings them again. A height committed meanwhile is
// answered without decoding the block (sync counts it superseded).
void LedgerNode::Impl::serve_apply(ApplyBlock req, bool may_wait) {
  if (may_wait && req.check_time && bft && bft->deciding(req.height)) {
    auto timer = std::make_shared<boost::asio::steady_timer>(ledger_io, std::chrono::milliseconds(kCommitteeGraceMs));
    timer->async_wait([this, timer, req = std::move(req)](const boost::system::error_code&) mutable {
      serve_apply(std::move(req), /*may_wait=*/false);
    });
    return;
  }
  Status s = req.height <= ledger->head().height
                 ? fail(Error::kBadHeight, "block " + std::to_string(req.height) + ": this node committed that height already")
                 : commit_received(req, AsioUdpDriver::now_ms());
  post_io([this, s = std::move(s)] {
    input([&](TimeMs now, Outbox& out) { sync->handle_block_applied(s, now, out); });
  });
}

// Builds, commits and returns the node's own block when its slot has come.
std::optional<Bytes> LedgerNode::Impl::produce_on_ledger(TimeMs now) {
  auto made = produce_block(*ledger, mempool, *producer, now);
  if (!made.ok()) {
    spdlog::error("{}", made.status().text());
    return std::nullopt;
  }
  if (!*made) return std::nullopt;
  m_produced.inc();
  for (const auto& [id, why] : (*made)->dropped) remember_drop(id, why);
  catch_up_index();
  return std::move((*made)->bytes);
}

// A tx our producer or our committee proposal refused (it left the mempool).
void LedgerNode::Impl::remember_drop(const Hash256& id, const Status& why) {
  if (!drops.emplace(id, why.text()).second) return;
  drop_order.push_back(id);
  if (drop_order.size() > kRememberedDrops) {
    drops.erase(drop_order.front());
    drop_order.pop_front();
  }
}

// ---- io thread ----

void LedgerNode::Impl::after_input(TimeMs now, Outbox& out) {
  maybe_produce(now);
  for (auto& f : out.frames) net->send(f.to, std::move(f.payload));
  for (PeerId p : out.disconnects) net->close(p);
  while (auto event = sync->poll_event()) dispatch(std::move(*event));
  arm(now);
}

void LedgerNode::Impl::dispatch(SyncEvent event) {
  if (auto* apply = std::get_if<ApplyBlock>(&event)) {
    post_ledger([this, req = std::move(*apply)]() mutable { serve_apply(std::move(req), /*may_wait=*/true); });
    return;
  }
  // A relayed batch: its signatures on the workers, then the mempool on the
  // ledger thread in one hop, and the admitted ones back to the core in one.
  auto& admit = std::get<AdmitTxs>(event);
  checks->check_txs(std::move(admit.txs), [this, from = admit.from](std::vector<Tx> passed) {
    if (passed.empty()) return;
    post_ledger([this, from, passed = std::move(passed)]() mutable {
      std::vector<Tx> admitted;
      for (Tx& tx : passed)
        if (mempool.add(tx, *ledger).ok()) admitted.push_back(std::move(tx));
      if (admitted.empty()) return;
      post_io([this, admitted = std::move(admitted), from] {
        input([&](TimeMs now, Outbox& out) { sync->handle_txs_admitted(admitted, from, now, out); });
      });
    });
  });
}

// A producer makes its block on the ledger thread when its slot has come and
// nothing from peers waits to be committed (SyncCore::producer_may_build).
// A peer's claim of a higher head never holds it: a single producer is the
// source of its chain, and sync fetches what peers really serve beside it.
bool LedgerNode::Impl::can_produce(TimeMs now) const {
  return producer && !producing && sync->producer_may_build(started_at, now);
}

void LedgerNode::Impl::maybe_produce(TimeMs now) {
  if (!can_produce(now) || now < produce_at) return;
  producing = true;
  post_ledger([this, now] {
    std::optional<Bytes> block = produce_on_ledger(now);
    const TimeMs next = producer->next_wakeup();
    post_io([this, block = std::move(block), next] {
      producing = false;
      produce_at = next;
      input([&](TimeMs t, Outbox& out) {
        if (block) sync->announce_block(*block, t, out);
      });
    });
  });
}

// The timer fires at the earliest of: the core's next_wakeup(), the next
// peer discovery and the producer's slot (when it may produce).
void LedgerNode::Impl::arm(TimeMs now) {
  if (stopped) return;
  TimeMs at = std::min(sync->next_wakeup(), next_discovery);
  if (can_produce(now)) at = std::min(at, produce_at);
  // Held only by the start-up window: wake when it closes.
  else if (producer && !producing && !sync->applying())
    at = std::min(at, std::max(produce_at, started_at + kSettleMs));
  if (at == timer_at) return;
  timer_at = at;
  timer.expires_after(std::chrono::milliseconds(std::max<TimeMs>(0, at - now)));
  timer.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
    auto self = weak.lock();
    if (!self || ec || self->stopped) return;
    self->timer_at = kNever;
    self->input([&](TimeMs now, Outbox& out) {
      self->discover(now);
      self->sync->on_tick(now, out);
    });
  });
}

}  // namespace bc::apps
