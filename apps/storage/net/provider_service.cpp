#include "apps/storage/net/provider_service.hpp"

#include <unistd.h>

#include <uv.h>

#include "layers/assert.hpp"
#include "layers/merkle.hpp"
#include "sal/host/host.hpp"

namespace bc::storage {
namespace {
// Answers a peer may leave unread before its flow is dropped: the in-flight
// limit's worth of full shards, and some.
constexpr std::size_t kMaxQueuedBytes = 24 * kMaxResponseBytes;
constexpr auto kBackstop = std::chrono::milliseconds(5);
}  // namespace

ProviderService::ProviderService(boost::asio::io_context& io)
    : io_(io), loop_(std::make_unique<uv_loop_t>()), backend_(io), backstop_(io) {
  BC_ASSERT(uv_loop_init(loop_.get()) == 0);
}

Result<std::unique_ptr<ProviderService>> ProviderService::open(boost::asio::io_context& io, StoreOptions store,
                                                               ProviderOptions options) {
  std::unique_ptr<ProviderService> s(new ProviderService(io));
  store.recycle = [buffers = s->buffers_](Bytes b) { buffers->give_back(std::move(b)); };
  store.frame_buffer = [buffers = s->buffers_](std::size_t n) { return buffers->take(n); };
  auto p = LocalProvider::open(s->loop_.get(), std::move(store), options);
  if (!p.ok()) return p.status();
  s->provider_ = std::move(p).value();
  // A duplicate, so Asio may close its descriptor while libuv keeps its own.
  const int fd = ::dup(uv_backend_fd(s->loop_.get()));
  if (fd < 0) return fail(Error::kIo, "dup of the libuv backend descriptor failed");
  s->backend_.assign(fd);
  s->watch_backend();
  return s;
}

ProviderService::~ProviderService() {
  *alive_ = false;
  close_flows();
  backend_.close();
  backstop_.cancel();
  // Store work in flight finishes (its completions answer peers that are gone).
  while (provider_ && !provider_->idle()) uv_run(loop_.get(), UV_RUN_ONCE);
  provider_.reset();
  uv_run(loop_.get(), UV_RUN_NOWAIT);
  BC_ASSERT(uv_loop_close(loop_.get()) == 0);
}

void ProviderService::accept(std::unique_ptr<sal::ByteStream> stream) {
  const PeerId peer = next_peer_++;
  std::weak_ptr<bool> alive = alive_;
  auto flow = FramedFlow::start(
      std::move(stream), kMaxRequestBytes, kMaxQueuedBytes,
      [this, alive, peer](Bytes frame) {
        if (alive.lock()) on_frame(peer, std::move(frame));
      },
      [this, alive, peer](const std::string&) {
        if (alive.lock()) on_flow_closed(peer);
      },
      buffers_, FramedFlow::Sent::kRecycle);  // a get's answer goes back to the pool once written
  flows_[peer] = std::move(flow);
  provider_->connect(peer, sal::Host::now_ms());
}

void ProviderService::close_flows() {
  const TimeMs now = sal::Host::now_ms();
  for (auto& [peer, flow] : flows_) {
    flow->close();
    provider_->disconnect(peer, now);
  }
  flows_.clear();
}

// The frame is handed over: a put's shard is written to disk from it.
void ProviderService::on_frame(PeerId peer, Bytes frame) {
  provider_->deliver(peer, std::move(frame), sal::Host::now_ms());
  pump();
}

void ProviderService::on_flow_closed(PeerId peer) {
  flows_.erase(peer);
  provider_->disconnect(peer, sal::Host::now_ms());
  pump();
}

void ProviderService::collect_expired(TimeMs before, std::size_t max, std::function<void(std::size_t)> done) {
  remove_each(provider_->store().expired(before, max), std::move(done),
              [this, before](const ShardId& id, ShardStore::Done d) { provider_->store().collect(id, before, std::move(d)); });
}

void ProviderService::drop_unpaid(const std::vector<ShardId>& shards, const Hash256& escrow,
                                  std::function<void(std::size_t)> done) {
  remove_each(shards, std::move(done), [this, escrow](const ShardId& id, ShardStore::Done d) {
    provider_->store().drop_unpaid(id, escrow, std::move(d));
  });
}

Hash256 ProviderService::add_chunk_list(std::vector<ShardId> shards) {
  const Hash256 root = merkle::list_root(shards);
  if (provider_->core().has_chunk_list(root)) return root;  // committed again: pinned once
  provider_->store().pins().pin(shards);
  return provider_->core().add_chunk_list(std::move(shards));
}

bool ProviderService::release_chunk_list(const Hash256& root) {
  const std::vector<ShardId> shards = provider_->core().remove_chunk_list(root);
  provider_->store().pins().unpin(shards);
  return !shards.empty();
}

void ProviderService::remove_each(const std::vector<ShardId>& ids, std::function<void(std::size_t)> done,
                                  const std::function<void(const ShardId&, ShardStore::Done)>& remove) {
  if (ids.empty()) return done(0);
  struct Round {
    std::size_t left, removed = 0;
    std::function<void(std::size_t)> done;
  };
  auto round = std::make_shared<Round>(Round{ids.size(), 0, std::move(done)});
  for (const auto& id : ids)
    remove(id, [round](const Status& s) {
      round->removed += s.ok();
      if (--round->left == 0) round->done(round->removed);
    });
  arm_backstop();  // the store's work completes through the loop
}

void ProviderService::pump() {
  uv_run(loop_.get(), UV_RUN_NOWAIT);
  for (auto& f : provider_->take_frames()) {
    auto it = flows_.find(f.to);
    if (it != flows_.end()) it->second->send(std::move(f.payload));  // else: the peer left; its answer is dropped
  }
  for (PeerId d : provider_->take_disconnects()) {
    auto it = flows_.find(d);
    if (it == flows_.end()) continue;
    it->second->close();
    flows_.erase(it);
  }
  if (!provider_->idle()) arm_backstop();
}

void ProviderService::watch_backend() {
  std::weak_ptr<bool> alive = alive_;
  backend_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                      [this, alive](const boost::system::error_code& ec) {
                        if (ec || !alive.lock()) return;
                        pump();
                        watch_backend();
                      });
}

void ProviderService::arm_backstop() {
  if (backstop_armed_) return;
  backstop_armed_ = true;
  backstop_.expires_after(kBackstop);
  std::weak_ptr<bool> alive = alive_;
  backstop_.async_wait([this, alive](const boost::system::error_code& ec) {
    if (ec || !alive.lock()) return;
    backstop_armed_ = false;
    pump();
  });
}

}  // namespace bc::storage
