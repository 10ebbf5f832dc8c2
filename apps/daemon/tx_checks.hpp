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
// A batch a peer relayed is checked in chunks of kChunk txs, one task each,
// so both workers share a large batch and a client's check waits behind a
// chunk at most, not a whole batch. (libsecp256k1 0.2 has no batch
// verification of BIP340 signatures: each is verified alone.)
//
// Threads: check_bytes()/check_txs() from any thread; `done` runs on a
// worker. stop() (idempotent, also the destructor) drops checks not started
// and joins the workers: after it no `done` runs.
#pragma once
#include <functional>
#include <vector>

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
  // Txs a peer relayed (decoded by the sync core already): `done` gets
  // those that passed, in their order, once every chunk is checked.
  void check_txs(std::vector<ledger::Tx> txs, std::function<void(std::vector<ledger::Tx>)> done);
  static constexpr std::size_t kChunk = 32;
  void stop();

 private:
  const ledger::ChainParams params_;
  SignatureCache& cache_;
  boost::asio::thread_pool pool_;
  bool stopped_ = false;
};

}  // namespace bc::apps
