#include "apps/cli/miner_cmds.hpp"

#include <iostream>
#include <set>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "apps/cli/format.hpp"
#include "apps/cli/rpc.hpp"

namespace bc::cli {
namespace {
namespace json = boost::json;

struct MinerArgs {
  int limit = 32;
  std::string target;
  int epochs = 4;
};

std::string list_text(const json::value& v) {
  std::string out;
  for (const auto& e : v.as_array()) out += (out.empty() ? "" : ", ") + str(e);
  return out.empty() ? "none" : out;
}

int cmd_miner_status(const Options& o, const Endpoint& ep) {
  const auto r = call(o, ep, "miner_status", {}, ms(o.timeout_s));
  if (o.json) return print_json(r), 0;
  const auto& s = r.as_object();
  const auto& p = s.at("probes").as_object();
  const auto& rep = s.at("reports").as_object();
  std::cout << table({{"auditor key", str(s.at("auditor"))},
                      {"account", str(s.at("account"))},
                      {"height", fmt::format("{} (epoch {})", str(s.at("height")), str(s.at("epoch")))},
                      {"committed epochs", list_text(s.at("committed_epochs"))},
                      {"revealed epochs", list_text(s.at("revealed_epochs"))},
                      {"sent", fmt::format("{} commitments, {} reveals", str(s.at("commitments_sent")), str(s.at("reveals_sent")))},
                      {"probes", fmt::format("{} sent, {} passed, {} failed, {} contained (re-sent)", str(p.at("sent")),
                                             str(p.at("passed")), str(p.at("failed")), str(p.at("contained")))},
                      {"reports", fmt::format("{} submitted, {} included", str(rep.at("submitted")), str(rep.at("included")))}});
  for (const auto& e : s.at("epochs").as_array())
    std::cout << fmt::format("epoch {}: {}, {} offer(s)\n", str(e.at("epoch")), str(e.at("state")), e.at("offers").as_array().size());
  if (s.contains("agreement")) {
    const auto& a = s.at("agreement").as_object();
    std::cout << fmt::format("agreement: {} of the last {} settled reports disagreed with the median; report fees {}\n",
                             str(a.at("disagreed")), str(a.at("settled_reports")),
                             a.at("fees_withheld").as_bool() ? "WITHHELD (more than half disagreed)" : "paid");
  }
  if (s.contains("why")) std::cout << "not committing: " << str(s.at("why")) << "\n";
  if (s.contains("last_error")) std::cout << "last error: " << str(s.at("last_error")) << "\n";
  return 0;
}

int cmd_miner_reports(const Options& o, const Endpoint& ep, const MinerArgs& a) {
  const auto r = call(o, ep, "miner_reports", {{"limit", a.limit}}, ms(o.timeout_s));
  if (o.json) return print_json(r), 0;
  for (const auto& v : r.at("reports").as_array()) {
    const auto& out = v.at("outcomes").as_object();
    std::cout << fmt::format("epoch {} offer {}...: score {} bps ({} pass, {} slow, {} timeout, {} wrong), tx {}..., {}\n",
                             str(v.at("epoch")), str(v.at("offer_id")).substr(0, 16), str(v.at("score_bps")), str(out.at("pass")),
                             str(out.at("slow")), str(out.at("timeout")), str(out.at("wrong")), str(v.at("tx")).substr(0, 16),
                             str(v.at("status")));
  }
  std::cout << fmt::format("{} report(s) kept by this miner\n", str(r.at("total")));
  return 0;
}

// A storage offer's reports name the chunks their failed probes asked for
// and carry the provider's signed wrong answers.
void print_storage_findings(const json::array& reports) {
  std::set<std::int64_t> failed;
  std::uint64_t evidence = 0;
  bool storage = false;
  for (const auto& r : reports) {
    const auto* chunks = r.as_object().if_contains("failed_chunks");
    if (!chunks) continue;
    storage = true;
    for (const auto& c : chunks->as_array()) failed.insert(c.to_number<std::int64_t>());
    evidence += r.at("evidence").to_number<std::uint64_t>();
  }
  if (!storage || (failed.empty() && evidence == 0)) return;
  std::string list;
  for (auto c : failed) list += (list.empty() ? "" : " ") + std::to_string(c);
  std::cout << fmt::format("    failed chunks: {}; signed wrong answers: {}\n", list.empty() ? "none" : list, evidence);
}

void print_offer_audits(const json::object& of) {
  std::cout << table({{"offer", str(of.at("offer_id"))},
                      {"status", str(of.at("status"))},
                      {"provider key", str(of.at("provider"))},
                      {"bond", str(of.at("bond"))},
                      {"reputation", str(of.at("reputation_bps")) + " bps"},
                      {"pay scale", str(of.at("pay_scale_bps")) + " bps (last settlement)"}});
  for (const auto& ev : of.at("epochs").as_array()) {
    const auto& e = ev.as_object();
    std::string effects;
    for (const auto& f : e.at("effects").as_array()) effects += fmt::format(", {} {}", str(f.at("kind")), str(f.at("amount")));
    const json::value* median = e.if_contains("median_score_bps");
    std::cout << fmt::format("  epoch {}: {}, {} report(s), median {} bps{}\n", str(e.at("epoch")), str(e.at("grade")),
                             e.at("reports").as_array().size(), median ? str(*median) : "-", effects);
    print_storage_findings(e.at("reports").as_array());
  }
}

// OFFER_ID when it names an offer; otherwise a provider key or account.
int cmd_audit_show(const Options& o, const Endpoint& ep, const MinerArgs& a) {
  json::object params{{"epochs", a.epochs}};
  bool is_offer = false;
  if (a.target.size() == 64) {
    try {
      call(o, ep, "get_offer", {{"offer_id", a.target}}, ms(o.timeout_s));
      is_offer = true;
    } catch (const Failure&) {
    }
  }
  params[is_offer ? "offer_id" : "provider"] = a.target;
  const auto r = call(o, ep, "audit_show", std::move(params), ms(o.timeout_s));
  if (o.json) return print_json(r), 0;
  for (const auto& of : r.at("offers").as_array()) print_offer_audits(of.as_object()), std::cout << "\n";
  std::cout << fmt::format("{} offer(s) at height {} (epoch {})\n", str(r.at("total")), str(r.at("height")), str(r.at("epoch")));
  return 0;
}

}  // namespace

void add_miner_commands(CLI::App& app, CommandTable& commands) {
  static MinerArgs args;  // lives as long as the parsed command line
  auto* miner = add_command_group(app, "miner", "this validator's Proof-of-Service audits");
  commands.add(miner, "status", "commitments, epochs audited, probes sent/passed/failed/contained, reports", cmd_miner_status);
  auto* reports = commands.add(miner, "reports", "this miner's recent reports and their probe outcomes",
                               [](const Options& o, const Endpoint& ep) { return cmd_miner_reports(o, ep, args); });
  reports->add_option("--limit", args.limit, "newest reports to show (1..256, default 32)")->check(CLI::Range(1, 256));
  auto* audit = add_command_group(app, "audit", "what the chain says of providers' audits");
  auto* show = commands.add(audit, "show", "an offer's reports on chain, scores, reputation and settled grades",
                            [](const Options& o, const Endpoint& ep) { return cmd_audit_show(o, ep, args); });
  show->add_option("TARGET", args.target, "an offer id, a provider key (64 hex digits) or the account that registered the offers")
      ->required();
  show->add_option("--epochs", args.epochs, "epochs of history (1..64, default 4)")->check(CLI::Range(1, 64));
}

}  // namespace bc::cli
