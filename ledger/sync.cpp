#include "ledger/sync.hpp"

#include <algorithm>

namespace bc::ledger {
namespace {
enum Kind : std::uint8_t { kHello = 1, kNewBlock = 2, kGetBlocks = 3, kBlocks = 4, kNewTx = 5 };

void put32(Bytes& b, std::uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<std::uint8_t>(v >> s));
}
std::uint32_t get32(const std::uint8_t* p) {
  return (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) | p[3];
}
Bytes tagged(std::uint8_t kind, ByteView body) {
  Bytes b;
  b.reserve(1 + body.size());
  b.push_back(kind);
  b.insert(b.end(), body.begin(), body.end());
  return b;
}
}  // namespace

Bytes sync_hello(const Hash256& genesis, std::uint64_t height, const Hash256& head) {
  Bytes b{kHello};
  b.insert(b.end(), genesis.bytes.begin(), genesis.bytes.end());
  append_be64(b, height);
  b.insert(b.end(), head.bytes.begin(), head.bytes.end());
  return b;
}
Bytes sync_new_block(ByteView block) { return tagged(kNewBlock, block); }
Bytes sync_get_blocks(std::uint64_t from, std::uint32_t max) {
  Bytes b{kGetBlocks};
  append_be64(b, from);
  put32(b, max);
  return b;
}
Bytes sync_new_tx(ByteView tx) { return tagged(kNewTx, tx); }

SyncCore::SyncCore(Ledger& ledger, Mempool& mempool, SyncOptions options,
                   std::function<void(const BlockHeader&, TimeMs)> on_commit)
    : ledger_(ledger), mempool_(mempool), opt_(options), on_commit_(std::move(on_commit)) {}

Bytes SyncCore::hello_msg() const {
  return sync_hello(ledger_.genesis_hash(), ledger_.head().height, ledger_.head().hash);
}

void SyncCore::on_connect(PeerId peer, TimeMs, SyncOut& out) {
  peers_[peer] = Peer{};
  out.sends.emplace_back(peer, hello_msg());
}

void SyncCore::on_disconnect(PeerId peer) {
  peers_.erase(peer);
  if (inflight_peer_ == peer) inflight_peer_.reset();
}

void SyncCore::bad_peer(PeerId p, SyncOut& out) {
  ++stats_.malformed;
  out.drops.push_back(p);
  on_disconnect(p);
}

void SyncCore::on_message(PeerId peer, ByteView msg, TimeMs now, SyncOut& out) {
  if (!peers_.count(peer)) return;
  if (msg.empty()) return bad_peer(peer, out);
  const ByteView body = msg.subspan(1);
  if (msg[0] != kHello && !peers_[peer].hello) return;  // nothing before the genesis check
  switch (msg[0]) {
    case kHello: return handle_hello(peer, body, now, out);
    case kNewBlock: return handle_new_block(peer, body, now, out);
    case kGetBlocks: return handle_get_blocks(peer, body, out);
    case kBlocks: return handle_blocks(peer, body, now, out);
    case kNewTx: return handle_new_tx(peer, body, out);
    default: return bad_peer(peer, out);
  }
}

void SyncCore::handle_hello(PeerId p, ByteView body, TimeMs now, SyncOut& out) {
  if (body.size() != 72) return bad_peer(p, out);
  if (!std::equal(body.begin(), body.begin() + 32, ledger_.genesis_hash().bytes.begin())) {
    ++stats_.genesis_mismatch;
    out.drops.push_back(p);
    on_disconnect(p);
    return;
  }
  auto& peer = peers_[p];
  peer.hello = true;
  // A peer that recently failed to serve what it claimed is believed only up to our head.
  peer.height = now < peer.distrust_until ? std::min(be64_load(body.data() + 32), ledger_.head().height)
                                          : be64_load(body.data() + 32);
  std::copy(body.begin() + 40, body.end(), peer.head.bytes.begin());
  maybe_request(now, out);
}

bool SyncCore::apply(ByteView block, std::optional<TimeMs> now) {
  const auto s = ledger_.apply_block(block, now);
  if (!s.ok()) {
    ++stats_.blocks_rejected;
    return false;
  }
  ++stats_.blocks_applied;
  mempool_.prune(ledger_.state());
  if (on_commit_) {
    // The header of the block just committed, for the producer's schedule and indexes.
    auto shell = decode_block_shell(block, ledger_.params());
    if (shell.ok()) on_commit_(shell->header, now.value_or(0));
  }
  return true;
}

void SyncCore::handle_new_block(PeerId p, ByteView body, TimeMs now, SyncOut& out) {
  auto shell = decode_block_shell(body, ledger_.params());
  if (!shell.ok()) return bad_peer(p, out);
  const std::uint64_t h = shell->header.height;
  auto& peer = peers_[p];
  if (now >= peer.distrust_until) peer.height = std::max(peer.height, h);
  const std::uint64_t ours = ledger_.head().height;
  if (h == ours + 1) {
    if (apply(body, now)) {
      // Pass it on: nodes not connected to the producer hear it from us.
      const Bytes msg = sync_new_block(body);
      for (const auto& [id, q] : peers_)
        if (id != p && q.hello && q.height < h) out.sends.emplace_back(id, msg);
    }
  }
  maybe_request(now, out);
}

