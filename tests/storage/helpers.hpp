// Shared by the storage suite: temporary directories, deterministic bytes,
// a libuv loop for direct shard-store tests.
#pragma once
#include <uv.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "apps/storage/local_provider.hpp"
#include "layers/assert.hpp"
#include "layers/runtime.hpp"

namespace bc::storage::test {

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "bc-storage-XXXXXX").string();
    BC_ASSERT(mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline Bytes test_bytes(std::size_t n, std::uint64_t seed) {
  Rng rng(seed);
  Bytes b(n);
  rng.fill(b);
  return b;
}

class Loop {
 public:
  Loop() { BC_ASSERT(uv_loop_init(&loop_) == 0); }
  ~Loop() {
    uv_run(&loop_, UV_RUN_DEFAULT);
    BC_ASSERT(uv_loop_close(&loop_) == 0);
  }
  uv_loop_t* get() { return &loop_; }
  void run() { uv_run(&loop_, UV_RUN_DEFAULT); }

 private:
  uv_loop_t loop_;
};

}  // namespace bc::storage::test
