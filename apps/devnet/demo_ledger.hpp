// The demo's ledger steps on a certified chain: a transfer finalised by the
// committee of validators, and the chain going on after one is killed.
#pragma once
#include "apps/devnet/devnet.hpp"

namespace bc::devnet {

// Step 8: shows the committee, sends a transfer between two funded
// accounts through one node and waits until another node has it in a
// block with a commit certificate. Returns the number of checks that failed.
int demo_committee(const Devnet& net);

// After `killed` (a validator) is gone: waits until the chain finalises two
// more blocks without it, as seen from `observer`. Returns 1 if it does not.
int chain_goes_on(const Devnet& net, const NodeEntry& killed, const NodeEntry& observer);

}  // namespace bc::devnet
