// Carries a ProbeCore's probes as ordinary client flows (docs/proof-of-service.md,
// "Probes look like clients"): each probe gets a sal::Host of its own with a
// freshly generated key, so no key links two probes or a probe to the
// auditor, and reaches the offer's service ID over the same resolve, dial,
// TLS handshake and OPEN as any client. Over the open flow a ProbeExchange
// asks and measures: the generic one writes probe_wire_request() and reads
// the answer (at most kMaxProbeResponseBytes) with a ResponseMeter; a
// storage offer's comes from the storage service (set_storage_exchange),
// which consensus/ cannot import.
//
// Threads: the io_context's thread only. The probe host never listens.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "consensus/pos/probe_core.hpp"
#include "layers/metrics.hpp"
#include "sal/host/host.hpp"

namespace bc::pos {

// One probe's request and answer over its open flow.
class ProbeExchange {
 public:
  // nullopt: no answer.
  using Done = std::function<void(std::optional<ProbeAnswer>)>;
  virtual ~ProbeExchange() = default;
  // Takes the flow and calls done once, unless stop() comes first.
  // connect_ms: how long the flow took to open (goes into the answer).
  virtual void start(std::unique_ptr<sal::ByteStream> flow, std::uint32_t connect_ms, Done done) = 0;
  // Ends the exchange and closes the flow; done never runs after it.
  // Returns what was answered by now (nullopt: nothing usable). Idempotent.
  virtual std::optional<ProbeAnswer> stop() = 0;
};

// The nodes a probe's connection may be relayed through (their flow
// endpoints), so the provider sees a relay's address rather than the
// auditor's (docs/proof-of-service.md, "Probes look like clients"); asked
// once per probe. The first is used, the second for a provider at the
// first's own endpoint (sal::HostConfig::relays). Empty: the probe dials directly.
using RelayPicker = std::function<std::vector<Endpoint>(const sal::ServiceId&)>;

// Makes the exchange of one storage probe (send.storage is set). Shared:
// an exchange keeps itself alive through its pending reads and writes.
using StorageExchangeFactory = std::function<std::shared_ptr<ProbeExchange>(boost::asio::io_context&, const ProbeSend&)>;

class ProbeClient {
 public:
  using Done = ProbeExchange::Done;
  // hooks: how the node resolves service IDs (sal::host_hooks of its stack;
  // proof_for is replaced: a probe host serves nothing). source: the node's
  // flow address; probe connections leave from its IP. timeout_ms: an
  // attempt ends then, with what was answered by then.
  ProbeClient(boost::asio::io_context& io, sal::HostHooks hooks, Endpoint source, TimeMs timeout_ms);
  ~ProbeClient();  // ends the probes under way; their Done never runs
  ProbeClient(const ProbeClient&) = delete;
  ProbeClient& operator=(const ProbeClient&) = delete;

  // How storage offers are probed. Without it a storage probe gets no answer.
  void set_storage_exchange(StorageExchangeFactory make) { storage_exchange_ = std::move(make); }
  // Where each probe is relayed. Without it every probe dials directly.
  void set_relay_picker(RelayPicker pick) { relay_picker_ = std::move(pick); }

  void probe(const ProbeSend& send, Done done);
  std::size_t in_flight() const { return probes_.size(); }

 private:
  struct Probe;
  void finish(const std::shared_ptr<Probe>& p, std::optional<ProbeAnswer> answer);

  boost::asio::io_context& io_;
  sal::HostHooks hooks_;
  Endpoint source_;
  TimeMs timeout_ms_;
  StorageExchangeFactory storage_exchange_;
  RelayPicker relay_picker_;
  // The probe hosts' own counters, apart from the node's. Shared with each
  // probe: a probe (and its host) can outlive the client in a handler still
  // queued on the io_context, and its host writes gauges when it is torn down.
  std::shared_ptr<metrics::Registry> host_metrics_ = std::make_shared<metrics::Registry>();
  std::map<std::uint64_t, std::shared_ptr<Probe>> probes_;
  std::uint64_t next_ = 1;
};

}  // namespace bc::pos
