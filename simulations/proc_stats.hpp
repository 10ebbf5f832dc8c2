// Process figures for run summaries.
#pragma once
#include <chrono>
#include <sys/resource.h>

namespace bc::sim {

// Peak resident set size of this process in MiB (getrusage: ru_maxrss is KiB on Linux).
inline double peak_rss_mib() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;
}

class WallTimer {
 public:
  double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

 private:
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

}  // namespace bc::sim
