// The auditor's probe core (docs/proof-of-service.md, "Probe schedule",
// "Probes look like clients"): sans-I/O (layers/core.hpp).
//
// For one epoch it holds the auditor's offers and probe secret, asks the
// driver to send each probe at its secret time (ProbeCore::Event::send), re-sends
// a probe that timed out, or was answered correctly but too slowly,
// unchanged after retry_gap_ms, at most max_attempts in all, grades each
// answer against the offer, and at
// finish_epoch() signs one Report per offer. A storage offer's probe is an
// audit challenge (ledger/pos/storage_proof.hpp); a wrong answer its
// provider signed goes into the report as StorageEvidence. The driver carries a probe as
// an ordinary client request over a fresh SAL client identity and answers
// with handle_answer(); the core never sees a socket or a clock.
#pragma once
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <vector>

#include "ledger/pos/schedule.hpp"
#include "ledger/pos/storage_proof.hpp"
#include "ledger/pos/types.hpp"
#include "layers/core.hpp"

namespace bc::pos {

// What a storage offer's probe asks (docs/proof-of-service.md "Storage
// offers and the storage probe"): the driver looks up shard `challenge.chunk`
// in the offer's chunk list (root storage_root, storage_chunks entries) and
// sends AuditRequest{that shard, challenge.seed}.
struct StorageProbe {
  StorageChallenge challenge;
  Hash256 storage_root;
  std::uint64_t storage_chunks = 0;
};

// What the driver got for a storage probe: the chunk's path in the offer's
// list, and the provider's audit answer about it (shard and seed as asked;
// nullopt when the provider answered with a failure).
struct StorageReply {
  std::vector<Hash256> chunk_path;
  std::optional<StorageAnswer> answer;
};

// What the driver measured for one attempt.
struct ProbeAnswer {
  std::uint32_t connect_ms = 0;
  std::uint32_t ttfb_ms = 0;
  std::uint64_t throughput_bps = 0;
  Hash256 response_hash;
  std::optional<StorageReply> storage;  // a storage probe's; nullopt there: no usable answer (graded wrong)
};

struct ProbeSend {
  std::uint64_t probe_id = 0;  // unique per attempt; echo it in handle_answer
  Hash256 offer_id;
  Hash256 service_id;
  Bytes request;                        // a generic offer's probe request
  std::optional<StorageProbe> storage;  // set for a storage offer
  std::uint8_t attempt = 1;
};

// Storage evidence a report carries at most: one verified wrong answer
// convicts, and a report must fit a transaction (max_tx_bytes).
inline constexpr std::size_t kMaxReportEvidence = 1;

class ProbeCore final : public Core {
 public:
  // probe_timeout_ms: how long one attempt may stay unanswered.
  ProbeCore(KeyPair key, PosParams params, std::uint64_t probe_timeout_ms);

  // Starts epoch `epoch` at `epoch_start` with the secret committed for it.
  // Precondition: the previous epoch is finished.
  void start_epoch(std::uint64_t epoch, TimeMs epoch_start, const Hash256& secret, std::vector<Offer> offers);
  // Grades every open probe as timed out and returns one signed report per offer.
  std::vector<Report> finish_epoch();

  void handle_answer(std::uint64_t probe_id, const ProbeAnswer& answer, TimeMs now, Outbox& out);
  // The attempt ended with no answer before its deadline (the flow could
  // not open, or closed unanswered): re-sent after retry_gap_ms, not after
  // the whole timeout, or graded timed out on the last attempt.
  void handle_no_answer(std::uint64_t probe_id, TimeMs now, Outbox& out);
  void on_tick(TimeMs now, Outbox& out) override;
  TimeMs next_wakeup() const override;

  std::optional<ProbeSend> poll_send();

  struct Counters {
    std::uint64_t sent = 0, passed = 0, failed = 0, contained = 0;  // contained: re-sent after a timeout or a slow answer
  };
  const Counters& counters() const { return counters_; }

 private:
  struct Pending {
    const Offer* offer = nullptr;
    std::size_t slot = 0;  // index into reports_
    std::uint32_t index = 0;
    std::uint8_t attempt = 0;
    TimeMs due = 0;        // next send, or the attempt's deadline once sent
    bool in_flight = false;
  };
  void send(std::uint64_t id, Pending& p, TimeMs now);
  // Schedules the same probe again retry_gap_ms after now, under a new id.
  void retry(std::map<std::uint64_t, Pending>::iterator it, TimeMs now);
  void record(const Pending& p, ProbeOutcome outcome, const ProbeAnswer& answer);
  ProbeOutcome grade(const Pending& p, const ProbeAnswer& a) const;
  ProbeOutcome grade_storage(const Pending& p, const ProbeAnswer& a) const;
  StorageChallenge challenge_of(const Pending& p) const;
  // Keeps a wrong signed storage answer as evidence in its report.
  void keep_evidence(const Pending& p, const ProbeAnswer& a);

  KeyPair key_;
  PosParams params_;
  std::uint64_t probe_timeout_ms_;
  std::vector<Offer> offers_;
  std::vector<Report> reports_;
  std::map<std::uint64_t, Pending> pending_;  // by probe id
  std::deque<ProbeSend> sends_;
  std::uint64_t next_id_ = 1;
  bool active_ = false;
  Counters counters_;
};

}  // namespace bc::pos
