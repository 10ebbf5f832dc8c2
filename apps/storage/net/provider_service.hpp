// A storage provider served over SAL flows: ProviderCore and its ShardStore
// (through LocalProvider) on a libuv loop that is driven from an Asio
// io_context, one FramedFlow per accepted flow, each flow one core peer.
//
// The libuv loop runs on the io thread: its backend (epoll) descriptor is
// watched by Asio, and uv_run(UV_RUN_NOWAIT) runs whatever completed. The
// disk work itself runs on libuv's thread pool, so the io thread never
// blocks on it. Asio waits on descriptors edge-triggered with no
// speculative retry, so a completion signalled between a uv_run and the next
// wait could be missed: a short timer also runs the loop while store work is
// pending.
//
// Threads: io thread only. `io` must outlive the service.
#pragma once
#include <functional>
#include <map>
#include <memory>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include "apps/storage/local_provider.hpp"
#include "apps/storage/net/flow_frames.hpp"

namespace bc::storage {

class ProviderService {
 public:
  // Opens (and recovers) the shard store in options.dir. kIo or kCorrupt
  // when it cannot.
  static Result<std::unique_ptr<ProviderService>> open(boost::asio::io_context& io, StoreOptions store,
                                                       ProviderOptions options = {});
  // Closes every flow and waits (blocking, briefly) for store work in flight.
  ~ProviderService();

  // Serves one flow until it ends (the SAL's AcceptHandler body).
  void accept(std::unique_ptr<sal::ByteStream> stream);
  // Closes every flow; later flows are still accepted until destruction.
  void close_flows();

  std::size_t flows() const { return flows_.size(); }
  const ProviderStats& stats() const { return provider_->core().stats(); }
  const ShardStore& store() const { return provider_->store(); }
  // Garbage collection: deletes up to `max` shards whose expiry is before
  // `before` (ShardStore::collect); `done(count)` after the last, on the io thread.
  void collect_expired(TimeMs before, std::size_t max, std::function<void(std::size_t collected)> done);
  // Unpaid objects: deletes `shards` where their entries name `escrow`
  // (ShardStore::drop_unpaid); `done(count)` after the last, on the io thread.
  void drop_unpaid(const std::vector<ShardId>& shards, const Hash256& escrow, std::function<void(std::size_t dropped)> done);
  // Serves `shards` as a storage offer's chunk list (ProviderCore::add_chunk_list)
  // and pins them in the store (ShardPins) until the list is released.
  Hash256 add_chunk_list(std::vector<ShardId> shards);
  // Stops serving list `root` and unpins its shards; false when it was not served.
  bool release_chunk_list(const Hash256& root);
  std::vector<Hash256> chunk_list_roots() const { return provider_->core().chunk_list_roots(); }
  std::size_t chunk_lists() const { return provider_->core().chunk_lists(); }
  // The usage receipts clients sent since the last call (ProviderCore::take_receipts).
  std::vector<ReceiptRequest> take_receipts() { return provider_->core().take_receipts(); }

 private:
  explicit ProviderService(boost::asio::io_context& io);
  void on_frame(PeerId peer, Bytes frame);
  void on_flow_closed(PeerId peer);
  // Runs the uv loop once, sends the core's frames, applies its disconnects.
  void pump();
  void watch_backend();
  // Runs `remove` on each of `ids`; done(how many succeeded) after the last.
  void remove_each(const std::vector<ShardId>& ids, std::function<void(std::size_t)> done,
                   const std::function<void(const ShardId&, ShardStore::Done)>& remove);
  void arm_backstop();

  boost::asio::io_context& io_;
  std::unique_ptr<uv_loop_s> loop_;
  std::unique_ptr<LocalProvider> provider_;
  boost::asio::posix::stream_descriptor backend_;
  boost::asio::steady_timer backstop_;
  bool backstop_armed_ = false;
  std::map<PeerId, std::shared_ptr<FramedFlow>> flows_;
  // Put frames' buffers, handed back by the store once written, and get
  // answers' once their flow has taken them, read or built in again by any
  // flow: without them each shard-sized frame is a fresh allocation,
  // zero-filled and faulted in page by page. Room for a put window's shards
  // (a client keeps 8 segments in flight, one shard of each per provider)
  // at the 1 MiB shards of the default shape.
  static constexpr std::size_t kPutPoolBytes = 12u << 20;
  std::shared_ptr<FrameBufferPool> buffers_ = std::make_shared<FrameBufferPool>(kPutPoolBytes);
  PeerId next_peer_ = 1;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace bc::storage
