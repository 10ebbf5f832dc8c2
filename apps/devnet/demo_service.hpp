// The demo's Service Access Layer step: a service reached by ID, and a flow
// that stays open while its provider moves to another address.
#pragma once
#include "apps/devnet/devnet.hpp"

namespace bc::devnet {

// Runs the step on a running devnet (needs at least 3 nodes), printing what
// happens; returns the number of checks that failed.
int demo_service(const Devnet& net);

}  // namespace bc::devnet
