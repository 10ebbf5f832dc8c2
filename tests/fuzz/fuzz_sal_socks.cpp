// libFuzzer: arbitrary bytes into the SOCKS5 server negotiator
// (sal/gateways/socks5.hpp). The first byte picks a chunk size so byte-at-a-time and
// bulk delivery are both explored, and one of its bits whether the gateway
// requires RFC 1929 credentials; the result must not depend on chunking,
// consumption and output stay within the protocol's bounds, and a connect
// outcome (success or a failure code) is applied when a request completes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <algorithm>

#include "sal/gateways/socks5.hpp"

using bc::ByteView;
using bc::sal::socks5::Reply;
using bc::sal::socks5::ServerNegotiator;
using bc::sal::socks5::UserPass;

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t chunk = 1 + data[0] % 17;
  const ByteView in{data + 1, size - 1};
  static const UserPass creds("user", "pass");
  const UserPass* auth = (data[0] & 0x40) ? &creds : nullptr;

  ServerNegotiator chunked(auth);
  std::size_t used = 0;
  while (used < in.size()) {
    const auto n = std::min(chunk, in.size() - used);
    const auto took = chunked.feed(in.subspan(used, n));
    check(took <= n);
    used += took;
    if (took < n) break;
  }
  ServerNegotiator whole(auth);
  const auto took_whole = whole.feed(in);
  check(took_whole == used);
  check(whole.state() == chunked.state());
  check(whole.output() == chunked.output());
  check(used <= bc::sal::socks5::kMaxGreetingBytes + bc::sal::socks5::kMaxAuthBytes +
                    bc::sal::socks5::kMaxRequestBytes);
  check(chunked.output().size() <= 2 + (auth ? 2 : 0) + 10);
  if (!auth) check(chunked.state() != ServerNegotiator::State::kAuth);
  if (chunked.failed()) check(!chunked.error().empty());

  if (chunked.state() == ServerNegotiator::State::kConnecting) {
    if (data[0] & 0x80) {
      chunked.connect_succeeded();
      check(chunked.state() == ServerNegotiator::State::kEstablished);
      check(chunked.feed(in) == 0);  // later bytes are application data
    } else {
      chunked.connect_failed(static_cast<Reply>(data[0] % 9));
      check(chunked.failed());
    }
  }
  return 0;
}
