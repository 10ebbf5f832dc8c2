// The demo's Proof-of-Service step (docs/proof-of-service.md): two providers
// offer a service each with a bond, one answering the offer's probe right and
// one wrong; a client pays both through escrows with usage receipts; the
// validators' miners audit them, and the settlement pays, refunds, burns and
// rewards. Everything printed is read back from the chain.
#pragma once
#include "apps/devnet/devnet.hpp"

namespace bc::devnet {

// Step 9 on a certified devnet whose genesis has short epochs (the demo's
// defaults: 200 ms blocks, 10-block epochs). Needs accounts 2, 3 and 4 (the
// two owners and the client). Returns the number of checks that failed.
int demo_pos(const Devnet& net);

}  // namespace bc::devnet
