#include "apps/common/ledger_json.hpp"

#include <charconv>

#include <boost/json.hpp>

#include "layers/ids.hpp"
#include "ledger/pos/codec.hpp"

namespace bc::apps {
namespace json = boost::json;
using namespace bc::ledger;

json::object tx_json(const Tx& tx) {
  json::object o{{"id", tx.id.hex()},
                 {"sender", address_text(tx.sender)},
                 {"nonce", tx.body.nonce},
                 {"fee", std::to_string(tx.body.fee)},
                 {"kind", payload_name(tx.body.payload)}};
  std::visit(
      [&](const auto& p) {
        using T = std::decay_t<decltype(p)>;
        if constexpr (std::is_same_v<T, Transfer>) {
          o["to"] = address_text(p.to);
          o["amount"] = std::to_string(p.amount);
        } else if constexpr (std::is_same_v<T, Bond> || std::is_same_v<T, Unbond>) {
          o["amount"] = std::to_string(p.amount);
        } else if constexpr (std::is_same_v<T, RegisterService>) {
          o["name"] = p.name;
        } else if constexpr (std::is_same_v<T, PosOffer>) {
          o["offer_id"] = pos::offer_id(p.offer).hex();
          o["service_id"] = p.offer.service_id.hex();
          o["bond"] = std::to_string(p.offer.bond);
        } else if constexpr (std::is_same_v<T, PosWithdraw>) {
          o["offer_id"] = p.offer_id.hex();
        } else if constexpr (std::is_same_v<T, PosCommit> || std::is_same_v<T, PosReveal>) {
          o["epoch"] = p.epoch;
        } else if constexpr (std::is_same_v<T, PosReport>) {
          o["epoch"] = p.report.epoch;
          o["offer_id"] = p.report.offer_id.hex();
          o["auditor"] = to_hex(p.report.auditor.view());
        }
      },
      tx.body.payload);
  return o;
}

const char* effect_kind_name(Effect::Kind k) {
  switch (k) {
    case Effect::Kind::kReward: return "reward";
    case Effect::Kind::kSlash: return "slash";
    case Effect::Kind::kFeeShare: return "fee_share";
    case Effect::Kind::kSlashUnbonding: return "slash_unbonding";
    case Effect::Kind::kJail: return "jail";
    case Effect::Kind::kBan: return "ban";
    case Effect::Kind::kBurnOfferBond: return "burn_offer_bond";
    case Effect::Kind::kOfferBan: return "offer_ban";
    case Effect::Kind::kOfferWarning: return "offer_warning";
    case Effect::Kind::kUsagePay: return "usage_pay";
    case Effect::Kind::kUsageRefund: return "usage_refund";
    case Effect::Kind::kUsageDefer: return "usage_defer";
  }
  return "unknown";
}

namespace {
// Consensus outputs with their reasons (an evidence hash for a slash or ban).
json::array effects_json(const std::vector<Effect>& effects) {
  json::array out;
  for (const auto& e : effects)
    out.push_back(json::object{{"kind", effect_kind_name(e.kind)},
                               {"account", address_text(e.account)},  // an unbonding id for slash_unbonding
                               {"amount", std::to_string(e.amount)},
                               {"reason", e.reason.hex()}});
  return out;
}

json::array evidence_json(const std::vector<DuplicateVoteEvidence>& evidence) {
  json::array out;
  for (const auto& e : evidence)
    out.push_back(json::object{{"hash", evidence_hash(e).hex()},
                               {"validator", to_hex(e.a.validator.view())},
                               {"height", e.a.height},
                               {"round", e.a.round},
                               {"type", e.a.type == VoteKind::kPrevote ? "prevote" : "precommit"}});
  return out;
}
}  // namespace

json::object block_json(const Block& b) {
  const auto& h = b.header;
  json::array txs;
  for (const auto& t : b.txs) txs.push_back(tx_json(t));
  return json::object{{"height", h.height},
                      {"hash", header_hash(h).hex()},
                      {"prev_hash", h.prev_hash.hex()},
                      {"time_ms", h.time},
                      {"proposer", to_hex(h.proposer.view())},
                      {"tx_root", h.tx_root.hex()},
                      {"audit_root", h.audit_root.hex()},
                      {"state_root", h.state_root.hex()},
                      {"effects_root", h.effects_root.hex()},
                      {"tx_count", h.tx_count},
                      {"txs", std::move(txs)},
                      {"effects", effects_json(b.effects)},
                      {"evidence", evidence_json(b.evidence)}};
}

std::optional<Address> parse_address(std::string_view text) {
  if (auto a = id_from_text('a', text)) return a;
  return Hash256::from_hex(text);
}

std::optional<Amount> parse_amount(std::string_view text) {
  if (text.empty() || text.size() > 20) return std::nullopt;
  Amount v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size()) return std::nullopt;
  return v;
}

const char* validator_status_name(ledger::Validator::Status s) {
  switch (s) {
    case ledger::Validator::Status::kActive: return "active";
    case ledger::Validator::Status::kJailed: return "jailed";
    case ledger::Validator::Status::kBanned: return "banned";
  }
  return "unknown";
}

}  // namespace bc::apps
