#include "layers/assert.hpp"

#include <cstdarg>
#include <cstdio>
#include <cstdlib>

namespace bc::detail {

void assertion_failed(const char* expr, const char* file, int line, const char* fmt, ...) {
  std::fprintf(stderr, "assertion failed: %s at %s:%d", expr, file, line);
  if (fmt != nullptr) {
    std::fputs(": ", stderr);
    va_list args;
    va_start(args, fmt);
    std::vfprintf(stderr, fmt, args);
    va_end(args);
  }
  std::fputc('\n', stderr);
  std::fflush(stderr);
  std::abort();
}

}  // namespace bc::detail
