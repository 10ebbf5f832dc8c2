#include "tests/sim/transfers.hpp"

#include <algorithm>

namespace bc::sim {

ledger::Tx TransferWorkload::next(Rng& rng, const ledger::Ledger& view) {
  const std::size_t from = rng.uniform(keys_.size()), to = rng.uniform(keys_.size());
  const KeyPair& key = keys_[from];
  const auto acc = view.account(ledger::address_of(key.public_key()));
  const std::uint64_t committed = acc ? acc->nonce : 0;
  std::uint64_t nonce = std::max(next_nonce_[from], committed);
  if (nonce - committed > 4) nonce = committed;
  next_nonce_[from] = nonce + 1;
  ledger::TxBody b;
  b.chain_id = view.params().chain_id;
  b.sender = key.public_key();
  b.nonce = nonce;
  b.fee = 1;
  b.payload = ledger::Transfer{ledger::address_of(keys_[to].public_key()), 1 + rng.uniform(100)};
  return ledger::sign_tx(b, key);
}

}  // namespace bc::sim
