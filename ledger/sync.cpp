#include "ledger/sync.hpp"

#include <algorithm>
#include <tuple>

#include "layers/assert.hpp"
#include "ledger/ledger.hpp"
#include "ledger/mempool.hpp"

namespace bc::ledger {
namespace {
// Kind 5 (NewTx, one tx per frame) is retired: NewTxs carries them in batches.
enum Kind : std::uint8_t { kHello = 1, kNewBlock = 2, kGetBlocks = 3, kBlocks = 4, kNewTxs = 6 };
}  // namespace

Bytes sync_hello(const Hash256& genesis, std::uint64_t height, const Hash256& head, std::uint64_t nonce) {
  Bytes b{kHello};
  b.insert(b.end(), genesis.bytes.begin(), genesis.bytes.end());
  append_be64(b, height);
  b.insert(b.end(), head.bytes.begin(), head.bytes.end());
  if (nonce != 0) append_be64(b, nonce);
  return b;
}
Bytes sync_new_block(ByteView block, ByteView certificate) {
  Bytes b{kNewBlock};
  append_be32(b, static_cast<std::uint32_t>(block.size()));
  b.insert(b.end(), block.begin(), block.end());
  b.insert(b.end(), certificate.begin(), certificate.end());
  return b;
}
Bytes sync_get_blocks(std::uint64_t from, std::uint32_t max) {
  Bytes b{kGetBlocks};
  append_be64(b, from);
  append_be32(b, max);
  return b;
}
Bytes sync_new_txs(std::span<const ByteView> txs) {
  Bytes b{kNewTxs};
  append_tx_batch(b, txs);
  return b;
}

std::optional<Bytes> LedgerBlocks::block_at(std::uint64_t height) const { return ledger_.block_at(height); }
std::optional<Bytes> LedgerBlocks::certificate_at(std::uint64_t height) const { return ledger_.certificate_bytes_at(height); }

Status apply_sync_block(Ledger& ledger, const ApplyBlock& req) {
  if (req.certificate.empty()) return ledger.apply_block(req.bytes, nullptr, req.check_time);
  auto cert = decode_certificate(req.certificate);
  if (!cert.ok()) return cert.status();
  return ledger.apply_block(req.bytes, &*cert, req.check_time);
}

SyncCore::SyncCore(const ChainParams& params, const Hash256& genesis_hash, ChainTip head, const BlockSource& blocks,
                   SyncOptions options)
    : params_(params), genesis_hash_(genesis_hash), head_(head), blocks_(blocks), opt_(options), tx_window_(options.tx_window) {
  // Our own full batch (the window's bounds, overshot by one tx at most) must pass a peer's decoder.
  BC_ASSERT(opt_.tx_window.max_txs <= opt_.tx_batch.max_txs);
  BC_ASSERT(opt_.tx_window.max_bytes + 4 + params_.max_tx_bytes <= opt_.tx_batch.max_bytes);
}

Bytes SyncCore::hello_msg() const { return sync_hello(genesis_hash_, head_.height, head_.hash, opt_.node_nonce); }

TimeMs SyncCore::next_wakeup() const {
  TimeMs at = std::min(next_tick_, tx_window_.due());
  if (inflight_peer_) at = std::min(at, inflight_since_ + opt_.request_timeout_ms);
  for (const auto& [id, q] : peers_)
    at = std::min(at, q.last_heard + (q.hello ? opt_.idle_timeout_ms : opt_.hello_timeout_ms));
  return at;
}

bool SyncCore::banned(const Endpoint& remote, TimeMs now) const {
  auto it = bans_.find(remote.ip);
  return it != bans_.end() && now < it->second.until;
}

bool SyncCore::producer_may_build(TimeMs started, TimeMs now) const {
  if (applying()) return false;
  const bool settling = now < started + opt_.hello_timeout_ms;
  return !settling || (heard_hello_ && !requesting());
}

void SyncCore::on_peer_up(PeerId peer, const Endpoint& remote, bool outbound, TimeMs now, Outbox& out) {
  if (banned(remote, now)) {
    ++stats_.refused_banned;
    out.disconnect(peer);
    return;
  }
  peers_[peer] = Peer{.remote = remote, .outbound = outbound, .last_heard = now};
  out.send_frame(peer, hello_msg());
}

void SyncCore::on_peer_down(PeerId peer, TimeMs, Outbox&) {
  peers_.erase(peer);
  if (inflight_peer_ == peer) inflight_peer_.reset();
}

void SyncCore::forget(PeerId p, Outbox& out) {
  out.disconnect(p);
  peers_.erase(p);
  if (inflight_peer_ == p) inflight_peer_.reset();
}

void SyncCore::bad_peer(PeerId p, Outbox& out) {
  ++stats_.malformed;
  forget(p, out);
}

// Drops the peer and bans its address: distrust_ms for a first fault, doubled
// for each further one while the address is remembered, capped at max_ban_ms.
void SyncCore::fault(PeerId p, std::uint64_t& counter, TimeMs now, Outbox& out) {
  auto it = peers_.find(p);
  BC_ASSERT(it != peers_.end());
  ++counter;
  Ban& ban = bans_[it->second.remote.ip];
  ban.faults = std::min<std::uint32_t>(ban.faults + 1, 32);
  TimeMs length = opt_.distrust_ms;
  for (std::uint32_t i = 1; i < ban.faults && length < opt_.max_ban_ms; ++i) length *= 2;
  ban.until = now + std::min(length, opt_.max_ban_ms);
  forget(p, out);
  prune_bans(now);
}

// A ban is remembered for max_ban_ms after it ends (so repeated faults grow
// it); the table never holds more than max_banned addresses.
void SyncCore::prune_bans(TimeMs now) {
  std::erase_if(bans_, [&](const auto& b) { return now >= b.second.until + opt_.max_ban_ms; });
  while (bans_.size() > opt_.max_banned) {
    auto soonest = bans_.begin();
    for (auto it = bans_.begin(); it != bans_.end(); ++it)
      if (it->second.until < soonest->second.until) soonest = it;
    bans_.erase(soonest);
  }
}

void SyncCore::expire_deadlines(TimeMs now, Outbox& out) {
  if (inflight_peer_ && now - inflight_since_ >= opt_.request_timeout_ms)
    fault(*inflight_peer_, stats_.request_timeouts, now, out);
  std::vector<std::pair<PeerId, bool>> late;  // (peer, had said Hello)
  for (const auto& [id, q] : peers_)
    if (now >= q.last_heard + (q.hello ? opt_.idle_timeout_ms : opt_.hello_timeout_ms)) late.emplace_back(id, q.hello);
  for (const auto& [id, hello] : late) fault(id, hello ? stats_.idle_timeouts : stats_.hello_timeouts, now, out);
}

void SyncCore::on_frame(PeerId peer, ByteView msg, TimeMs now, Outbox& out) {
  auto it = peers_.find(peer);
  if (it == peers_.end()) return;
  if (msg.empty()) return bad_peer(peer, out);
  const ByteView body = msg.subspan(1);
  if (msg[0] != kHello && !it->second.hello) return;  // nothing before the genesis check
  it->second.last_heard = now;  // only frames that count keep the deadlines away
  switch (msg[0]) {
    case kHello: return handle_hello(peer, body, now, out);
    case kNewBlock: return handle_new_block(peer, body, now, out);
    case kGetBlocks: return handle_get_blocks(peer, body, out);
    case kBlocks: return handle_blocks(peer, body, now, out);
    case kNewTxs: return handle_new_txs(peer, body, out);
    default: return bad_peer(peer, out);
  }
}

void SyncCore::handle_hello(PeerId p, ByteView body, TimeMs now, Outbox& out) {
  if (body.size() != 72 && body.size() != 80) return bad_peer(p, out);  // without or with a node nonce
  if (!std::equal(body.begin(), body.begin() + 32, genesis_hash_.bytes.begin())) {
    ++stats_.genesis_mismatch;
    return forget(p, out);
  }
  auto& peer = peers_[p];
  peer.hello = true;
  heard_hello_ = true;
  // A claim only decides whom we ask; a peer that cannot back it is dropped and banned.
  peer.height = be64_load(body.data() + 32);
  std::copy(body.begin() + 40, body.begin() + 72, peer.head.bytes.begin());
  peer.nonce = body.size() == 80 ? be64_load(body.data() + 72) : 0;
  maybe_request(now, out);
}

void SyncCore::enqueue(Pending block) {
  to_apply_.push_back(std::move(block));
  request_next_apply();
}

void SyncCore::request_next_apply() {
  if (apply_asked_ || to_apply_.empty()) return;
  const Pending& p = to_apply_.front();
  events_.push_back(ApplyBlock{p.bytes, p.height, p.check_time, p.certificate});
  apply_asked_ = true;
}

std::optional<SyncEvent> SyncCore::poll_event() {
  if (events_.empty()) return std::nullopt;
  SyncEvent e = std::move(events_.front());
  events_.pop_front();
  return e;
}

void SyncCore::handle_block_applied(const Status& result, TimeMs now, Outbox& out) {
  BC_ASSERT_MSG(apply_asked_ && !to_apply_.empty(), "handle_block_applied without an ApplyBlock outstanding");
  Pending done = std::move(to_apply_.front());
  to_apply_.pop_front();
  apply_asked_ = false;
  if (!result.ok() && done.height <= head_.height) {
    // The node reached this height another way while the block was being
    // applied (its own committee committed it, announce_block): not the
    // serving peer's fault, and what follows may still extend the head.
    ++stats_.blocks_superseded;
  } else if (!result.ok()) {
    ++stats_.blocks_rejected;
    // What follows a refused block cannot extend the head either.
    to_apply_.clear();
    if (batch_) batch_->failed = true;
  } else {
    ++stats_.blocks_applied;
    BC_ASSERT(done.height == head_.height + 1);
    head_ = ChainTip{done.height, done.hash};
    if (done.relay_from) {
      // Pass it on: nodes not connected to the producer hear it from us.
      const Bytes msg = sync_new_block(done.bytes, done.certificate);
      for (const GossipTarget& t : gossip_targets()) {
        bool has = false;  // it came from that node, or the node said it holds the height
        for (PeerId c : t.conns) has = has || c == *done.relay_from || peers_.at(c).height >= done.height;
        if (!has) out.send_frame(t.conn, msg);
      }
    }
  }
  request_next_apply();
  if (to_apply_.empty()) {
    if (batch_) return finish_batch(now, out);
    maybe_request(now, out);
  }
}

void SyncCore::handle_new_block(PeerId p, ByteView body, TimeMs now, Outbox& out) {
  if (body.size() < 4 || body.size() - 4 < be32_load(body.data())) return bad_peer(p, out);
  const ByteView block = body.subspan(4, be32_load(body.data())), cert = body.subspan(4 + block.size());
  auto shell = decode_block_shell(block, params_);
  if (!shell.ok()) return bad_peer(p, out);
  const std::uint64_t h = shell->header.height;
  auto& peer = peers_[p];
  peer.height = std::max(peer.height, h);
  if (h == next_height() && !batch_)
    enqueue(Pending{Bytes(block.begin(), block.end()), Bytes(cert.begin(), cert.end()), h, header_hash(shell->header), now, p});
  maybe_request(now, out);
}

void SyncCore::handle_get_blocks(PeerId p, ByteView body, Outbox& out) {
  if (body.size() != 12) return bad_peer(p, out);
  const std::uint64_t from = be64_load(body.data());
  const std::uint32_t max = std::min(be32_load(body.data() + 8), opt_.batch_blocks * 4);
  Bytes msg{kBlocks, 0, 0, 0, 0};
  std::uint32_t count = 0;
  for (std::uint64_t h = std::max<std::uint64_t>(from, 1); h <= head_.height && count < max; ++h) {
    auto b = blocks_.block_at(h);
    if (!b) break;
    const Bytes c = blocks_.certificate_at(h).value_or(Bytes{});
    if (count > 0 && msg.size() + b->size() + c.size() > opt_.max_response_bytes) break;
    append_be32(msg, static_cast<std::uint32_t>(b->size()));
    msg.insert(msg.end(), b->begin(), b->end());
    append_be32(msg, static_cast<std::uint32_t>(c.size()));
    msg.insert(msg.end(), c.begin(), c.end());
    ++count;
  }
  for (int i = 0; i < 4; ++i) msg[1 + i] = static_cast<std::uint8_t>(count >> (24 - 8 * i));
  stats_.blocks_served += count;
  out.send_frame(p, std::move(msg));
}

void SyncCore::handle_blocks(PeerId p, ByteView body, TimeMs now, Outbox& out) {
  if (body.size() < 4) return bad_peer(p, out);
  const std::uint32_t count = be32_load(body.data());
  if (count > opt_.batch_blocks * 4) return bad_peer(p, out);
  // Split and decode the whole answer first: a malformed one changes nothing.
  std::vector<std::tuple<ByteView, ByteView, BlockHeader>> blocks;
  std::size_t off = 4;
  auto next_part = [&](ByteView* part) {
    if (body.size() - off < 4) return false;
    const std::uint32_t len = be32_load(body.data() + off);
    off += 4;
    if (body.size() - off < len) return false;
    *part = body.subspan(off, len);
    off += len;
    return true;
  };
  for (std::uint32_t i = 0; i < count; ++i) {
    ByteView block, cert;
    if (!next_part(&block) || !next_part(&cert)) return bad_peer(p, out);
    auto shell = decode_block_shell(block, params_);
    if (!shell.ok()) return bad_peer(p, out);
    blocks.emplace_back(block, cert, shell->header);
  }
  if (inflight_peer_ == p) inflight_peer_.reset();
  if (batch_ || applying()) return;  // an answer we no longer wait for
  batch_ = Batch{p, head_.height, count, false};
  for (const auto& [block, cert, header] : blocks) {
    if (header.height < next_height()) continue;  // already have it
    // Old blocks: checked against their parent, not our clock.
    enqueue(Pending{Bytes(block.begin(), block.end()), Bytes(cert.begin(), cert.end()), header.height, header_hash(header), std::nullopt,
                    std::nullopt});
  }
  if (to_apply_.empty()) finish_batch(now, out);
}

void SyncCore::finish_batch(TimeMs now, Outbox& out) {
  BC_ASSERT(batch_.has_value());
  const Batch b = *batch_;
  batch_.reset();
  auto it = peers_.find(b.peer);
  if (it != peers_.end() && (b.failed || b.blocks == 0)) {
    // Blocks that do not validate, or none at all although it claimed to be
    // ahead: no request loop with a lying peer.
    fault(b.peer, stats_.bad_answers, now, out);
  } else if (it != peers_.end() && head_.height == b.height_before) {
    // No progress (only blocks we had): ask it again only after its next Hello.
    it->second.height = b.height_before;
  }
  maybe_request(now, out);
}

// A frame that breaks the batch's framing or bounds drops the peer; an
// entry that does not decode is dropped alone (counted), and the txs this
// core has not seen go to the driver as one request.
void SyncCore::handle_new_txs(PeerId p, ByteView body, Outbox& out) {
  auto batch = decode_tx_batch(body, params_, opt_.tx_batch);
  if (!batch.ok()) return bad_peer(p, out);
  ++stats_.tx_batches_in;
  stats_.txs_gossiped_in += batch->txs.size() + batch->malformed;
  stats_.txs_malformed += batch->malformed;
  std::vector<Tx> fresh;
  for (Tx& tx : batch->txs)
    if (remember(tx.id)) fresh.push_back(std::move(tx));
  if (!fresh.empty()) events_.push_back(AdmitTxs{std::move(fresh), p});
}

void SyncCore::handle_txs_admitted(std::span<const Tx> txs, std::optional<PeerId> from, TimeMs now, Outbox& out) {
  if (from) stats_.txs_admitted_from_peers += txs.size();
  for (const Tx& tx : txs) {
    remember(tx.id);
    tx_window_.add(encode_tx(tx), from, now);
    if (tx_window_.full()) flush_txs(out);
  }
  if (opt_.tx_window.window_ms == 0 && !tx_window_.empty()) flush_txs(out);  // no window: one batch per call
}

// Sends the window's batch: to each peer node past Hello, on one of its
// connections, every entry that did not come from that node.
void SyncCore::flush_txs(Outbox& out) {
  for (const GossipTarget& t : gossip_targets()) {
    const std::vector<ByteView> txs = tx_window_.for_peer(t.conns);
    if (txs.empty()) continue;
    out.send_frame(t.conn, sync_new_txs(txs));
    ++stats_.tx_batches_out;
  }
  tx_window_.clear();
}

// The peer nodes past Hello, one entry each. Connections whose Hellos named
// the same nonce from the same IP are one node (two nodes that dial each
// other hold two connections; gossip on both would reach the peer twice and
// come back to where it started). Its outbound connection carries the
// gossip (an address this node chose), else its lowest id. A connection
// without a nonce is a node of its own. The IP is part of the key so that a
// connection from elsewhere cannot take a node's gossip by naming its nonce.
std::vector<SyncCore::GossipTarget> SyncCore::gossip_targets() const {
  std::vector<GossipTarget> targets;
  for (const auto& entry : peers_) {  // in id order: the first of a node is its lowest id
    const PeerId id = entry.first;
    const Peer& q = entry.second;  // a plain reference: lambdas may not capture a structured binding before clang 16
    if (!q.hello) continue;
    auto node = targets.end();
    if (q.nonce != 0)
      node = std::find_if(targets.begin(), targets.end(), [&](const GossipTarget& t) {
        const Peer& r = peers_.at(t.conn);
        return r.nonce == q.nonce && r.remote.ip == q.remote.ip;
      });
    if (node == targets.end()) {
      targets.push_back(GossipTarget{id, {id}});
      continue;
    }
    node->conns.push_back(id);
    if (q.outbound && !peers_.at(node->conn).outbound) node->conn = id;
  }
  return targets;
}

// The peer to ask for blocks: an outbound peer ahead of us (one this node
// chose to dial) before any inbound one, so connections others open cannot
// steer catch-up away from configured peers; then the furthest ahead, ties
// broken by id so the choice is deterministic.
std::optional<PeerId> SyncCore::pick_source() const {
  std::optional<PeerId> best;
  std::pair<bool, std::uint64_t> best_rank{false, head_.height};
  for (const auto& [id, q] : peers_) {
    if (!q.hello || q.height <= head_.height) continue;
    const std::pair<bool, std::uint64_t> rank{q.outbound, q.height};
    if (!best || rank > best_rank) best = id, best_rank = rank;
  }
  return best;
}

void SyncCore::maybe_request(TimeMs now, Outbox& out) {
  if (applying() || batch_ || inflight_peer_) return;  // the head is about to move, or an answer is awaited
  const auto best = pick_source();
  if (!best) return;
  out.send_frame(*best, sync_get_blocks(head_.height + 1, opt_.batch_blocks));
  inflight_peer_ = best;
  inflight_since_ = now;
}

void SyncCore::on_tick(TimeMs now, Outbox& out) {
  expire_deadlines(now, out);
  if (now >= tx_window_.due()) flush_txs(out);
  if (now >= next_tick_) {
    next_tick_ = now + opt_.status_interval_ms;
    const Bytes hello = hello_msg();
    for (const auto& [id, q] : peers_) out.send_frame(id, hello);
    prune_bans(now);
  }
  maybe_request(now, out);
}

void SyncCore::announce_block(ByteView block_bytes, TimeMs, Outbox& out, ByteView certificate) {
  auto shell = decode_block_shell(block_bytes, params_);
  BC_ASSERT_MSG(shell.ok(), "announce_block: the node's own committed block does not decode");
  if (shell->header.height > head_.height) head_ = ChainTip{shell->header.height, header_hash(shell->header)};
  const Bytes msg = sync_new_block(block_bytes, certificate);
  for (const GossipTarget& t : gossip_targets()) out.send_frame(t.conn, msg);
}

bool SyncCore::remember(const Hash256& id) {
  if (!seen_.insert(id).second) return false;
  seen_order_.push_back(id);
  while (seen_order_.size() > opt_.seen_tx_ids) {
    seen_.erase(seen_order_.front());
    seen_order_.pop_front();
  }
  return true;
}

std::vector<SyncCore::PeerView> SyncCore::peers() const {
  std::vector<PeerView> v;
  for (const auto& [id, q] : peers_) v.push_back({id, q.height, q.hello, q.outbound});
  return v;
}

std::uint64_t SyncCore::best_peer_height() const {
  std::uint64_t h = 0;
  for (const auto& [id, q] : peers_)
    if (q.hello) h = std::max(h, q.height);
  return h;
}

void serve_sync_requests(SyncCore& core, Ledger& ledger, Mempool& mempool, TimeMs now, Outbox& out,
                         const std::function<void(const BlockHeader&)>& on_commit) {
  while (auto event = core.poll_event()) {
    if (auto* apply = std::get_if<ApplyBlock>(&*event)) {
      const Status s = apply_sync_block(ledger, *apply);
      if (s.ok()) {
        mempool.prune(ledger.state());
        auto shell = decode_block_shell(apply->bytes, ledger.params());
        if (on_commit && shell.ok()) on_commit(shell->header);
      }
      core.handle_block_applied(s, now, out);
    } else {
      auto& admit = std::get<AdmitTxs>(*event);
      std::vector<Tx> admitted;
      for (Tx& tx : admit.txs)
        if (mempool.add(tx, ledger).ok()) admitted.push_back(std::move(tx));
      core.handle_txs_admitted(admitted, admit.from, now, out);
    }
  }
}

}  // namespace bc::ledger
