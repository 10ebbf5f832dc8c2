#include "apps/storage/local_provider.hpp"

#include <uv.h>

#include <map>
#include <utility>

#include "layers/assert.hpp"

namespace bc::storage {
LocalProvider::LocalProvider(std::unique_ptr<ShardStore> store, ProviderOptions options,
                             std::function<Bytes(std::size_t)> frame_buffer)
    : store_(std::move(store)), frame_buffer_(std::move(frame_buffer)), core_(options) {}

LocalProvider::~LocalProvider() { BC_ASSERT(idle()); }

Result<std::unique_ptr<LocalProvider>> LocalProvider::open(uv_loop_s* loop, StoreOptions store, ProviderOptions options) {
  auto frame_buffer = store.frame_buffer;
  auto s = ShardStore::open(loop, std::move(store));
  if (!s.ok()) return s.status();
  return std::unique_ptr<LocalProvider>(new LocalProvider(std::move(s).value(), options, std::move(frame_buffer)));
}

void LocalProvider::connect(PeerId peer, TimeMs now) {
  core_.on_peer_up(peer, Endpoint{}, false, now, out_);
  drain(now);
}

void LocalProvider::disconnect(PeerId peer, TimeMs now) {
  core_.on_peer_down(peer, now, out_);
  drain(now);
}

void LocalProvider::deliver(PeerId peer, ByteView frame, TimeMs now) {
  core_.on_frame(peer, frame, now, out_);
  drain(now);
}

void LocalProvider::deliver(PeerId peer, Bytes frame, TimeMs now) {
  core_.on_owned_frame(peer, std::move(frame), now, out_);
  drain(now);
}

std::vector<Outbox::Frame> LocalProvider::take_frames() {
  std::vector<Outbox::Frame> frames = std::move(out_.frames);
  out_.frames.clear();
  return frames;
}

std::vector<PeerId> LocalProvider::take_disconnects() {
  std::vector<PeerId> d = std::move(out_.disconnects);
  out_.disconnects.clear();
  return d;
}

// The core leaves no KV writes (its durable state is the shard store, driven
// through tasks), so only tasks need carrying out here.
void LocalProvider::drain(TimeMs now) {
  BC_ASSERT(out_.writes.empty());
  while (auto task = core_.poll_event()) run_task(std::move(*task), now);
}

// Completions come back on the loop thread, from uv_run; `now` is the time
// the task was started (the core's answers do not depend on it).
void LocalProvider::run_task(StoreTask task, TimeMs now) {
  const std::uint64_t ticket = task.ticket;
  switch (task.kind) {
    case StoreTask::Kind::kPut:
      store_->put(task.shard, std::move(task.data), task.data_offset, task.meta, [this, ticket, now](Status s) {
        core_.handle_put_done(ticket, s, now, out_);
        drain(now);
      });
      return;
    case StoreTask::Kind::kRead:
      store_->read(task.shard, task.offset, task.length, [this, ticket, now](Result<Bytes> r) {
        core_.handle_read_done(ticket, std::move(r), now, out_);
        drain(now);
      });
      return;
    case StoreTask::Kind::kServe: {
      auto frame = std::make_shared<Bytes>();
      // The store reads all n bytes into the frame or fails (the frame is
      // then dropped), so a recycled buffer's old bytes never go out.
      auto into = [this, ticket, frame](std::size_t n) {
        DataFrame f = core_.serve_frame(ticket, n, frame_buffer_ ? frame_buffer_(data_frame_bytes(n)) : Bytes());
        *frame = std::move(f.frame);
        return std::span<std::uint8_t>(*frame).subspan(f.data_offset, n);
      };
      store_->read_into(task.shard, task.offset, task.length, std::move(into), [this, ticket, now, frame](Status s) {
        core_.handle_serve_done(ticket, s, std::move(*frame), now, out_);
        drain(now);
      });
      return;
    }
    case StoreTask::Kind::kRemove:
      store_->remove(task.shard, task.token, [this, ticket, now](Status s) {
        core_.handle_remove_done(ticket, s, now, out_);
        drain(now);
      });
      return;
  }
}

InProcessNetwork::InProcessNetwork() : loop_(std::make_unique<uv_loop_t>()) {
  BC_ASSERT(uv_loop_init(loop_.get()) == 0);
}

InProcessNetwork::~InProcessNetwork() {
  uv_run(loop_.get(), UV_RUN_DEFAULT);  // finish anything still in flight
  providers_.clear();
  BC_ASSERT(uv_loop_close(loop_.get()) == 0);
}

Result<std::unique_ptr<InProcessNetwork>> InProcessNetwork::open(const std::vector<std::filesystem::path>& dirs,
                                                                 std::uint64_t capacity_bytes) {
  std::unique_ptr<InProcessNetwork> net(new InProcessNetwork());
  for (const auto& dir : dirs) {
    auto p = LocalProvider::open(net->loop_.get(), StoreOptions{dir, capacity_bytes, {}});
    if (!p.ok()) return p.status();
    net->peer_.push_back(net->next_peer_++);
    (*p)->connect(net->peer_.back(), net->now_);
    net->providers_.push_back(std::move(p).value());
    net->down_.push_back(false);
  }
  return net;
}

void InProcessNetwork::set_down(std::size_t provider, bool down) { down_.at(provider) = down; }

void ShardTransport::send(std::vector<Call> calls) {
  held_.insert(held_.end(), std::make_move_iterator(calls.begin()), std::make_move_iterator(calls.end()));
}

ShardTransport::Collected ShardTransport::collect() {
  Collected out;
  out.settled = true;
  if (held_.empty()) return out;
  std::map<std::size_t, std::size_t> unanswered;  // provider -> calls without an answer
  for (const Call& c : held_) ++unanswered[c.provider];
  out.answers = exchange(std::exchange(held_, {}));
  for (const Answer& a : out.answers)
    if (auto it = unanswered.find(a.provider); it != unanswered.end() && it->second > 0) --it->second;
  for (const auto& [provider, n] : unanswered)
    if (n > 0) out.gave_up.push_back(provider);
  return out;
}

std::vector<ShardTransport::Answer> InProcessNetwork::exchange(std::vector<Call> calls) {
  for (auto& c : calls) {
    BC_ASSERT(c.provider < providers_.size());
    if (!down_[c.provider]) providers_[c.provider]->deliver(peer_[c.provider], std::move(c.request), now_);
  }
  uv_run(loop_.get(), UV_RUN_DEFAULT);
  std::vector<Answer> answers;
  for (std::size_t i = 0; i < providers_.size(); ++i) {
    BC_ASSERT(providers_[i]->idle());
    for (auto& f : providers_[i]->take_frames())
      if (f.to == peer_[i]) answers.push_back({i, std::move(f.payload)});
    for (PeerId d : providers_[i]->take_disconnects()) {
      // The core dropped us: connect again, as a new connection (new id).
      BC_ASSERT(d == peer_[i]);
      peer_[i] = next_peer_++;
      providers_[i]->connect(peer_[i], now_);
    }
  }
  return answers;
}

}  // namespace bc::storage
