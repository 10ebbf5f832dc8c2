#include "apps/daemon/tx_checks.hpp"

#include <algorithm>
#include <atomic>
#include <memory>

#include <boost/asio/post.hpp>

#include "layers/assert.hpp"

namespace bc::apps {

TxChecks::TxChecks(ledger::ChainParams params, SignatureCache& cache, std::size_t threads)
    : params_(std::move(params)), cache_(cache), pool_(threads) {
  BC_ASSERT(threads > 0);
}

TxChecks::~TxChecks() { stop(); }

void TxChecks::stop() {
  if (stopped_) return;
  stopped_ = true;
  pool_.stop();
  pool_.join();
}

void TxChecks::check_bytes(Bytes bytes, std::function<void(Result<ledger::Tx>)> done) {
  boost::asio::post(pool_, [this, bytes = std::move(bytes), done = std::move(done)] {
    auto tx = ledger::decode_tx(bytes, params_);
    if (tx.ok()) {
      if (Status s = ledger::check_tx_stateless(*tx, params_, cache_); !s.ok()) return done(s);
    }
    done(std::move(tx));
  });
}

namespace {
// One relayed batch across its chunks: each chunk marks its own txs; the
// last chunk to finish hands on those that passed.
struct RelayedBatch {
  RelayedBatch(std::vector<ledger::Tx> t, std::size_t chunks, std::function<void(std::vector<ledger::Tx>)> d)
      : txs(std::move(t)), passed(txs.size(), 0), left(chunks), done(std::move(d)) {}
  std::vector<ledger::Tx> txs;
  std::vector<char> passed;  // one slot per tx, each written by one chunk only
  std::atomic<std::size_t> left;
  std::function<void(std::vector<ledger::Tx>)> done;

  void finish() {
    std::vector<ledger::Tx> ok;
    ok.reserve(txs.size());
    for (std::size_t i = 0; i < txs.size(); ++i)
      if (passed[i]) ok.push_back(std::move(txs[i]));
    done(std::move(ok));
  }
};
}  // namespace

void TxChecks::check_txs(std::vector<ledger::Tx> txs, std::function<void(std::vector<ledger::Tx>)> done) {
  BC_ASSERT(!txs.empty());  // the sync core asks only for txs it has not seen
  const std::size_t chunks = (txs.size() + kChunk - 1) / kChunk;
  auto batch = std::make_shared<RelayedBatch>(std::move(txs), chunks, std::move(done));
  for (std::size_t c = 0; c < chunks; ++c) {
    boost::asio::post(pool_, [this, batch, c] {
      const std::size_t end = std::min(batch->txs.size(), (c + 1) * kChunk);
      for (std::size_t i = c * kChunk; i < end; ++i)
        batch->passed[i] = ledger::check_tx_stateless(batch->txs[i], params_, cache_).ok();
      // The acq_rel decrement orders every chunk's writes before the last one reads them.
      if (batch->left.fetch_sub(1, std::memory_order_acq_rel) == 1) batch->finish();
    });
  }
}

}  // namespace bc::apps
