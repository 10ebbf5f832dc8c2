// libFuzzer target: hostile bytes -> decode_record -> check_record -> Store.
//
// Checks that the codec never crashes or accepts out-of-range sizes, that a
// decoded record re-encodes to something that decodes to the same record,
// and that the store keeps its bounds whatever record it is handed (the
// fuzzer cannot forge signatures, so records go to the store unverified: the
// store must stay sane even if a caller forgets the check).
#include <cstddef>
#include <cstdint>

#include "routing/record.hpp"
#include "routing/record_codec.hpp"
#include "routing/store.hpp"

using namespace bc;
using namespace bc::routing;

namespace {

constexpr TimeMs kNow = 1'700'000'000'000;
constexpr TimeMs kMaxTtl = 24 * 3600 * 1000;

Store& store() {
  static Store s([] {
    StoreLimits l;
    l.max_bytes = 64 * 1024;
    l.max_values_per_key = 4;
    l.max_load_keys = 64;
    return l;
  }());
  return s;
}

void require(bool ok) {
  if (!ok) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  RecordDecodeError err = RecordDecodeError::kNone;
  auto r = decode_record(ByteView(data, size), &err);
  if (!r) {
    require(err != RecordDecodeError::kNone);
    return 0;
  }
  require(err == RecordDecodeError::kNone);
  require(r->payload.size() <= kMaxPayloadBytes);

  auto again = decode_record(encode_record(*r));
  require(again.has_value() && *again == *r);

  const RecordError check = check_record(*r, kNow, kMaxTtl);
  require(check != RecordError::kOversized);
  (void)to_string(check);

  Store& s = store();
  // Time moves with the input so expiry and load windows are exercised too.
  const TimeMs now = kNow + static_cast<TimeMs>(r->seq % 1'000'000);
  s.note_request(r->key, now);
  (void)s.put(*r, now);
  // now > 0, so expires_at - now cannot overflow when expires_at > now.
  const TimeMs ttl = r->expires_at > now ? r->expires_at - now : 0;
  (void)s.is_full(r->key, ttl, now);
  (void)s.is_loaded(r->key, now);
  for (const auto& held : s.get(r->key, now)) require(held.expires_at > now);
  require(s.bytes() <= s.limits().max_bytes);
  require(s.get(r->key, INT64_MIN).size() <= s.limits().max_values_per_key);
  require(s.load_keys() <= s.limits().max_load_keys);
  if (r->seq % 7 == 0) s.expire(now);
  return 0;
}
