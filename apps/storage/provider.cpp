#include "apps/storage/provider.hpp"

#include "apps/storage/merkle.hpp"
#include "ledger/pos/codec.hpp"
#include "ledger/pos/storage_proof.hpp"
#include "layers/assert.hpp"

namespace bc::storage {

// Audits are answered under the rule the ledger judges them by.
static_assert(kLeafSize == pos::kStorageLeafSize);

ProviderCore::ProviderCore(ProviderOptions options) : options_(std::move(options)) {
  BC_ASSERT(options_.max_inflight_per_peer > 0);
}

void ProviderCore::on_peer_up(PeerId peer, const Endpoint&, bool, TimeMs, Outbox&) {
  BC_ASSERT(!peers_.count(peer));
  peers_[peer] = 0;
}

void ProviderCore::on_peer_down(PeerId peer, TimeMs, Outbox&) {
  peers_.erase(peer);
  // Tasks already handed to the driver still complete; their answers are
  // dropped in answer() because the peer is gone.
}

void ProviderCore::on_frame(PeerId peer, ByteView frame, TimeMs now, Outbox& out) {
  handle_frame(peer, frame, nullptr, now, out);
}

void ProviderCore::on_owned_frame(PeerId peer, Bytes frame, TimeMs now, Outbox& out) {
  const ByteView view(frame);
  handle_frame(peer, view, &frame, now, out);
}

void ProviderCore::handle_frame(PeerId peer, ByteView frame, Bytes* owned, TimeMs now, Outbox& out) {
  auto p = peers_.find(peer);
  if (p == peers_.end()) return;  // a late frame of a peer that went down
  ++stats_.requests;
  RequestDecode d = decode_request(frame, owned ? PutData::kInFrame : PutData::kCopy);
  if (!d.status.ok()) {
    if (!d.request_id) {
      ++stats_.rejected[d.status.name()];
      ++stats_.disconnects;
      peers_.erase(p);
      out.disconnect(peer);
      return;
    }
    return reject(peer, *d.request_id, d.status, out);
  }
  if (auto* receipt = std::get_if<ReceiptRequest>(&d.request.body)) return take_receipt(peer, d.request.request_id, *receipt, out);
  if (auto* list = std::get_if<ChunkListRequest>(&d.request.body)) return answer_chunk_list(peer, d.request.request_id, *list, out);
  if (p->second >= options_.max_inflight_per_peer)
    return reject(peer, d.request.request_id, fail(Error::kBusy, "too many requests in flight"), out);
  start(peer, std::move(d), owned, now, out);
}

// Checks a put and moves its shard into `task` (the frame itself when the
// shard was decoded in place); false when it was rejected.
bool ProviderCore::take_put(PeerId peer, RequestDecode& d, Bytes* owned, TimeMs now, StoreTask& task, Outbox& out) {
  PutShardRequest& put = std::get<PutShardRequest>(d.request.body);
  const auto& in_frame = d.put_in_frame;
  const std::uint64_t request_id = d.request.request_id;
  BC_ASSERT(!in_frame || owned);
  Status refused = Status::success();
  const ByteView shard = in_frame ? ByteView(*owned).subspan(in_frame->offset, in_frame->size) : ByteView(put.data);
  if (put.expires_at <= now) refused = fail(Error::kExpired, "expiry is in the past");
  else if (shard_root(shard) != put.shard) refused = fail(Error::kBadRoot, "data does not hash to the shard id");
  if (!refused.ok()) {
    reject(peer, request_id, refused, out);
    return false;
  }
  task.kind = StoreTask::Kind::kPut;
  task.meta = ShardMeta{shard.size(), put.expires_at, put.delete_token_hash, put.escrow_id, now, options_.price};
  task.shard = put.shard;
  if (in_frame) {
    task.data_offset = in_frame->offset;
    task.data = std::move(*owned);
  } else {
    task.data = std::move(put.data);
  }
  BC_ASSERT(task.data_offset + task.meta.size <= task.data.size());
  return true;
}

void ProviderCore::start(PeerId peer, RequestDecode d, Bytes* owned, TimeMs now, Outbox& out) {
  Request& req = d.request;
  StoreTask task;
  task.ticket = next_ticket_++;
  Pending pending{peer, req.request_id, Purpose::kGet, {}, {}, 0};
  if (auto* put = std::get_if<PutShardRequest>(&req.body)) {
    if (!take_put(peer, d, owned, now, task, out)) return;
    pending.purpose = Purpose::kPut;
    pending.size = task.meta.size;
    pending.shard = task.shard = put->shard;
  } else if (auto* get = std::get_if<GetRangeRequest>(&req.body)) {
    task.kind = StoreTask::Kind::kServe;
    task.offset = get->offset;
    task.length = get->length;
    pending.shard = task.shard = get->shard;
  } else if (auto* del = std::get_if<DeleteShardRequest>(&req.body)) {
    task.kind = StoreTask::Kind::kRemove;
    task.token = del->delete_token;
    pending.purpose = Purpose::kDelete;
    pending.shard = task.shard = del->shard;
  } else {
    const auto& audit = std::get<AuditRequest>(req.body);  // receipts and chunk lists are answered in on_frame
    task.kind = StoreTask::Kind::kRead;
    task.offset = 0;
    task.length = kMaxShardBytes;
    pending.purpose = Purpose::kAudit;
    pending.seed = audit.seed;
    pending.shard = task.shard = audit.shard;
  }
  ++peers_[peer];
  pending_.emplace(task.ticket, pending);
  tasks_.push_back(std::move(task));
}

// A receipt needs no disk work: it is kept (the highest per escrow) for the
// driver's next claim, and acknowledged at once. Whether it is signed by the
// escrow's client is for the ledger to say when the provider claims.
void ProviderCore::take_receipt(PeerId peer, std::uint64_t request_id, const ReceiptRequest& r, Outbox& out) {
  if (receipts_.size() >= kMaxQueuedReceipts && !receipts_.contains(r.escrow_id))
    return reject(peer, request_id, fail(Error::kBusy, "too many receipts waiting for a claim"), out);
  auto [it, fresh] = receipts_.emplace(r.escrow_id, r);
  if (!fresh && it->second.cumulative < r.cumulative) it->second = r;
  ++stats_.receipts;
  ++stats_.answered;
  out.send_frame(peer, encode_response(Response{request_id, ReceiptTakenResponse{r.cumulative}}));
}

Hash256 ProviderCore::add_chunk_list(std::vector<ShardId> shards) {
  BC_ASSERT(!shards.empty() && shards.size() <= pos::kMaxOfferChunks);
  const Hash256 root = merkle::list_root(shards);
  chunk_lists_[root] = std::move(shards);
  return root;
}

std::vector<ShardId> ProviderCore::remove_chunk_list(const Hash256& root) {
  auto node = chunk_lists_.extract(root);
  return node ? std::move(node.mapped()) : std::vector<ShardId>{};
}

std::vector<Hash256> ProviderCore::chunk_list_roots() const {
  std::vector<Hash256> roots;
  for (const auto& [root, list] : chunk_lists_) roots.push_back(root);
  return roots;
}

// From memory: a list is what the provider committed to, whether or not it
// still holds every shard of it (a lost one fails its audits instead).
void ProviderCore::answer_chunk_list(PeerId peer, std::uint64_t request_id, const ChunkListRequest& r, Outbox& out) {
  auto it = chunk_lists_.find(r.storage_root);
  if (it == chunk_lists_.end()) return reject(peer, request_id, fail(Error::kNotFound, "no chunk list with that root"), out);
  const std::vector<ShardId>& list = it->second;
  ChunkPageResponse page{list.size(), {}};
  if (r.first < list.size()) {
    const std::size_t end = static_cast<std::size_t>(std::min<std::uint64_t>(list.size(), r.first + r.count));
    page.shards.assign(list.begin() + static_cast<std::ptrdiff_t>(r.first), list.begin() + static_cast<std::ptrdiff_t>(end));
  }
  ++stats_.chunk_pages;
  ++stats_.answered;
  out.send_frame(peer, encode_response(Response{request_id, std::move(page)}));
}

std::vector<ReceiptRequest> ProviderCore::take_receipts() {
  std::vector<ReceiptRequest> out;
  for (auto& [id, r] : receipts_) out.push_back(r);
  receipts_.clear();
  return out;
}

std::optional<StoreTask> ProviderCore::poll_event() {
  if (tasks_.empty()) return std::nullopt;
  StoreTask t = std::move(tasks_.front());
  tasks_.pop_front();
  return t;
}

std::optional<ProviderCore::Pending> ProviderCore::take(std::uint64_t ticket) {
  auto it = pending_.find(ticket);
  BC_ASSERT_MSG(it != pending_.end(), "a store result for an unknown ticket");
  Pending p = it->second;
  pending_.erase(it);
  auto peer = peers_.find(p.peer);
  if (peer == peers_.end()) return std::nullopt;  // the peer went away meanwhile
  BC_ASSERT(peer->second > 0);
  --peer->second;
  return p;
}

void ProviderCore::handle_put_done(std::uint64_t ticket, const Status& s, TimeMs, Outbox& out) {
  auto p = take(ticket);
  if (!p) return;
  BC_ASSERT(p->purpose == Purpose::kPut);
  if (!s.ok()) return reject(p->peer, p->request_id, s, out);
  ++stats_.stored;
  answer(*p, Response{p->request_id, StoredResponse{p->size}}, out);
}

void ProviderCore::handle_read_done(std::uint64_t ticket, Result<Bytes> r, TimeMs, Outbox& out) {
  auto p = take(ticket);
  if (!p) return;
  BC_ASSERT(p->purpose == Purpose::kAudit);
  if (!r.ok()) return reject(p->peer, p->request_id, r.status(), out);
  answer_audit(*p, *r, out);
}

DataFrame ProviderCore::serve_frame(std::uint64_t ticket, std::size_t n, Bytes buffer) const {
  auto it = pending_.find(ticket);
  BC_ASSERT_MSG(it != pending_.end() && it->second.purpose == Purpose::kGet, "a frame for no get in flight");
  return encode_data_frame(it->second.request_id, n, std::move(buffer));
}

void ProviderCore::handle_serve_done(std::uint64_t ticket, const Status& s, Bytes frame, TimeMs, Outbox& out) {
  auto p = take(ticket);
  if (!p) return;
  BC_ASSERT(p->purpose == Purpose::kGet);
  if (!s.ok()) return reject(p->peer, p->request_id, s, out);
  ++stats_.served;
  ++stats_.answered;
  out.send_frame(p->peer, std::move(frame));
}

void ProviderCore::handle_remove_done(std::uint64_t ticket, const Status& s, TimeMs, Outbox& out) {
  auto p = take(ticket);
  if (!p) return;
  BC_ASSERT(p->purpose == Purpose::kDelete);
  if (!s.ok()) return reject(p->peer, p->request_id, s, out);
  ++stats_.deleted;
  answer(*p, Response{p->request_id, DeletedResponse{}}, out);
}

void ProviderCore::answer_audit(const Pending& p, ByteView shard, Outbox& out) {
  const std::uint64_t leaf = audit_leaf_index(p.seed, p.shard, shard.size());
  pos::StorageAnswer a{p.shard, p.seed, make_proof(shard, leaf), {}};
  if (pos::storage_answer_mismatch(a) != nullptr)
    return reject(p.peer, p.request_id, fail(Error::kCorrupt, "the shard is damaged on this provider"), out);
  if (options_.test_sign_wrong_answers && !a.proof.leaf.empty()) a.proof.leaf[0] ^= 1;
  if (options_.answer_key) pos::sign_storage_answer(a, *options_.answer_key);
  ++stats_.audits;
  answer(p, Response{p.request_id, AuditAnswer{std::move(a.proof), a.provider_signature}}, out);
}

void ProviderCore::reject(PeerId peer, std::uint64_t request_id, const Status& s, Outbox& out) {
  ++stats_.rejected[s.name()];
  ++stats_.answered;
  out.send_frame(peer, encode_response(failure_response(request_id, s)));
}

void ProviderCore::answer(const Pending& p, Response r, Outbox& out) {
  ++stats_.answered;
  out.send_frame(p.peer, encode_response(r));
}

}  // namespace bc::storage
