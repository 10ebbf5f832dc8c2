#include "apps/daemon/pos_rpc.hpp"

#include <algorithm>

#include "apps/common/ledger_json.hpp"
#include "ledger/pos/codec.hpp"

namespace bc::apps {
namespace json = boost::json;
using namespace bc::ledger;

namespace {

constexpr int kNotFound = -32004;
constexpr std::size_t kMaxListed = 1000;

const char* status_name(ProviderOffer::Status s) {
  switch (s) {
    case ProviderOffer::Status::kActive: return "active";
    case ProviderOffer::Status::kWithdrawn: return "withdrawn";
    case ProviderOffer::Status::kBanned: return "banned";
  }
  return "unknown";
}

// The storage root a storage offer commits to; none for a generic offer.
std::optional<Hash256> storage_root_of(const ProviderOffer& o) {
  auto m = pos::decode(o.offer, pos::PosLimits{});  // encoded by the ledger itself: it decodes
  if (!m.ok() || !std::holds_alternative<pos::Offer>(*m)) return std::nullopt;
  const auto& offer = std::get<pos::Offer>(*m);
  if (offer.kind != pos::ServiceKind::kStorage) return std::nullopt;
  return offer.storage_root;
}

// offer_json, with the height a withdrawn offer's bond returns at while it
// still waits (the bond is slashable until then).
json::object offer_json_in(const State& s, const Hash256& id, const ProviderOffer& o) {
  json::object out = offer_json(id, o);
  if (o.status == ProviderOffer::Status::kWithdrawn)
    if (const Unbonding* u = s.unbonding(o.unbonding)) out["bond_release_at"] = u->release_height;
  return out;
}

}  // namespace

json::object offer_json(const Hash256& id, const ProviderOffer& o) {
  json::object out{{"offer_id", id.hex()},
                   {"status", status_name(o.status)},
                   {"account", address_text(o.account)},
                   {"owner", to_hex(o.owner.view())},
                   {"provider", to_hex(o.provider.view())},
                   {"service_id", o.service_id.hex()},
                   {"bond", std::to_string(o.bond)},
                   {"registered_at", o.registered_at},
                   {"reputation_bps", o.reputation_bps}};
  if (o.status == ProviderOffer::Status::kWithdrawn) out["unbonding"] = o.unbonding.hex();
  // The stored offer was encoded by the ledger itself: it decodes.
  auto m = pos::decode(o.offer, pos::PosLimits{});
  if (m.ok() && std::holds_alternative<pos::Offer>(*m)) {
    const auto& offer = std::get<pos::Offer>(*m);
    out["kind"] = offer.kind == pos::ServiceKind::kStorage ? "storage" : "generic";
    out["delta_bps"] = offer.delta_bps;
    out["max_latency_ms"] = offer.max_latency_ms;
    out["min_throughput_bps"] = std::to_string(offer.min_throughput_bps);
    out["price"] = std::to_string(offer.price);
    if (offer.kind == pos::ServiceKind::kStorage) {
      out["storage_root"] = offer.storage_root.hex();
      out["storage_chunks"] = offer.storage_chunks;
    }
  }
  return out;
}

json::value pos_get_offer(const Ledger& l, const node::Params& p) {
  constexpr const char* kExpect = "give the offer id as 64 hex digits";
  auto id = Hash256::from_hex(p.string("offer_id", kExpect));
  if (!id) p.fail("offer_id", "not 64 hex digits", kExpect);
  const ProviderOffer* o = l.state().offer(*id);
  if (!o) throw node::RpcError(kNotFound, "no offer " + id->hex() + " on this node's ledger (check the id, or wait for its block)");
  json::object out = offer_json_in(l.state(), *id, *o);
  out["height"] = l.head().height;
  return out;
}

json::value pos_list_offers(const Ledger& l, const node::Params& p) {
  constexpr const char* kExpect = "give an account address (a... with a valid checksum) or 64 hex digits";
  std::optional<Address> account;
  if (auto text = p.opt_string("account", kExpect)) {
    account = parse_address(*text);
    if (!account) p.fail("account", "\"" + *text + "\" is not an account address", kExpect);
  }
  std::optional<Hash256> root;
  if (auto text = p.opt_string("storage_root", "give a storage root as 64 hex digits")) {
    root = Hash256::from_hex(*text);
    if (!root) p.fail("storage_root", "not 64 hex digits", "give a storage root as 64 hex digits");
  }
  std::vector<std::pair<Hash256, const ProviderOffer*>> found;
  for (const auto& [id, o] : l.state().offers())
    if ((!account || o.account == *account) && (!root || storage_root_of(o) == root)) found.emplace_back(id, &o);
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  json::array offers;
  for (std::size_t i = 0; i < found.size() && i < kMaxListed; ++i)
    offers.push_back(offer_json_in(l.state(), found[i].first, *found[i].second));
  return json::object{{"height", l.head().height}, {"offers", std::move(offers)}, {"total", found.size()}};
}

void register_pos_rpc(node::RpcRegistry& rpc, const RunLedgerRead& run) {
  for (const auto& [name, method] : {std::pair{"get_offer", &pos_get_offer}, std::pair{"list_offers", &pos_list_offers},
                              std::pair{"audit_show", &pos_audit_show}}) {
    rpc.add_async(name, [run, method = method](const node::Params& p, node::Reply reply) {
      run(std::move(reply), [method, p](const Ledger& l) { return method(l, p); });
    });
  }
}

}  // namespace bc::apps
