// Internals shared by the files that implement sal::Session (session.cpp,
// session_open.cpp, session_stream.cpp, session_credit.cpp, session_resume.cpp).
#pragma once
#include <cstdint>

#include "layers/metrics.hpp"
#include "sal/session/detail/flow.hpp"
#include "sal/session/session.hpp"

namespace bc::sal {

inline Reason reason_from_wire(std::uint8_t code) {
  return code <= static_cast<std::uint8_t>(Reason::kSessionError) ? static_cast<Reason>(code) : Reason::kNone;
}

struct Session::Metrics {
  metrics::Registry& reg;
  metrics::Counter* rx[kFrameTypeCount] = {};
  metrics::Counter* tx[kFrameTypeCount] = {};
  metrics::Gauge& flows_open;
  metrics::Counter& resume_ok;
  metrics::Counter& resume_failed;
  metrics::Counter& retransmitted;

  explicit Metrics(metrics::Registry& r)
      : reg(r),
        flows_open(r.gauge("bc_sal_flows_open", "Flows open in all SAL sessions")),
        resume_ok(r.counter("bc_sal_resumes_total", "Flow resumptions after a transport change",
                            {{"result", "ok"}})),
        resume_failed(r.counter("bc_sal_resumes_total", "Flow resumptions after a transport change",
                                {{"result", "failed"}})),
        retransmitted(r.counter("bc_sal_bytes_retransmitted_total",
                                "Flow bytes sent again after a transport change")) {
    for (int t = 1; t < kFrameTypeCount; ++t) {
      const char* name = to_string(static_cast<FrameType>(t));
      rx[t] = &r.counter("bc_sal_frames_total", "SAL frames by direction and type",
                         {{"dir", "rx"}, {"type", name}});
      tx[t] = &r.counter("bc_sal_frames_total", "SAL frames by direction and type",
                         {{"dir", "tx"}, {"type", name}});
    }
  }
  void drop(const char* reason) {
    reg.counter("bc_sal_frame_drops_total", "SAL frames dropped or refused, by reason", {{"reason", reason}})
        .inc();
  }
};

}  // namespace bc::sal
