// blockcloudd's test-only faults (--test-fault NAME): a node that misbehaves
// on purpose so the fault tests can check that the chain catches it. Refused
// unless BC_TEST_FAULTS=1 is in the environment as well, so no config file
// or stray flag can get an operator's stake or bond slashed.
//   equivocate             a validator signs two votes in every slot (BftNodeConfig)
//   storage-wrong-answers  a storage provider signs wrong audit answers (StorageModuleConfig)
//   favour-validators      a provider takes flows for its services only from the
//                          committee's addresses (the IPs of its --bft-peer
//                          endpoints) and refuses everyone else's: it serves
//                          validators well and everyone else badly
//                          (docs/proof-of-service.md, "A provider that recognises auditors")
#pragma once
#include "apps/daemon/daemon.hpp"
#include "sal/host/host.hpp"

namespace bc::apps {

// Throws ConfigError saying why for a fault without BC_TEST_FAULTS=1, an
// unknown fault, or one this node's options cannot carry; warns loudly at
// start-up for favour-validators (the others warn where they act).
void check_test_fault(const LedgerOptions& lo, bool storage);

// favour-validators: the flow filter (sal::HostHooks::accept_flow) that takes
// flows only from the IP addresses of lo.bft_peers. Empty for any other fault.
sal::FlowFilter favour_validators_filter(const LedgerOptions& lo);

}  // namespace bc::apps
