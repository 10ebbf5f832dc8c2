// Carries a ProbeCore's probes as ordinary client flows (docs/proof-of-service.md,
// "Probes look like clients"): each probe gets a sal::Host of its own with a
// freshly generated key, so no key links two probes or a probe to the
// auditor, and reaches the offer's service ID over the same resolve, dial,
// TLS handshake and OPEN as any client. It writes probe_wire_request(),
// reads the answer (at most kMaxProbeResponseBytes) and measures it with a
// ResponseMeter.
//
// Threads: the io_context's thread only. The probe host never listens.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>

#include <boost/asio/io_context.hpp>

#include "consensus/pos/probe_core.hpp"
#include "layers/metrics.hpp"
#include "sal/host/host.hpp"

namespace bc::pos {

class ProbeClient {
 public:
  // nullopt: no answer (no provider, unreachable, refused, nothing read in time).
  using Done = std::function<void(std::optional<ProbeAnswer>)>;
  // hooks: how the node resolves service IDs (sal::host_hooks of its stack;
  // proof_for is replaced: a probe host serves nothing). source: the node's
  // flow address; probe connections leave from its IP. timeout_ms: an
  // attempt ends then, with what was read by then.
  ProbeClient(boost::asio::io_context& io, sal::HostHooks hooks, Endpoint source, TimeMs timeout_ms);
  ~ProbeClient();  // ends the probes under way; their Done never runs
  ProbeClient(const ProbeClient&) = delete;
  ProbeClient& operator=(const ProbeClient&) = delete;

  void probe(const ProbeSend& send, Done done);
  std::size_t in_flight() const { return probes_.size(); }

 private:
  struct Probe;
  void finish(const std::shared_ptr<Probe>& p);
  void read(const std::shared_ptr<Probe>& p);

  boost::asio::io_context& io_;
  sal::HostHooks hooks_;
  Endpoint source_;
  TimeMs timeout_ms_;
  metrics::Registry host_metrics_;  // the probe hosts' own counters, apart from the node's
  std::map<std::uint64_t, std::shared_ptr<Probe>> probes_;
  std::uint64_t next_ = 1;
};

}  // namespace bc::pos
