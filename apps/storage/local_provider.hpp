// A driver for ProviderCore: one core over one ShardStore on a libuv loop,
// fed frames in process. It is the provider's driver-side store wiring that
// the daemon will reuse behind a SAL flow; tests and the benchmark use it
// through InProcessNetwork, several providers sharing one loop so their disk
// work overlaps on libuv's thread pool.
#pragma once
#include <functional>
#include <memory>
#include <vector>

#include "apps/storage/provider.hpp"
#include "apps/storage/shard_store.hpp"

struct uv_loop_s;

namespace bc::storage {

class LocalProvider {
 public:
  // The loop must outlive the provider.
  static Result<std::unique_ptr<LocalProvider>> open(uv_loop_s* loop, StoreOptions store, ProviderOptions options = {});
  ~LocalProvider();  // REQUIRES: idle()

  void connect(PeerId peer, TimeMs now);
  void disconnect(PeerId peer, TimeMs now);
  // Hands one frame to the core and its tasks to the store. Answers come
  // once the loop has run the store's work (uv_run), in take_frames().
  void deliver(PeerId peer, ByteView frame, TimeMs now);
  // The same, handing the frame over: a put's shard goes to the disk from
  // it, with no copy.
  void deliver(PeerId peer, Bytes frame, TimeMs now);
  std::vector<Outbox::Frame> take_frames();
  std::vector<PeerId> take_disconnects();
  bool idle() const { return store_->pending() == 0; }

  ProviderCore& core() { return core_; }
  ShardStore& store() { return *store_; }

 private:
  LocalProvider(std::unique_ptr<ShardStore> store, ProviderOptions options,
                std::function<Bytes(std::size_t)> frame_buffer);
  void drain(TimeMs now);
  void run_task(StoreTask task, TimeMs now);

  std::unique_ptr<ShardStore> store_;
  std::function<Bytes(std::size_t)> frame_buffer_;  // StoreOptions::frame_buffer
  ProviderCore core_;
  Outbox out_;
};

// The client's view of the providers: requests out, response frames back.
class ShardTransport {
 public:
  struct Call {
    std::size_t provider;
    Bytes request;
  };
  struct Answer {
    std::size_t provider;
    Bytes response;
  };
  // What collect() brought.
  struct Collected {
    std::vector<Answer> answers;
    // Providers given up on: their calls not answered yet never will be.
    std::vector<std::size_t> gave_up;
    // No call is outstanding any more: whatever was not answered never will be.
    bool settled = false;
  };
  virtual ~ShardTransport() = default;
  virtual std::size_t providers() const = 0;
  // Delivers every call and returns the answers that came back, in any
  // order; a provider that is down or dropped the peer answers nothing.
  // REQUIRES: no call sent with send() is outstanding.
  virtual std::vector<Answer> exchange(std::vector<Call> calls) = 0;

  // The sliding window: send() hands calls over (they go out at once where
  // the transport can), collect() waits until at least one answer came, a
  // provider was given up, wake() was called, or nothing is outstanding.
  // These defaults hold calls until collect() and then run one exchange().
  virtual void send(std::vector<Call> calls);
  virtual Collected collect();
  // Thread-safe: makes a collect() waiting now, or the next one, return at
  // once (a worker thread's result is ready).
  virtual void wake() {}
  // Hands back an answer's bytes once the caller is done with them: the
  // transport may read a later answer into the same buffer.
  virtual void recycle(Bytes answer) {}
  // Thread-safe (a put's worker builds its requests in it): a buffer with
  // room for a request of n bytes, its contents unspecified, from the
  // requests the transport has sent; empty (build in a fresh one) by default.
  virtual Bytes request_buffer(std::size_t n) { return {}; }

 private:
  std::vector<Call> held_;  // the defaults' calls not yet exchanged
};

// Several LocalProviders on one loop, each reached as one peer; a provider
// can be taken down (it answers nothing) and brought back.
class InProcessNetwork final : public ShardTransport {
 public:
  // One provider per directory, each with `capacity_bytes`.
  static Result<std::unique_ptr<InProcessNetwork>> open(const std::vector<std::filesystem::path>& dirs,
                                                        std::uint64_t capacity_bytes);
  ~InProcessNetwork() override;

  std::size_t providers() const override { return providers_.size(); }
  std::vector<Answer> exchange(std::vector<Call> calls) override;

  void set_down(std::size_t provider, bool down);
  LocalProvider& provider(std::size_t i) { return *providers_.at(i); }
  // Virtual clock handed to the cores as `now`.
  void set_now(TimeMs now) { now_ = now; }
  TimeMs now() const { return now_; }

 private:
  InProcessNetwork();
  std::unique_ptr<uv_loop_s> loop_;
  std::vector<std::unique_ptr<LocalProvider>> providers_;
  std::vector<bool> down_;
  std::vector<PeerId> peer_;  // our current connection to each provider
  PeerId next_peer_ = 1;
  TimeMs now_ = 1'000'000;
};

}  // namespace bc::storage
