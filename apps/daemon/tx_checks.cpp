#include "apps/daemon/tx_checks.hpp"

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

void TxChecks::check_tx(ledger::Tx tx, std::function<void(Status, ledger::Tx)> done) {
  boost::asio::post(pool_, [this, tx = std::move(tx), done = std::move(done)]() mutable {
    Status s = ledger::check_tx_stateless(tx, params_, cache_);
    done(std::move(s), std::move(tx));
  });
}

}  // namespace bc::apps
