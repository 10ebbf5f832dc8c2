#include "simulations/pos_stats.hpp"

#include <cmath>
#include <cstdio>

#include <boost/json.hpp>

#include "simulations/sim_report.hpp"

namespace bc::sim {

namespace json = boost::json;
using namespace bc::pos;

PosStats::PosStats(const PosSimOptions& opt, const PosParams& params)
    : opt_(opt), params_(params), classes_(opt.fail_rates.size() + 1) {
  // Mirrors PosWorld::make_providers: the first cheaters*N, round-robin.
  const auto cheats = static_cast<std::uint32_t>(opt.cheaters * opt.providers + 0.5);
  for (std::uint32_t i = 0; i < opt.providers; ++i) {
    const bool cheat = i < cheats && !opt.fail_rates.empty();
    of(cheat ? static_cast<int>(i % opt.fail_rates.size()) : -1).providers++;
  }
}

void PosStats::on_attempt(int cls, std::uint64_t bytes) { of(cls).audit_bytes += bytes; }
void PosStats::on_answer(int cls, std::uint64_t bytes) { of(cls).audit_bytes += bytes; }

void PosStats::on_report(int cls, const Report& r, std::size_t wire_bytes) {
  Class& c = of(cls);
  ++c.reports;
  c.reports_failing += auditor_score(r) < kBps;
  bool timeout = false;
  for (const ProbeRecord& p : r.probes) timeout |= p.outcome == ProbeOutcome::kTimeout;
  c.reports_with_timeout += timeout;
  c.audit_bytes += wire_bytes;
  report_bytes_ += wire_bytes;
}

void PosStats::add_core(const ProbeCore::Counters& c) {
  cores_.sent += c.sent;
  cores_.passed += c.passed;
  cores_.failed += c.failed;
  cores_.contained += c.contained;
}

void PosStats::on_settle(double wall_s, std::size_t rejected) {
  ++epochs_;
  settle_total_s_ += wall_s;
  settle_max_s_ = std::max(settle_max_s_, wall_s);
  rejected_ += rejected;
}

void PosStats::on_settlement(int cls, const Settlement& s) {
  Class& c = of(cls);
  ++c.provider_epochs;
  switch (s.grade) {
    case Grade::kOk: break;
    case Grade::kOccasional: ++c.occasional; break;
    case Grade::kUnstable: ++c.unstable; break;
    case Grade::kMalicious: ++c.malicious; break;
    case Grade::kUnaudited: ++c.unaudited; return;
  }
  ++c.audited;
  // The epoch's own median, not the grade: a low reputation keeps the grade
  // unstable after a full score.
  c.below_full += s.score_bps && *s.score_bps < kBps;
}

// One auditor's report shows a failure: p = 1-(1-x)^c.
double PosStats::predicted_report(double x) const { return 1 - std::pow(1 - x, params_.probes_per_auditor); }

// The median of k reports is below 10000 when at least k/2+1... precisely
// when more than (k-1)/2 of them are: a binomial tail in p.
double PosStats::predicted_epoch(double x) const {
  const double p = predicted_report(x);
  const unsigned k = params_.auditors_per_offer, need = (k - 1) / 2 + 1;
  double tail = 0;
  for (unsigned j = need; j <= k; ++j)
    tail += std::tgamma(k + 1.0) / (std::tgamma(j + 1.0) * std::tgamma(k - j + 1.0)) * std::pow(p, j) *
            std::pow(1 - p, k - j);
  return tail;
}

void PosStats::progress_line(std::uint64_t epoch) const {
  const Class& h = honest();
  std::fprintf(stderr, "pos: epoch %llu/%u  probes %llu  retries %llu  lost %llu  honest below-full %llu/%llu\n",
               static_cast<unsigned long long>(epoch), opt_.epochs, static_cast<unsigned long long>(cores_.sent),
               static_cast<unsigned long long>(cores_.contained), static_cast<unsigned long long>(lost_),
               static_cast<unsigned long long>(h.below_full), static_cast<unsigned long long>(h.audited));
}

namespace {

double ratio(std::uint64_t a, std::uint64_t b) { return b ? static_cast<double>(a) / static_cast<double>(b) : 0; }
double round6(double v) { return std::round(v * 1e6) / 1e6; }
double num(const json::object& o, const char* k) { return o.at(k).to_number<double>(); }
double pct(const json::object& o, const char* k) { return 100 * num(o, k); }

std::string render_text(const json::object& s) {
  char buf[512];
  std::string out;
  std::snprintf(buf, sizeof buf,
                "pos: %.0f providers, %.0f auditors, %.0f epochs, seed %.0f, loss %.2f%%, jitter %.0f ms; "
                "k=%.0f c=%.0f attempts=%.0f retry_gap=%.0f ms timeout=%.0f ms\n",
                num(s, "providers"), num(s, "auditors"), num(s, "epochs"), num(s, "seed"), pct(s, "loss"),
                num(s, "jitter_ms"), num(s, "k"), num(s, "c"), num(s, "max_attempts"), num(s, "retry_gap_ms"),
                num(s, "probe_timeout_ms"));
  out += buf;
  out += "cheater x  providers  report detect (predicted 1-(1-x)^c)  epoch detect (predicted, median of k)  unstable\n";
  for (const auto& v : s.at("cheaters").as_array()) {
    const auto& c = v.as_object();
    std::snprintf(buf, sizeof buf, "%7.0f%%  %9.0f  %12.2f%% (%6.2f%%)              %12.2f%% (%6.2f%%)             %7.2f%%\n",
                  pct(c, "fail_rate"), num(c, "providers"), pct(c, "report_detect"), pct(c, "report_predicted"),
                  pct(c, "epoch_detect"), pct(c, "epoch_predicted"), pct(c, "unstable_epochs"));
    out += buf;
  }
  const auto& h = s.at("honest").as_object();
  std::snprintf(buf, sizeof buf,
                "honest: %.0f provider-epochs (%.0f unaudited); penalised (unstable) %.4f%%, occasional (pay cut) "
                "%.4f%%; reports failing %.4f%%, with a timeout %.0f\n",
                num(h, "provider_epochs"), num(h, "unaudited"), pct(h, "penalised"), pct(h, "occasional"),
                pct(h, "reports_failing"), num(h, "reports_with_timeout"));
  out += buf;
  const auto& p = s.at("probes").as_object();
  std::snprintf(buf, sizeof buf, "probes: %.0f attempts, %.0f retries, %.0f datagrams lost, %.0f reports rejected\n",
                num(p, "attempts"), num(p, "retries"), num(p, "lost_datagrams"), num(p, "rejected_reports"));
  out += buf;
  const auto& t = s.at("traffic").as_object();
  std::snprintf(buf, sizeof buf,
                "traffic per provider per epoch: audit %.0f bytes (of which reports %.0f) vs service %.0f bytes (%s)\n",
                num(t, "audit_bytes_per_provider_epoch"), num(t, "report_bytes_per_provider_epoch"),
                num(t, "service_bytes_per_provider_epoch"), t.at("assumption").as_string().c_str());
  out += buf;
  const auto& st = s.at("settle").as_object();
  std::snprintf(buf, sizeof buf, "settle_epoch: mean %.3f ms, max %.3f ms for %.0f offers; wall %.3f s, peak RSS %.1f MiB",
                num(st, "mean_ms"), num(st, "max_ms"), num(s, "providers"), num(s, "wall_s"), num(s, "peak_rss_mib"));
  out += buf;
  return out;
}

}  // namespace

std::string PosStats::render(double wall_s, double rss_mib) const {
  json::object s;
  s["providers"] = opt_.providers;
  s["auditors"] = opt_.auditors;
  s["epochs"] = opt_.epochs;
  s["seed"] = opt_.seed;
  s["loss"] = opt_.loss;
  s["jitter_ms"] = opt_.jitter_ms;
  s["k"] = params_.auditors_per_offer;
  s["c"] = params_.probes_per_auditor;
  s["max_attempts"] = params_.max_attempts;
  s["retry_gap_ms"] = params_.retry_gap_ms;
  s["probe_timeout_ms"] = opt_.probe_timeout_ms;
  json::array cls;
  for (std::size_t i = 1; i < classes_.size(); ++i) {
    const Class& c = classes_[i];
    const double x = opt_.fail_rates[i - 1];
    json::object o;
    o["fail_rate"] = x;
    o["providers"] = c.providers;
    o["report_detect"] = round6(ratio(c.reports_failing, c.reports));
    o["report_predicted"] = round6(predicted_report(x));
    o["epoch_detect"] = round6(ratio(c.below_full, c.audited));
    o["epoch_predicted"] = round6(predicted_epoch(x));
    // Distance from the prediction in percentage points.
    o["report_gap_points"] = round6(100 * std::abs(ratio(c.reports_failing, c.reports) - predicted_report(x)));
    o["epoch_gap_points"] = round6(100 * std::abs(ratio(c.below_full, c.audited) - predicted_epoch(x)));
    o["unstable_epochs"] = round6(ratio(c.unstable, c.audited));
    cls.push_back(std::move(o));
  }
  s["cheaters"] = std::move(cls);
  const Class& h = honest();
  json::object ho;
  ho["providers"] = h.providers;
  ho["provider_epochs"] = h.provider_epochs;
  ho["unaudited"] = h.unaudited;
  ho["reports_failing"] = round6(ratio(h.reports_failing, h.reports));
  ho["reports_with_timeout"] = h.reports_with_timeout;
  ho["occasional"] = round6(ratio(h.occasional, h.audited));
  ho["penalised"] = round6(ratio(h.unstable + h.malicious, h.audited));
  s["honest"] = std::move(ho);
  json::object net;
  net["attempts"] = cores_.sent;
  net["retries"] = cores_.contained;
  net["lost_datagrams"] = lost_;
  net["rejected_reports"] = rejected_;
  s["probes"] = std::move(net);
  const double epoch_s = static_cast<double>(params_.epoch_ms) / 1000;
  std::uint64_t audit = 0;
  for (const Class& c : classes_) audit += c.audit_bytes;
  json::object tr;
  tr["audit_bytes_per_provider_epoch"] = std::round(ratio(audit, std::uint64_t{opt_.providers} * opt_.epochs));
  tr["report_bytes_per_provider_epoch"] = std::round(ratio(report_bytes_, std::uint64_t{opt_.providers} * opt_.epochs));
  tr["service_bytes_per_provider_epoch"] =
      std::round(opt_.client_rps * epoch_s * (opt_.request_bytes + opt_.response_bytes));
  tr["assumption"] = "service: client_rps requests/s of request_bytes + response_bytes each";
  s["traffic"] = std::move(tr);
  json::object st;
  st["mean_ms"] = std::round(settle_total_s_ / std::max<std::uint64_t>(epochs_, 1) * 1e6) / 1000;
  st["max_ms"] = std::round(settle_max_s_ * 1e6) / 1000;
  s["settle"] = std::move(st);
  s["wall_s"] = std::round(wall_s * 1000) / 1000;
  s["peak_rss_mib"] = std::round(rss_mib * 10) / 10;
  if (opt_.json) return to_json(s);
  return render_text(s);
}

}  // namespace bc::sim
