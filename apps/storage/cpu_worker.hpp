// One background thread for the client pipeline's CPU work (sealing,
// Reed-Solomon, SHA-256 of shards, building requests), so that the calling
// thread keeps driving the network while it runs (docs/storage.md "Client
// pipeline"). Each StorageClient (pipeline.hpp) owns one.
//
// Jobs run one at a time, in the order submitted. A job may touch only what
// the submitter hands over to it until take_done() reports its tag; the lock
// around the queues orders its writes before that report.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace bc::storage {

class CpuWorker {
 public:
  // on_done runs on the worker thread after each job, once the job is
  // reported (a transport's wake()).
  explicit CpuWorker(std::function<void()> on_done);
  // Waits for the job under way; jobs not yet started are dropped.
  ~CpuWorker();
  CpuWorker(const CpuWorker&) = delete;
  CpuWorker& operator=(const CpuWorker&) = delete;

  void submit(std::uint64_t tag, std::function<void()> job);
  // Tags of the jobs finished since the last call, in the order they ran.
  std::vector<std::uint64_t> take_done();
  // Blocks until a finished job waits to be taken; at once when none is
  // waiting and none is queued or running.
  void wait_done();
  // Jobs submitted and not yet taken by take_done().
  std::size_t unfinished() const { return unfinished_; }

 private:
  void run();

  std::function<void()> on_done_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<std::uint64_t, std::function<void()>>> queue_;
  std::vector<std::uint64_t> done_;
  std::size_t unfinished_ = 0;  // the submitter's thread only
  bool running_ = false;
  bool stop_ = false;
  std::thread thread_;  // last: started once the members above exist
};

}  // namespace bc::storage
