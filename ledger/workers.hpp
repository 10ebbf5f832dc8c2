// A fixed pool of threads for data-parallel loops (signature checks, decoding).
//
// start(n, fn) hands out [0, n) in chunks to the workers and returns at once,
// so the caller can do sequential work meanwhile; wait() has the caller take
// remaining chunks too and returns when every index is done. One loop at a
// time per pool.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace bc::ledger {

class WorkerPool {
 public:
  // threads == 0: std::thread::hardware_concurrency().
  explicit WorkerPool(std::size_t threads = 0);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  std::size_t threads() const { return threads_.size(); }
  void start(std::size_t n, std::function<void(std::size_t)> fn, std::size_t chunk = 32);
  void wait();
  void run(std::size_t n, std::function<void(std::size_t)> fn, std::size_t chunk = 32) {
    start(n, std::move(fn), chunk);
    wait();
  }

 private:
  void worker();
  bool take_chunk();  // runs one chunk; false when none left

  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable cv_work_, cv_done_;
  std::function<void(std::size_t)> fn_;
  std::size_t n_ = 0, chunk_ = 32;
  std::uint64_t generation_ = 0;
  std::atomic<std::size_t> next_{0};
  std::atomic<std::size_t> done_{0};
  std::size_t active_ = 0;  // workers inside a loop (guarded by mu_)
  bool stop_ = false;
};

}  // namespace bc::ledger