void SyncCore::handle_get_blocks(PeerId p, ByteView body, SyncOut& out) {
  if (body.size() != 12) return bad_peer(p, out);
  const std::uint64_t from = be64_load(body.data());
  const std::uint32_t max = std::min(get32(body.data() + 8), opt_.batch_blocks * 4);
  Bytes msg{kBlocks, 0, 0, 0, 0};
  std::uint32_t count = 0;
  const std::uint64_t head = ledger_.head().height;
  for (std::uint64_t h = std::max<std::uint64_t>(from, 1); h <= head && count < max; ++h) {
    auto b = ledger_.block_at(h);
    if (!b) break;
    if (count > 0 && msg.size() + b->size() > opt_.max_response_bytes) break;
    put32(msg, static_cast<std::uint32_t>(b->size()));
    msg.insert(msg.end(), b->begin(), b->end());
    ++count;
  }
  for (int i = 0; i < 4; ++i) msg[1 + i] = static_cast<std::uint8_t>(count >> (24 - 8 * i));
  stats_.blocks_served += count;
  out.sends.emplace_back(p, std::move(msg));
}

void SyncCore::handle_blocks(PeerId p, ByteView body, TimeMs now, SyncOut& out) {
  if (body.size() < 4) return bad_peer(p, out);
  const std::uint32_t count = get32(body.data());
  if (count > opt_.batch_blocks * 4) return bad_peer(p, out);
  std::size_t off = 4;
  bool failed = false;
  const std::uint64_t before = ledger_.head().height;
  for (std::uint32_t i = 0; i < count; ++i) {
    if (body.size() - off < 4) return bad_peer(p, out);
    const std::uint32_t len = get32(body.data() + off);
    off += 4;
    if (body.size() - off < len) return bad_peer(p, out);
    const ByteView block = body.subspan(off, len);
    off += len;
    if (failed) continue;
    auto shell = decode_block_shell(block, ledger_.params());
    if (!shell.ok()) return bad_peer(p, out);
    if (shell->header.height <= ledger_.head().height) continue;  // already have it
    // Old blocks: checked against their parent, not our clock.
    if (!apply(block, std::nullopt)) failed = true;
  }
  if (inflight_peer_ == p) inflight_peer_.reset();
  if (ledger_.head().height == before) {
    // No progress (only blocks we had): ask it again only after its next Hello.
    if (auto it = peers_.find(p); it != peers_.end()) it->second.height = before;
  }
  if (failed || count == 0) {
    // A peer whose answer was blocks that do not validate, or none at all
    // although it claimed to be ahead, is not followed
    // again for a while: no request loop, and no stalled producer, with a lying peer.
    if (auto it = peers_.find(p); it != peers_.end()) {
      it->second.height = ledger_.head().height;
      it->second.distrust_until = now + opt_.distrust_ms;
    }
  }
  maybe_request(now, out);
}

void SyncCore::handle_new_tx(PeerId p, ByteView body, SyncOut& out) {
  ++stats_.txs_gossiped_in;
  auto tx = decode_tx(body, ledger_.params());
  if (!tx.ok()) return bad_peer(p, out);
  if (!remember(tx->id) || mempool_.contains(tx->id)) return;
  Tx copy = *tx;
  if (mempool_.add(std::move(*tx), ledger_).ok()) {
    ++stats_.txs_admitted_from_peers;
    gossip_tx(copy, p, out);
  }
}

void SyncCore::maybe_request(TimeMs now, SyncOut& out) {
  if (inflight_peer_ && now - inflight_since_ < opt_.request_timeout_ms) return;
  inflight_peer_.reset();
  const std::uint64_t ours = ledger_.head().height;
  // The peer furthest ahead; ties broken by id so the choice is deterministic.
  std::optional<PeerId> best;
  std::uint64_t best_h = ours;
  for (const auto& [id, q] : peers_)
    if (q.hello && q.height > best_h) best = id, best_h = q.height;
  if (!best) return;
  out.sends.emplace_back(*best, sync_get_blocks(ours + 1, opt_.batch_blocks));
  inflight_peer_ = best;
  inflight_since_ = now;
}

void SyncCore::on_tick(TimeMs now, SyncOut& out) {
  if (now < next_tick_) {
    if (inflight_peer_ && now - inflight_since_ >= opt_.request_timeout_ms) maybe_request(now, out);
    return;
  }
  next_tick_ = now + opt_.status_interval_ms;
  const Bytes hello = hello_msg();
  for (const auto& [id, q] : peers_) out.sends.emplace_back(id, hello);
  maybe_request(now, out);
}

void SyncCore::announce_block(ByteView block_bytes, SyncOut& out) {
  const Bytes msg = sync_new_block(block_bytes);
  for (const auto& [id, q] : peers_)
    if (q.hello) out.sends.emplace_back(id, msg);
}

Status SyncCore::submit_tx(Tx tx, SyncOut& out) {
  Tx copy = tx;
  auto s = mempool_.add(std::move(tx), ledger_);
  if (!s.ok()) return s;
  remember(copy.id);
  gossip_tx(copy, std::nullopt, out);
  return s;
}

void SyncCore::gossip_tx(const Tx& tx, std::optional<PeerId> except, SyncOut& out) {
  const Bytes msg = sync_new_tx(encode_tx(tx));
  for (const auto& [id, q] : peers_)
    if (q.hello && id != except) out.sends.emplace_back(id, msg);
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
  for (const auto& [id, q] : peers_) v.push_back({id, q.height, q.hello});
  return v;
}

std::uint64_t SyncCore::best_peer_height() const {
  std::uint64_t h = 0;
  for (const auto& [id, q] : peers_)
    if (q.hello) h = std::max(h, q.height);
  return h;
}

}  // namespace bc::ledger
