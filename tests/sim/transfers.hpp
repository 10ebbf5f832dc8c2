// The client workload of the simulators: signed transfers between the test
// genesis accounts, each sender's nonce kept as a client keeps it (one after
// the last it sent, unless that runs more than 4 ahead of the chain: its txs
// were lost with a crash or never proposed, so it starts again from the
// chain's nonce).
#pragma once
#include <map>
#include <vector>

#include "layers/runtime.hpp"
#include "ledger/ledger.hpp"
#include "ledger/tx.hpp"

namespace bc::sim {

class TransferWorkload {
 public:
  // keys[i] owns account i of the genesis; must outlive the workload.
  explicit TransferWorkload(const std::vector<KeyPair>& keys) : keys_(keys) {}
  // 1..100 units from a random account to a random one, fee 1, its nonce
  // from `view`: the ledger of the node the client talks to.
  ledger::Tx next(Rng& rng, const ledger::Ledger& view);

 private:
  const std::vector<KeyPair>& keys_;
  std::map<std::size_t, std::uint64_t> next_nonce_;
};

}  // namespace bc::sim
