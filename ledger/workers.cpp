#include "ledger/workers.hpp"

#include <algorithm>

namespace bc::ledger {

WorkerPool::WorkerPool(std::size_t threads) {
  if (threads == 0) threads = std::max<std::size_t>(1, std::thread::hardware_concurrency());
  for (std::size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { worker(); });
}

WorkerPool::~WorkerPool() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_work_.notify_all();
  for (auto& t : threads_) t.join();
}

void WorkerPool::start(std::size_t n, std::function<void(std::size_t)> fn, std::size_t chunk) {
  std::unique_lock lock(mu_);
  // Workers still leaving the previous loop must not see half-set fields.
  cv_done_.wait(lock, [&] { return active_ == 0; });
  fn_ = std::move(fn);
  n_ = n;
  chunk_ = std::max<std::size_t>(1, chunk);
  next_.store(0);
  done_.store(0);
  ++generation_;
  cv_work_.notify_all();
}

bool WorkerPool::take_chunk() {
  std::size_t begin = next_.fetch_add(chunk_);
  if (begin >= n_) return false;
  std::size_t end = std::min(n_, begin + chunk_);
  for (std::size_t i = begin; i < end; ++i) fn_(i);
  if (done_.fetch_add(end - begin) + (end - begin) == n_) {
    std::lock_guard lock(mu_);
    cv_done_.notify_all();
  }
  return true;
}

void WorkerPool::wait() {
  while (take_chunk()) {
  }
  std::unique_lock lock(mu_);
  cv_done_.wait(lock, [&] { return done_.load() >= n_; });
}

void WorkerPool::worker() {
  std::uint64_t seen = 0;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      cv_work_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      ++active_;
    }
    while (take_chunk()) {
    }
    std::lock_guard lock(mu_);
    if (--active_ == 0) cv_done_.notify_all();
  }
}

}  // namespace bc::ledger
