// The ledger uses the spine's cache of verified signatures, keyed by tx ID.
#pragma once
#include "layers/sig_cache.hpp"

namespace bc::ledger {
using bc::SignatureCache;
}  // namespace bc::ledger
