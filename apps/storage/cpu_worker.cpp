#include "apps/storage/cpu_worker.hpp"

#include "layers/assert.hpp"

namespace bc::storage {

CpuWorker::CpuWorker(std::function<void()> on_done) : on_done_(std::move(on_done)), thread_([this] { run(); }) {}

CpuWorker::~CpuWorker() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
    queue_.clear();
  }
  cv_.notify_all();
  thread_.join();
}

void CpuWorker::submit(std::uint64_t tag, std::function<void()> job) {
  BC_ASSERT(job);
  {
    std::lock_guard lock(mu_);
    queue_.emplace_back(tag, std::move(job));
  }
  ++unfinished_;
  cv_.notify_all();
}

std::vector<std::uint64_t> CpuWorker::take_done() {
  std::vector<std::uint64_t> out;
  {
    std::lock_guard lock(mu_);
    out.swap(done_);
  }
  BC_ASSERT(out.size() <= unfinished_);
  unfinished_ -= out.size();
  return out;
}

void CpuWorker::wait_done() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [this] { return !done_.empty() || (queue_.empty() && !running_); });
}

void CpuWorker::run() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
    if (stop_) return;
    auto [tag, job] = std::move(queue_.front());
    queue_.pop_front();
    running_ = true;
    lock.unlock();
    job();
    lock.lock();
    running_ = false;
    done_.push_back(tag);
    cv_.notify_all();
    if (on_done_) {
      lock.unlock();
      on_done_();
      lock.lock();
    }
  }
}

}  // namespace bc::storage
