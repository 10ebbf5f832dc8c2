// libFuzzer target: hostile bytes -> the put journal parser (a journal file
// may be damaged by a crash or by hand). A parse that succeeds must keep
// whole records only: re-encoding them gives back exactly the valid prefix,
// and every segment carries the header's number of roots.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "apps/storage/put_journal.hpp"

using namespace bc;
using namespace bc::storage;

namespace {
void require(bool ok) {
  if (!ok) __builtin_trap();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const ByteView in(data, size);
  auto parsed = parse_put_journal(in, "fuzz.journal");
  if (!parsed.ok()) {
    require(!parsed.status().message.empty());
    return 0;
  }
  require(parsed->valid_bytes <= size);
  Bytes again;
  if (parsed->header) {
    const std::size_t roots = std::size_t{parsed->header->data_shards + parsed->header->parity_shards} * 32;
    again = encode_put_journal_record(*parsed->header);
    for (const auto& seg : parsed->segments) {
      require(seg.roots.size() == roots);
      const Bytes rec = encode_put_journal_record(seg);
      again.insert(again.end(), rec.begin(), rec.end());
    }
  } else {
    require(parsed->segments.empty());
  }
  require(again.size() == parsed->valid_bytes);
  require(again.empty() || std::memcmp(again.data(), data, again.size()) == 0);
  return 0;
}
