// Maps the generic [dht] table of the daemon config (layers/config.hpp) into
// routing::DhtConfig. Lives in apps/ because layers/ must not know routing/.
#pragma once
#include <string>
#include <vector>

#include "layers/config.hpp"
#include "routing/dht.hpp"

namespace bc::apps {

// Starts from DhtConfig's defaults; throws ConfigError naming a key that is
// unknown or out of range, with the expected form.
routing::DhtConfig dht_config_from_table(const ConfigTable& table);
// Every key [dht] accepts, in documentation order.
const std::vector<std::string>& dht_config_keys();
const char* mode_name(routing::Mode m);

}  // namespace bc::apps
