// libFuzzer: arbitrary bytes into the relay request decoder
// (sal/host/relay.hpp). A request is fixed-size, so the decoder must refuse
// every other length; what it accepts must re-encode to the same bytes and
// name a usable target (a port, a specified address).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <algorithm>

#include "layers/asio_endpoint.hpp"
#include "sal/host/relay.hpp"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const bc::ByteView in{data, size};
  const auto req = bc::sal::decode_relay_request(in);
  if (!req) return 0;
  check(size == bc::sal::kRelayRequestSize);
  check(req->target.port != 0);
  check(!bc::to_asio_address(req->target).is_unspecified());
  const auto again = bc::sal::encode_relay_request(*req);
  check(std::equal(again.begin(), again.end(), data));
  return 0;
}
