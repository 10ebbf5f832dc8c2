// The ledger's Proof-of-Service read methods (docs/proof-of-service.md,
// "Ledger rules"; docs/ledger.md, "JSON-RPC methods"). Each runs on the
// ledger thread, like every ledger method (LedgerNode::register_rpc).
//   get_offer {offer_id}      one offer entry
//   list_offers {account?}    the offers registered by an account (all, without one), by id
//   audit_show {offer_id | provider, epochs?}   offers with their recent reports and grades (audit_rpc.cpp)
#pragma once
#include <functional>

#include <boost/json.hpp>

#include "layers/node/params.hpp"
#include "layers/node/rpc_registry.hpp"
#include "ledger/ledger.hpp"

namespace bc::apps {

boost::json::object offer_json(const Hash256& id, const ledger::ProviderOffer& o);
boost::json::value pos_get_offer(const ledger::Ledger& l, const node::Params& p);
boost::json::value pos_list_offers(const ledger::Ledger& l, const node::Params& p);
boost::json::value pos_audit_show(const ledger::Ledger& l, const node::Params& p);

// A read of the ledger, and how the daemon runs one: on the ledger thread,
// answering `reply` with its result or its RpcError.
using LedgerRead = std::function<boost::json::value(const ledger::Ledger&)>;
using RunLedgerRead = std::function<void(node::Reply reply, LedgerRead read)>;

// Adds get_offer, list_offers and audit_show to `rpc`, each run through `run`.
void register_pos_rpc(node::RpcRegistry& rpc, const RunLedgerRead& run);

}  // namespace bc::apps
