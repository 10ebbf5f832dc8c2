#include "apps/cli/progress.hpp"

#include <unistd.h>

#include <cstdio>

#include "apps/cli/format.hpp"

namespace bc::cli {

Progress::Progress(std::string verb, std::uint64_t total)
    : verb_(std::move(verb)), total_(total), on_(::isatty(2) == 1) {}

Progress::~Progress() { finish(); }

void Progress::add(std::uint64_t n) {
  done_ += n;
  const auto now = std::chrono::steady_clock::now();
  if (!on_ || now - last_ < std::chrono::milliseconds(100)) return;
  last_ = now;
  draw(now);
}

void Progress::finish() {
  if (!on_ || finished_) return;
  finished_ = true;
  draw(std::chrono::steady_clock::now());
  std::fputc('\n', stderr);
}

void Progress::draw(std::chrono::steady_clock::time_point now) {
  const double s = std::chrono::duration<double>(now - start_).count();
  const double rate = s > 0 ? static_cast<double>(done_) / s : 0;
  const double percent = total_ ? 100.0 * static_cast<double>(done_) / static_cast<double>(total_) : 100.0;
  std::fprintf(stderr, "\r%s %s / %s (%3.0f%%) %s/s   ", verb_.c_str(), human_bytes(done_).c_str(),
               human_bytes(total_).c_str(), percent, human_bytes(static_cast<std::uint64_t>(rate)).c_str());
  std::fflush(stderr);
}

}  // namespace bc::cli
