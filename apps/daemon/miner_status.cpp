// The miner's state as JSON: RPC miner_status and miner_reports
// (docs/operator-guide.md, "Audits").
#include <boost/json.hpp>

#include "apps/daemon/miner_node.hpp"
#include "consensus/pos/auditor_plan.hpp"
#include "ledger/pos/settle.hpp"
#include "ledger/validators.hpp"

namespace bc::apps {
namespace json = boost::json;
using namespace bc::ledger;

namespace {

json::array epochs_json(const std::set<std::uint64_t>& s) {
  json::array a;
  for (std::uint64_t e : s) a.push_back(e);
  return a;
}

const char* outcome_name(pos::ProbeOutcome o) {
  switch (o) {
    case pos::ProbeOutcome::kPass: return "pass";
    case pos::ProbeOutcome::kSlow: return "slow";
    case pos::ProbeOutcome::kTimeout: return "timeout";
    case pos::ProbeOutcome::kWrong: return "wrong";
  }
  return "unknown";
}

}  // namespace

json::value MinerNode::status() const {
  const std::uint64_t head = ledger_.head().height;
  const pos::CommitFacts f = pos::commit_facts(ledger_.state(), cfg_.auditor_key.public_key(), account_address_, head + 1);
  json::object o{{"auditor", to_hex(cfg_.auditor_key.public_key().view())},
                 {"account", address_text(account_address_)},
                 {"height", head},
                 {"epoch", epoch_of(head + 1, ledger_.params())},
                 {"committing", f.may_commit},
                 {"committed_epochs", epochs_json(f.committed)},
                 {"revealed_epochs", epochs_json(f.revealed)},
                 {"commitments_sent", m_commits_.value()},
                 {"reveals_sent", m_reveals_.value()}};
  if (!f.may_commit)
    o["why"] = "account " + address_text(account_address_) +
               " is not an unbanned validator voting with this node's key; bond from it with --consensus-key, "
               "or give blockcloudd --audit-account-key the validator account's key file";
  if (!last_error_.empty()) o["last_error"] = last_error_;
  json::array epochs;
  for (const auto& [epoch, a] : epochs_) {
    json::array offers;
    for (const Hash256& id : a.offers) offers.push_back(json::value(id.hex()));
    epochs.push_back(json::object{{"epoch", epoch}, {"state", a.state}, {"offers", std::move(offers)}});
  }
  o["epochs"] = std::move(epochs);
  o["probes"] = json::object{{"sent", m_probes_.sent.value()},
                             {"passed", m_probes_.passed.value()},
                             {"failed", m_probes_.failed.value()},
                             {"contained", m_probes_.contained.value()}};
  o["reports"] = json::object{{"submitted", m_reports_submitted_.value()}, {"included", m_reports_included_.value()}};
  if (const Validator* v = ledger_.state().validator(account_address_))
    o["agreement"] = json::object{{"settled_reports", v->audit_record.reports},
                                  {"disagreed", pos::disagreements(v->audit_record)},
                                  {"fees_withheld", pos::withholds_fees(v->audit_record)}};
  return o;
}

json::value MinerNode::reports(std::size_t limit) const {
  json::array out;
  for (auto it = reports_.rbegin(); it != reports_.rend() && out.size() < limit; ++it) {
    const pos::Report& r = it->report;
    json::object outcomes{{"pass", 0}, {"slow", 0}, {"timeout", 0}, {"wrong", 0}};
    for (const auto& p : r.probes) outcomes[outcome_name(p.outcome)] = outcomes[outcome_name(p.outcome)].as_int64() + 1;
    out.push_back(json::object{{"epoch", r.epoch},
                               {"offer_id", r.offer_id.hex()},
                               {"score_bps", r.probes.empty() ? 0 : pos::auditor_score(r)},
                               {"probes", r.probes.size()},
                               {"outcomes", std::move(outcomes)},
                               {"tx", it->tx.hex()},
                               {"status", it->status}});
  }
  return json::object{{"height", ledger_.head().height}, {"reports", std::move(out)}, {"total", reports_.size()}};
}

}  // namespace bc::apps
