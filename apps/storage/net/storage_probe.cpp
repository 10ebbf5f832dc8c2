#include "apps/storage/net/storage_probe.hpp"

#include <algorithm>

#include "apps/storage/messages.hpp"
#include "apps/storage/net/flow_frames.hpp"
#include "layers/asio_driver.hpp"
#include "layers/assert.hpp"
#include "layers/merkle.hpp"
#include "ledger/pos/codec.hpp"

namespace bc::storage {

const std::vector<ShardId>* ChunkListCache::find(const Hash256& root) const {
  auto it = lists_.find(root);
  return it == lists_.end() ? nullptr : &it->second;
}

void ChunkListCache::add(const Hash256& root, std::vector<ShardId> shards) {
  if (lists_.insert_or_assign(root, std::move(shards)).second) order_.push_back(root);
  while (lists_.size() > max_lists_) {
    lists_.erase(order_.front());
    order_.pop_front();
  }
}

namespace {


class StorageExchange final : public pos::ProbeExchange, public std::enable_shared_from_this<StorageExchange> {
 public:
  StorageExchange(const pos::StorageProbe& probe, std::shared_ptr<ChunkListCache> cache)
      : probe_(probe), cache_(std::move(cache)) {
    BC_ASSERT(probe_.challenge.chunk < probe_.storage_chunks);
  }

  void start(std::unique_ptr<sal::ByteStream> stream, std::uint32_t connect_ms, Done done) override {
    connect_ms_ = connect_ms;
    done_ = std::move(done);
    std::weak_ptr<StorageExchange> weak = weak_from_this();
    flow_ = FramedFlow::start(
        std::move(stream), kMaxResponseBytes, kMaxResponseBytes,  // a probe queues two small requests at most
        [weak](Bytes frame) {
          if (auto self = weak.lock()) self->on_frame(frame);
        },
        [weak](const std::string&) {
          if (auto self = weak.lock()) self->end(std::nullopt);
        });
    if (const auto* list = cache_->find(probe_.storage_root)) return send_audit(*list);
    ask_page();
  }

  std::optional<pos::ProbeAnswer> stop() override {
    if (flow_) flow_->close();
    done_ = nullptr;
    return answer_;
  }

 private:
  void ask_page() {
    const auto count = static_cast<std::uint32_t>(
        std::min<std::uint64_t>(kMaxChunksPerPage, probe_.storage_chunks - list_.size()));
    flow_->send(encode_request(Request{++request_id_, ChunkListRequest{probe_.storage_root, list_.size(), count}}));
  }

  void send_audit(const std::vector<ShardId>& list) {
    shard_ = list[probe_.challenge.chunk];
    chunk_path_ = merkle::list_path(list, probe_.challenge.chunk);
    auditing_ = true;
    audit_sent_ = AsioUdpDriver::now_ms();
    flow_->send(encode_request(Request{++request_id_, AuditRequest{shard_, probe_.challenge.seed}}));
  }

  void on_frame(const Bytes& frame) {
    auto r = decode_response(frame);
    if (!r.ok() || r->request_id != request_id_) return unusable();
    if (!auditing_) return on_page(*r);
    pos::ProbeAnswer a = measured(frame.size());
    a.storage = pos::StorageReply{chunk_path_, std::nullopt};
    if (const auto* audit = std::get_if<AuditAnswer>(&r->body)) {
      a.storage->answer = pos::StorageAnswer{shard_, probe_.challenge.seed, audit->proof, audit->signature};
      a.response_hash = pos::storage_answer_digest(*a.storage->answer);
    }
    end(std::move(a));
  }

  // A page of the list; the whole list must be the offer's.
  void on_page(const Response& r) {
    const auto* page = std::get_if<ChunkPageResponse>(&r.body);
    if (!page || page->total != probe_.storage_chunks || page->shards.empty() ||
        list_.size() + page->shards.size() > probe_.storage_chunks)
      return unusable();
    list_.insert(list_.end(), page->shards.begin(), page->shards.end());
    if (list_.size() < probe_.storage_chunks) return ask_page();
    if (merkle::list_root(list_) != probe_.storage_root) return unusable();
    cache_->add(probe_.storage_root, list_);
    send_audit(list_);
  }

  pos::ProbeAnswer measured(std::size_t bytes) const {
    const TimeMs ms = std::max<TimeMs>(1, AsioUdpDriver::now_ms() - audit_sent_);
    return pos::ProbeAnswer{connect_ms_, static_cast<std::uint32_t>(ms), bytes * 1000 / static_cast<std::uint64_t>(ms), {},
                            std::nullopt};
  }

  // The provider answered, but nothing a probe can pass with.
  void unusable() { end(pos::ProbeAnswer{connect_ms_, 0, 0, {}, std::nullopt}); }

  void end(std::optional<pos::ProbeAnswer> a) {
    if (!done_) return;
    answer_ = std::move(a);
    Done done = std::move(done_);
    done_ = nullptr;
    if (flow_) flow_->close();
    done(answer_);
  }

  pos::StorageProbe probe_;
  std::shared_ptr<ChunkListCache> cache_;
  std::shared_ptr<FramedFlow> flow_;
  std::uint32_t connect_ms_ = 0;
  Done done_;
  std::uint64_t request_id_ = 0;
  std::vector<ShardId> list_;  // pages fetched so far
  bool auditing_ = false;
  ShardId shard_;
  std::vector<Hash256> chunk_path_;
  TimeMs audit_sent_ = 0;
  std::optional<pos::ProbeAnswer> answer_;
};

}  // namespace

pos::StorageExchangeFactory storage_probe_exchange(std::shared_ptr<ChunkListCache> cache) {
  return [cache](boost::asio::io_context&, const pos::ProbeSend& send) -> std::shared_ptr<pos::ProbeExchange> {
    BC_ASSERT(send.storage.has_value());
    return std::make_shared<StorageExchange>(*send.storage, cache);
  };
}

}  // namespace bc::storage
