// Mempool admission's state-free part, callable off the ledger's thread.
#pragma once
#include "ledger/sig_cache.hpp"
#include "ledger/tx.hpp"

namespace bc::ledger {

// check_tx_context_free, then the signature unless `cache` holds tx.id (a
// success is remembered there, so neither Mempool::add nor the validation
// of a block carrying the tx checks it again). Reads no ledger state and
// is thread-safe: a daemon runs it on worker threads before the ledger
// thread's stateful Mempool::add (Ledger::check_tx_stateless is this with
// the ledger's params and cache).
Status check_tx_stateless(const Tx& tx, const ChainParams& params, SignatureCache& cache);

}  // namespace bc::ledger
