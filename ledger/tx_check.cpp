#include "ledger/tx_check.hpp"

#include "ledger/error.hpp"

namespace bc::ledger {

Status check_tx_stateless(const Tx& tx, const ChainParams& params, SignatureCache& cache) {
  if (Status s = check_tx_context_free(tx, params); !s.ok()) return s;
  if (cache.contains(tx.id)) return {};
  if (!verify_tx_signature(tx)) return fail(Error::kBadSignature, "transaction signature does not verify under the sender's key");
  cache.insert(tx.id);
  return {};
}

}  // namespace bc::ledger
