// A progress line for long CLI work (a put, a get, a repair).
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace bc::cli {

// "put 12.0 MiB / 48.0 MiB ( 25%) 30.1 MiB/s" on stderr, redrawn in place at
// most 10 times a second, and only when stderr is a terminal (so scripts and
// logs get no control characters). finish() ends the line; the destructor
// calls it.
class Progress {
 public:
  Progress(std::string verb, std::uint64_t total);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;
  void add(std::uint64_t n);
  void finish();

 private:
  void draw(std::chrono::steady_clock::time_point now);
  std::string verb_;
  std::uint64_t total_, done_ = 0;
  bool on_, finished_ = false;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now(), last_{};
};

}  // namespace bc::cli
