// libFuzzer target: hostile DHT payloads -> the storage directory's
// advertisement decoder (apps/storage/net/directory.hpp).
//
// An accepted payload must be exactly one advertisement: it re-encodes to
// the same bytes, never claims more free space than capacity, and its owner
// key (version 3) names its service ID.
#include <cstddef>
#include <algorithm>
#include <cstdint>

#include "apps/storage/net/directory.hpp"
#include "sal/records/service_id.hpp"

using namespace bc;
using namespace bc::storage;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const ByteView in(data, size);
  auto ad = decode_provider_ad(in);
  if (!ad) return 0;
  const Bytes again = encode_provider_ad(*ad);
  if (again.size() != size || !std::equal(again.begin(), again.end(), data)) __builtin_trap();
  if (ad->free_bytes > ad->capacity_bytes) __builtin_trap();
  // An owner always names the advertised service: no ad pays another provider's account.
  if (ad->owner && sal::service_id_of(*ad->owner, kStorageServiceName) != ad->service) __builtin_trap();
  return 0;
}
