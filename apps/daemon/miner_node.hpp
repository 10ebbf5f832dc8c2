// The miner on a validator node (docs/proof-of-service.md, "The auditor on
// a node"; docs/operator-guide.md, "Audits"): it makes the node an auditor.
//   ledger thread, after every commit: posCommit for the coming epochs and
//     posReveal in the epoch before (auditor_plan.hpp), the epoch's
//     assignment read from the node's own ledger when the epoch begins, the
//     signed reports sent as posReport through the node's mempool and
//     gossip, and whether they were included;
//   io thread: the probes (pos::AuditRunner over pos::ProbeClient).
// The probe secret and seed reveal come from the auditor key
// (auditor_secrets.hpp), so a restart loses nothing but the probes under way.
#pragma once
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/json/value.hpp>

#include "consensus/pos/audit_runner.hpp"
#include "ledger/ledger.hpp"
#include "ledger/mempool.hpp"
#include "sal/host/host.hpp"

namespace bc::apps {

struct MinerConfig {
  KeyPair auditor_key;  // the consensus key: it commits, probes and signs reports
  // The validator account that sends the commitments and reports; unset: the
  // auditor key's own account (the devnet's layout).
  std::optional<KeyPair> account_key;
  sal::HostHooks probe_hooks;  // how probes resolve service IDs (the node's SAL)
  Endpoint probe_source;       // the node's flow address: probes leave from its IP
  TimeMs probe_timeout_ms = 5000;
  // Nodes a probe may be relayed through (docs/proof-of-service.md, "Probes
  // look like clients"), asked on the io thread: each one's node ID and flow
  // endpoint. Empty: probes dial from this node's address (--no-probe-relay).
  std::function<std::vector<std::pair<NodeId, Endpoint>>()> probe_relays;
};

class MinerNode {
 public:
  using Post = std::function<void(std::function<void()>)>;
  // Ledger thread: admits a tx to the mempool and gossips it; why not otherwise.
  using Submit = std::function<Status(ledger::Tx)>;
  // Made on the ledger thread; post_io / post_ledger run work on the other thread.
  MinerNode(boost::asio::io_context& io, MinerConfig cfg, ledger::Ledger& ledger, ledger::Mempool& mempool,
            metrics::Registry& metrics, Post post_io, Post post_ledger, Submit submit);
  ~MinerNode();

  void on_committed(TimeMs now);  // ledger thread, after every committed block
  void stop_io();                 // io thread, before the ledger thread ends

  // Ledger thread: miner_status and miner_reports (newest first, at most `limit`).
  boost::json::value status() const;
  boost::json::value reports(std::size_t limit) const;

 private:
  enum class Duty : std::uint8_t { kCommit, kReveal, kReport };
  struct Sent {  // a tx of ours in the mempool
    Duty duty;
    std::uint64_t epoch = 0;
  };
  struct EpochAudit {
    std::string state;  // probing, reported, no_commitment, no_assignment
    std::vector<Hash256> offers;
  };
  struct ReportEntry {
    pos::Report report;
    Hash256 tx;
    std::string status;  // pending, included, dropped: ..., expired
    unsigned sends = 0;
  };
  void forget_settled_txs();
  void send_commitments(std::uint64_t next_height);
  void start_epoch_if_due(std::uint64_t head, TimeMs now);
  void track_reports(std::uint64_t next_height);
  void submit_reports(std::uint64_t epoch, std::vector<pos::Report> reports);
  Status send(ledger::TxPayload payload, Duty duty, std::uint64_t epoch, Hash256* id = nullptr);
  std::vector<Endpoint> pick_relays();  // io thread

  MinerConfig cfg_;
  ledger::Ledger& ledger_;
  ledger::Mempool& mempool_;
  KeyPair account_;
  ledger::Address account_address_;
  Post post_io_, post_ledger_;
  Submit submit_;
  metrics::Counter& m_commits_;
  metrics::Counter& m_reveals_;
  metrics::Counter& m_reports_submitted_;
  metrics::Counter& m_reports_included_;
  pos::AuditCounters m_probes_;
  // ---- ledger thread ----
  std::map<Hash256, Sent> sent_;  // by tx id, while pending
  std::map<std::uint64_t, EpochAudit> epochs_;  // the recent epochs this node considered
  std::deque<ReportEntry> reports_;             // newest last, at most kKeptReports
  std::string last_error_;
  static constexpr std::size_t kKeptReports = 256, kKeptEpochs = 16;
  // ---- io thread ----
  std::unique_ptr<pos::ProbeClient> client_;
  std::unique_ptr<pos::AuditRunner> runner_;
  std::unordered_set<NodeId, Hash256Hasher> committee_nodes_;  // never a probe's relay
  Rng relay_rng_;
};

}  // namespace bc::apps
