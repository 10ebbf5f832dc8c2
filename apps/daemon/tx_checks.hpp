// Transaction admission's expensive, state-free half, on worker threads:
// decoding, the context-free checks and the BIP340 signature
// (ledger::check_tx_stateless). A tx that passes is remembered in the
// ledger's SignatureCache, so the ledger thread's Mempool::add and the
// validation of a block that carries it find it there and do not verify it
// again. What needs state (index, nonce, funds, the mempool itself) stays
// with the caller, on the ledger thread.
//
// Why a pool of its own rather than the ledger's WorkerPool: that one runs
// one data-parallel loop at a time for its owner (a block's signatures on
// the ledger thread); admissions are a stream of independent calls from the
// io thread that must neither wait behind a block nor hold one up.
//
// Threads: check_bytes()/check_tx() from any thread; `done` runs on a
// worker. stop() (idempotent, also the destructor) drops checks not started
// and joins the workers: after it no `done` runs.
#pragma once
#include <functional>

#include <boost/asio/thread_pool.hpp>

#include "ledger/tx_check.hpp"

namespace bc::apps {

class TxChecks {
 public:
  // params: the chain's (fixed at genesis); cache: the ledger's, outlives this.
  TxChecks(ledger::ChainParams params, SignatureCache& cache, std::size_t threads);
  ~TxChecks();
  TxChecks(const TxChecks&) = delete;
  TxChecks& operator=(const TxChecks&) = delete;

  // Signed tx bytes as a client sent them: decoded (bounded) and checked.
  void check_bytes(Bytes bytes, std::function<void(Result<ledger::Tx>)> done);
  // A tx a peer relayed (decoded by the sync core already): checked.
  void check_tx(ledger::Tx tx, std::function<void(Status, ledger::Tx)> done);
  void stop();

 private:
  const ledger::ChainParams params_;
  SignatureCache& cache_;
  boost::asio::thread_pool pool_;
  bool stopped_ = false;
};

}  // namespace bc::apps
