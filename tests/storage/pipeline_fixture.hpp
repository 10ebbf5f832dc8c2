// Shared by the pipeline and repair suites: in-process providers, a fixed
// master key, put options and byte sources and sinks over vectors.
#pragma once
#include <doctest/doctest.h>

#include <memory>

#include "apps/storage/pipeline.hpp"
#include "tests/storage/helpers.hpp"

namespace bc::storage::test {

inline constexpr std::uint32_t kSegment = 64u << 10;

struct Net {
  std::vector<std::unique_ptr<TempDir>> dirs;
  std::unique_ptr<InProcessNetwork> net;

  explicit Net(std::size_t n, std::uint64_t capacity = 64u << 20) {
    std::vector<std::filesystem::path> paths;
    for (std::size_t i = 0; i < n; ++i) {
      dirs.push_back(std::make_unique<TempDir>());
      paths.push_back(dirs.back()->path());
    }
    auto r = InProcessNetwork::open(paths, capacity);
    REQUIRE(r.ok());
    net = std::move(r).value();
  }
};

inline Key256 master_key() {
  Key256 k{};
  for (std::size_t i = 0; i < k.size(); ++i) k[i] = static_cast<std::uint8_t>(i * 7 + 1);
  return k;
}

inline PutOptions options(std::vector<std::size_t> placement = {0, 1, 2, 3, 4, 5}) {
  PutOptions o;
  o.segment_size = kSegment;
  o.expires_at = 10'000'000;
  o.placement = std::move(placement);
  return o;
}

// A source over a byte vector that hands out odd-sized pieces.
inline Source source_of(const Bytes& data) {
  auto pos = std::make_shared<std::size_t>(0);
  return [&data, pos](std::span<std::uint8_t> out) -> Result<std::size_t> {
    const std::size_t n = std::min({out.size(), data.size() - *pos, std::size_t{7777}});
    std::copy_n(data.begin() + *pos, n, out.begin());
    *pos += n;
    return n;
  };
}

inline Result<Bytes> get_all(StorageClient& c, const StoredFile& f) {
  Bytes out;
  Status s = c.get(f, [&](ByteView d) {
    out.insert(out.end(), d.begin(), d.end());
    return Status::success();
  });
  if (!s.ok()) return s;
  return out;
}


}  // namespace bc::storage::test
