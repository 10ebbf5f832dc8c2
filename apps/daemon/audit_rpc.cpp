// RPC audit_show (docs/proof-of-service.md, "Code"; docs/ledger.md): what
// the chain says of one provider's offers: their entries, the posReports of
// the recent epochs and the grade each settled epoch got, read from the
// blocks (settled reports leave the state, the blocks keep them).
#include <algorithm>
#include <map>
#include <set>

#include "apps/common/ledger_json.hpp"
#include "apps/daemon/pos_rpc.hpp"
#include "ledger/pos/codec.hpp"
#include "ledger/pos/schedule.hpp"
#include "ledger/pos/settle.hpp"
#include "ledger/pos_ledger.hpp"
#include "ledger/validators.hpp"

namespace bc::apps {
namespace json = boost::json;
using namespace bc::ledger;

namespace {

constexpr int kNotFound = -32004;
constexpr std::size_t kMaxShownOffers = 16;
constexpr std::uint64_t kMaxScannedBlocks = 20'000;

struct EpochHistory {
  json::array reports;
  std::vector<std::uint32_t> scores;
  json::array effects;
  std::optional<std::string> grade;  // from a settlement effect
};
using History = std::map<std::uint64_t, EpochHistory>;  // by epoch

// The settled epoch and grade a settlement effect of block epoch `at` names.
std::optional<std::pair<std::uint64_t, std::string>> settled_grade(const Effect& e, const Hash256& offer, std::uint64_t at) {
  for (std::uint64_t back = 2; back <= 6 && back <= at; ++back)
    for (pos::Grade g : {pos::Grade::kMalicious, pos::Grade::kUnstable, pos::Grade::kOccasional})
      if (e.reason == pos_settle_reason(pos::to_string(g), offer, at - back)) return std::pair{at - back, std::string(pos::to_string(g))};
  return std::nullopt;
}

// A storage offer's report: which committed chunks its failed probes asked
// for (from the secret it reveals), and how many wrong signed answers it holds.
void add_storage_detail(json::object& j, const pos::Report& r, const pos::Offer& offer) {
  std::set<std::uint64_t> failed;
  for (const pos::ProbeRecord& p : r.probes)
    if (p.outcome != pos::ProbeOutcome::kPass)
      failed.insert(pos::storage_challenge(r.secret, r.epoch, r.offer_id, p.index, offer.storage_chunks).chunk);
  j["failed_chunks"] = json::array(failed.begin(), failed.end());
  j["evidence"] = r.evidence.size();
}

void scan_block(const Block& b, const Hash256& id, const ProviderOffer& o, const pos::Offer* storage, const ChainParams& p,
                History& h) {
  for (const Tx& t : b.txs) {
    const auto* r = std::get_if<PosReport>(&t.body.payload);
    if (!r || r->report.offer_id != id) continue;
    const std::uint32_t score = r->report.probes.empty() ? 0 : pos::auditor_score(r->report);
    EpochHistory& e = h[r->report.epoch];
    e.scores.push_back(score);
    json::object report{{"auditor", to_hex(r->report.auditor.view())}, {"score_bps", score}, {"height", b.header.height},
                        {"tx", t.id.hex()}};
    if (storage) add_storage_detail(report, r->report, *storage);
    e.reports.push_back(std::move(report));
  }
  for (const Effect& e : b.effects) {
    const bool mine = e.account == id || (o.status == ProviderOffer::Status::kWithdrawn && e.account == o.unbonding);
    if (!mine) continue;
    auto g = settled_grade(e, id, epoch_of(b.header.height, p));
    if (!g) continue;
    EpochHistory& eh = h[g->first];
    eh.grade = g->second;
    eh.effects.push_back(json::object{{"kind", effect_kind_name(e.kind)}, {"amount", std::to_string(e.amount)},
                                      {"height", b.header.height}});
  }
}

// An epoch's grade as settlement gave it: the grade its effects name; with
// none, ok at a full median score, unaudited below min_reports, and
// unstable otherwise (an occasional or malicious grade always leaves an
// effect, an unstable one none when the slash rounds to zero).
std::string grade_of(EpochHistory& e, std::uint64_t epoch, std::uint64_t now, const pos::PosParams& pp) {
  if (epoch + 2 > now) return "pending";  // settled from the first block of epoch + 2
  if (e.grade) return *e.grade;
  if (e.scores.size() < pp.min_reports) return pos::to_string(pos::Grade::kUnaudited);
  std::sort(e.scores.begin(), e.scores.end());
  const std::uint32_t median = e.scores[(e.scores.size() - 1) / 2];
  return median == pos::kBps ? pos::to_string(pos::Grade::kOk) : pos::to_string(pos::Grade::kUnstable);
}

json::object offer_history(const Ledger& l, const Hash256& id, const ProviderOffer& o, std::uint64_t epochs) {
  const ChainParams& p = l.params();
  const std::uint64_t head = l.head().height;
  const std::uint64_t span = std::min(kMaxScannedBlocks, (epochs + 2) * p.epoch_length);
  const auto decoded = pos::decode(o.offer, pos::PosLimits{});
  const auto* offer = decoded.ok() ? std::get_if<pos::Offer>(&*decoded) : nullptr;
  const pos::Offer* storage = offer && offer->kind == pos::ServiceKind::kStorage ? offer : nullptr;
  History h;
  for (std::uint64_t height = head; height >= 1 && height + span > head; --height) {
    auto bytes = l.block_at(height);
    if (!bytes) break;
    auto b = decode_block(*bytes, p);
    if (b.ok()) scan_block(*b, id, o, storage, p, h);
  }
  const std::uint64_t now = epoch_of(head + 1, p);
  json::array out;
  for (auto& [epoch, e] : h) {
    if (epoch + epochs < now) continue;
    std::sort(e.scores.begin(), e.scores.end());
    json::object eo{{"epoch", epoch}, {"grade", grade_of(e, epoch, now, pos_params(p))}, {"reports", e.reports},
                    {"effects", e.effects}};
    if (!e.scores.empty()) eo["median_score_bps"] = e.scores[(e.scores.size() - 1) / 2];
    out.push_back(std::move(eo));
  }
  json::object r = offer_json(id, o);
  r["pay_scale_bps"] = o.pay_scale_bps;
  r["epochs"] = std::move(out);
  return r;
}

// The offers a PROVIDER argument names: its provider key (64 hex digits) or the account that registered them.
std::vector<std::pair<Hash256, const ProviderOffer*>> offers_of(const Ledger& l, const std::string& who) {
  const auto key = from_hex(who);
  const auto pub = key ? parse_pubkey(*key) : std::nullopt;
  const auto account = parse_address(who);
  std::vector<std::pair<Hash256, const ProviderOffer*>> found;
  for (const auto& [id, o] : l.state().offers())
    if ((pub && o.provider == *pub) || (account && o.account == *account)) found.emplace_back(id, &o);
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  return found;
}

}  // namespace

json::value pos_audit_show(const Ledger& l, const node::Params& p) {
  constexpr const char* kExpect = "give offer_id (64 hex digits) or provider (a provider key or an account address)";
  const std::uint64_t epochs = p.opt_u64("epochs", "epochs of history, 1..64", 1, 64).value_or(4);
  std::vector<std::pair<Hash256, const ProviderOffer*>> found;
  if (auto text = p.opt_string("offer_id", kExpect)) {
    auto id = Hash256::from_hex(*text);
    if (!id) p.fail("offer_id", "not 64 hex digits", kExpect);
    if (const ProviderOffer* o = l.state().offer(*id)) found.emplace_back(*id, o);
  } else if (auto who = p.opt_string("provider", kExpect)) {
    found = offers_of(l, *who);
  } else {
    p.fail("offer_id", "missing", kExpect);
  }
  if (found.empty()) throw node::RpcError(kNotFound, "no such offer on this node's ledger (check the id or key, or wait for its block)");
  json::array offers;
  for (std::size_t i = 0; i < found.size() && i < kMaxShownOffers; ++i)
    offers.push_back(offer_history(l, found[i].first, *found[i].second, epochs));
  return json::object{{"height", l.head().height}, {"epoch", epoch_of(l.head().height + 1, l.params())},
                      {"offers", std::move(offers)}, {"total", found.size()}};
}

}  // namespace bc::apps
