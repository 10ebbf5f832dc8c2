// JSON and text forms of ledger values shared by the daemon and the CLI.
// Amounts are written as decimal strings (they may exceed 2^53).
#pragma once
#include <optional>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>

#include "ledger/block.hpp"
#include "ledger/tx.hpp"

namespace bc::apps {

boost::json::object tx_json(const ledger::Tx& tx);
boost::json::object block_json(const ledger::Block& b);
// "reward", "slash", ..., "burn_offer_bond", "offer_warning", ...
const char* effect_kind_name(ledger::Effect::Kind k);
// "active", "jailed" or "banned".
const char* validator_status_name(ledger::Validator::Status s);
// "a..." (checksummed) or 64 hex digits.
std::optional<ledger::Address> parse_address(std::string_view text);
// Decimal base units, 1..2^64-1 digits only; nullopt otherwise.
std::optional<ledger::Amount> parse_amount(std::string_view text);

}  // namespace bc::apps
