// The demo's storage step: a file stored on the devnet's storage providers,
// reached by service ID, and read back whole.
#pragma once
#include "apps/devnet/devnet.hpp"

namespace bc::devnet {

// Runs the step on a running devnet whose storage providers are listed (or
// soon will be), printing what happens; returns the number of checks that failed.
int demo_storage(const Devnet& net);

}  // namespace bc::devnet
