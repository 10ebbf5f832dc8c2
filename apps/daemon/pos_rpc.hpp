// The ledger's Proof-of-Service read methods (docs/proof-of-service.md,
// "Ledger rules"; docs/ledger.md, "JSON-RPC methods"). Each runs on the
// ledger thread, like every ledger method (LedgerNode::register_rpc).
//   get_offer {offer_id}      one offer entry
//   list_offers {account?}    the offers registered by an account (all, without one), by id
#pragma once
#include <boost/json.hpp>

#include "layers/node/params.hpp"
#include "ledger/ledger.hpp"

namespace bc::apps {

boost::json::object offer_json(const Hash256& id, const ledger::ProviderOffer& o);
boost::json::value pos_get_offer(const ledger::Ledger& l, const node::Params& p);
boost::json::value pos_list_offers(const ledger::Ledger& l, const node::Params& p);

}  // namespace bc::apps
