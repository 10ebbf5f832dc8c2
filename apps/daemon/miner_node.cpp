// The miner's duties on the ledger thread and its probes on the io thread
// (apps/daemon/miner_node.hpp); its status JSON is in miner_status.cpp.
#include "apps/daemon/miner_node.hpp"

#include <spdlog/spdlog.h>

#include "apps/storage/net/storage_probe.hpp"
#include "consensus/pos/auditor_plan.hpp"
#include "consensus/pos/auditor_secrets.hpp"
#include "ledger/pos/codec.hpp"
#include "ledger/pos_ledger.hpp"
#include "ledger/validators.hpp"

namespace bc::apps {
using namespace bc::ledger;

namespace {
// A report tx that left the mempool without landing is sent again, at most this often in all.
constexpr unsigned kMaxReportSends = 3;
}  // namespace

MinerNode::MinerNode(boost::asio::io_context& io, MinerConfig cfg, Ledger& ledger, Mempool& mempool,
                     metrics::Registry& m, Post post_io, Post post_ledger, Submit submit)
    : cfg_(std::move(cfg)), ledger_(ledger), mempool_(mempool), account_(cfg_.account_key.value_or(cfg_.auditor_key)),
      account_address_(address_of(account_.public_key())), post_io_(std::move(post_io)),
      post_ledger_(std::move(post_ledger)), submit_(std::move(submit)),
      m_commits_(m.counter("bc_pos_commitments_sent_total", "posCommit transactions this miner sent")),
      m_reveals_(m.counter("bc_pos_reveals_sent_total", "posReveal transactions this miner sent")),
      m_reports_submitted_(m.counter("bc_pos_reports_total", "posReport transactions of this miner", {{"state", "submitted"}})),
      m_reports_included_(m.counter("bc_pos_reports_total", "posReport transactions of this miner", {{"state", "included"}})),
      m_probes_(pos::AuditCounters::in(m)),
      relay_rng_([] {
        std::uint64_t seed = 0;
        random_bytes(std::span<std::uint8_t>(reinterpret_cast<std::uint8_t*>(&seed), sizeof seed));
        return seed;
      }()) {
  // An attempt ends a little before the core's deadline, so what it read by then still counts.
  client_ = std::make_unique<pos::ProbeClient>(io, cfg_.probe_hooks, cfg_.probe_source, cfg_.probe_timeout_ms * 9 / 10);
  client_->set_storage_exchange(storage::storage_probe_exchange(std::make_shared<storage::ChunkListCache>()));
  if (cfg_.probe_relays) client_->set_relay_picker([this](const sal::ServiceId&) { return pick_relays(); });
  runner_ = std::make_unique<pos::AuditRunner>(
      io, *client_, cfg_.auditor_key, pos_params(ledger_.params()), cfg_.probe_timeout_ms, m_probes_,
      [this](std::uint64_t epoch, std::vector<pos::Report> reports) {
        post_ledger_([this, epoch, reports = std::move(reports)]() mutable { submit_reports(epoch, std::move(reports)); });
      });
}

MinerNode::~MinerNode() = default;

void MinerNode::stop_io() {
  if (runner_) runner_->stop();
  runner_.reset();
  client_.reset();
}

void MinerNode::on_committed(TimeMs now) {
  const std::uint64_t head = ledger_.head().height;
  forget_settled_txs();
  send_commitments(head + 1);
  start_epoch_if_due(head, now);
  track_reports(head + 1);
  // The committee's nodes, for pick_relays() on the io thread.
  std::vector<NodeId> committee;
  if (const auto* c = cfg_.probe_relays ? ledger_.committee_for(head + 1) : nullptr)
    for (const auto& member : c->members) committee.push_back(node_id_of(member.consensus_key));
  post_io_([this, head, length = ledger_.params().epoch_length, committee = std::move(committee)] {
    committee_nodes_ = {committee.begin(), committee.end()};
    if (runner_) runner_->on_head(head, length);
  });
}

// A probe's relays: three of the nodes this node knows, drawn uniformly
// without replacement, never the committee's (validators' addresses are
// public: a probe arriving from one would be recognised as an audit just as
// one from the auditor itself). The dial takes them in order, passing over
// the probed provider's own node (it cannot relay to itself: a direct probe
// would come from this validator's address) and a relay that is down or
// refuses for its own load, which says nothing of the provider
// (sal::HostConfig::relays). None known: the probe dials directly.
std::vector<Endpoint> MinerNode::pick_relays() {
  constexpr std::size_t kRelaysPerProbe = 3;
  auto nodes = cfg_.probe_relays();
  std::erase_if(nodes, [&](const auto& n) { return committee_nodes_.contains(n.first); });
  std::vector<Endpoint> picked;
  while (picked.size() < kRelaysPerProbe && !nodes.empty()) {
    const std::size_t i = relay_rng_.uniform(nodes.size());
    picked.push_back(nodes[i].second);
    nodes[i] = nodes.back();
    nodes.pop_back();
  }
  return picked;
}

// A tx of ours that left the mempool was included or dropped; the chain says which.
void MinerNode::forget_settled_txs() {
  for (auto it = sent_.begin(); it != sent_.end();) it = mempool_.contains(it->first) ? std::next(it) : sent_.erase(it);
}

void MinerNode::send_commitments(std::uint64_t next_height) {
  pos::CommitFacts f = pos::commit_facts(ledger_.state(), cfg_.auditor_key.public_key(), account_address_, next_height);
  for (const auto& [id, s] : sent_) {
    if (s.duty == Duty::kCommit) f.pending_commits.insert(s.epoch);
    if (s.duty == Duty::kReveal) f.pending_reveals.insert(s.epoch);
  }
  const pos::CommitPlan plan = pos::plan_commitments(f);
  const std::string& chain = ledger_.params().chain_id;
  for (std::uint64_t e : plan.commit)
    if (send(pos::commit_for(cfg_.auditor_key, chain, e), Duty::kCommit, e).ok()) m_commits_.inc();
  for (std::uint64_t e : plan.reveal)
    if (send(pos::reveal_for(cfg_.auditor_key, chain, e), Duty::kReveal, e).ok()) m_reveals_.inc();
}

// Once per epoch, as soon as its seed is on chain: the offers this auditor
// drew, probed from the epoch's start at the times its committed secret gives.
void MinerNode::start_epoch_if_due(std::uint64_t head, TimeMs now) {
  const ChainParams& p = ledger_.params();
  const std::uint64_t epoch = epoch_of(head, p);
  if (head == 0 || epochs_.count(epoch)) return;
  auto offers = pos::assigned_offers(ledger_.state(), cfg_.auditor_key.public_key(), epoch);
  if (!offers) return;  // no seed yet
  EpochAudit& a = epochs_[epoch];
  for (const auto& o : *offers) a.offers.push_back(pos::offer_id(o));
  while (epochs_.size() > kKeptEpochs) epochs_.erase(epochs_.begin());
  if (!ledger_.state().pos_commit(pos_commit_id(cfg_.auditor_key.public_key(), epoch))) {
    a.state = "no_commitment";  // its reports would be refused (bad_commitment)
    return;
  }
  if (offers->empty()) {
    a.state = "no_assignment";
    return;
  }
  a.state = "probing";
  // The epoch began with its first block; a node that starts late sends the probes already due at once.
  const TimeMs start = now - static_cast<TimeMs>(head - first_height_of(epoch, p)) * p.block_interval_ms;
  const Hash256 secret = pos::derive_auditor_secrets(cfg_.auditor_key, p.chain_id, epoch).probe_secret;
  spdlog::info("pos: auditing {} offer(s) in epoch {}", offers->size(), epoch);
  post_io_([this, epoch, start, secret, offers = std::move(*offers)]() mutable {
    if (runner_) runner_->start_epoch(epoch, start, secret, std::move(offers));
  });
}

void MinerNode::submit_reports(std::uint64_t epoch, std::vector<pos::Report> reports) {
  if (auto it = epochs_.find(epoch); it != epochs_.end()) it->second.state = "reported";
  for (auto& r : reports) {
    ReportEntry e{std::move(r), Hash256{}, "pending", 1};
    const Status s = send(PosReport{e.report}, Duty::kReport, epoch, &e.tx);
    if (!s.ok()) e.status = "dropped: " + s.text();
    else m_reports_submitted_.inc();
    reports_.push_back(std::move(e));
    if (reports_.size() > kKeptReports) reports_.pop_front();
  }
}

// Included once the ledger holds the report's entry (its window closes at
// report_deadline); a report tx that left the mempool otherwise is re-sent.
void MinerNode::track_reports(std::uint64_t next_height) {
  const std::uint64_t length = ledger_.params().epoch_length;
  for (ReportEntry& e : reports_) {
    if (e.status == "included" || e.status == "expired") continue;
    const pos::Report& r = e.report;
    if (ledger_.state().pos_report(pos_report_id(r.epoch, r.offer_id, r.auditor))) {
      e.status = "included";
      m_reports_included_.inc();
    } else if (next_height > pos::report_deadline(r.epoch, length)) {
      e.status = "expired";
    } else if (!sent_.count(e.tx) && e.sends < kMaxReportSends) {
      ++e.sends;
      const Status s = send(PosReport{r}, Duty::kReport, r.epoch, &e.tx);
      e.status = s.ok() ? "pending" : "dropped: " + s.text();
    }
  }
}

// Signs `payload` from the miner's account with the next free nonce and
// hands it to the mempool and gossip.
Status MinerNode::send(TxPayload payload, Duty duty, std::uint64_t epoch, Hash256* id) {
  const Account* acc = ledger_.state().account(account_address_);
  if (!acc) {
    last_error_ = "account " + address_text(account_address_) + " has no balance for fees; fund it";
    return fail(Error::kUnknownAccount, last_error_);
  }
  TxBody body{ledger_.params().chain_id, account_.public_key(), mempool_.next_nonce(account_address_, acc->nonce),
              ledger_.params().min_fee, std::move(payload)};
  Tx tx = sign_tx(std::move(body), account_);
  const Hash256 tx_id = tx.id;
  const char* what = payload_name(tx.body.payload);
  Status s = submit_(std::move(tx));
  if (!s.ok()) {
    last_error_ = std::string(what) + " for epoch " + std::to_string(epoch) + " refused: " + s.text();
    spdlog::warn("pos: {}", last_error_);
    return s;
  }
  sent_[tx_id] = Sent{duty, epoch};
  if (id) *id = tx_id;
  return s;
}

}  // namespace bc::apps
