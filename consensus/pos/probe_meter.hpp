// What one generic probe measures (docs/proof-of-service.md, "Generic
// probe"): the bytes an auditor writes and how it grades what comes back.
// Pure and bounded: a hostile answer of any size costs at most
// kMaxProbeResponseBytes of reading and kMaxProbeLineBytes of memory.
#pragma once
#include <cstddef>
#include <cstdint>

#include "consensus/pos/probe_core.hpp"
#include "layers/bytes.hpp"
#include "layers/runtime.hpp"

namespace bc::pos {

// Bytes read of one answer at most; the rest is never read (the flow is closed).
inline constexpr std::size_t kMaxProbeResponseBytes = 1u << 20;
// The first line is hashed up to this many bytes.
inline constexpr std::size_t kMaxProbeLineBytes = 8192;

// The offer's probe_request as a client sends it: the request, then a
// blank line ("\r\n\r\n") unless it already ends with "\n" (an HTTP request
// line such as "GET / HTTP/1.1" becomes a complete request).
Bytes probe_wire_request(const Bytes& probe_request);

// Measures one answer from the moment its request was written:
//   response_hash  sha256 of the first line without its line end ("\r\n" or
//                  "\n"), or of the first kMaxProbeLineBytes bytes when no
//                  line end comes before them or before the answer ends
//                  (an HTTP answer: its status line, which the offer's
//                  expected_response_hash names);
//   ttfb_ms        request written -> first byte;
//   throughput_bps bytes read * 1000 / ms from the request to the last byte.
class ResponseMeter {
 public:
  explicit ResponseMeter(TimeMs request_sent_at) : sent_at_(request_sent_at) {}
  // Bytes as they arrive; false once kMaxProbeResponseBytes are read (stop reading).
  bool on_bytes(ByteView bytes, TimeMs now);
  bool answered() const { return total_ > 0; }
  // REQUIRES: answered().
  ProbeAnswer answer(std::uint32_t connect_ms) const;

 private:
  TimeMs sent_at_;
  TimeMs first_at_ = 0, last_at_ = 0;
  std::size_t total_ = 0;
  Bytes line_;
  bool line_done_ = false;
};

}  // namespace bc::pos
