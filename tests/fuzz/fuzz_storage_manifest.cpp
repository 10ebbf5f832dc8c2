// libFuzzer target: hostile bytes -> the manifest decoder and the envelope
// opener.
//
// A decoded manifest must pass check_manifest (so every root index the
// client computes from its shape is in range) and re-encode to bytes that
// decode to the same manifest. The envelope opener must refuse anything not
// sealed with the key (the fuzzer cannot forge a GCM tag), with a reason.
#include <cstddef>
#include <cstdint>

#include "apps/storage/manifest.hpp"

using namespace bc;
using namespace bc::storage;

namespace {
void require(bool ok) {
  if (!ok) __builtin_trap();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const ByteView in(data, size);
  auto m = decode_manifest(in);
  if (!m.ok()) {
    require(!m.status().message.empty());
  } else {
    require(check_manifest(*m).ok());
    const std::uint64_t segments = m->shape.segment_count();
    if (segments > 0) (void)m->root(segments - 1, m->shape.total_shards() - 1);
    auto again = decode_manifest(encode_manifest(*m));
    require(again.ok());
    require(again->shard_roots == m->shard_roots && again->name == m->name);
    require(again->shape.file_size == m->shape.file_size && again->file_salt == m->file_salt);
  }
  static const Key256 master{};
  auto opened = open_manifest(master, in);
  require(!opened.ok() && !opened.status().message.empty());
  return 0;
}
