// Shared helpers for the ledger tests: temporary ledgers, signed txs, blocks.
#pragma once
#include <doctest/doctest.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>
#include <unistd.h>

#include "ledger/block.hpp"
#include "ledger/genesis.hpp"
#include "ledger/invariants.hpp"
#include "ledger/ledger.hpp"
#include "ledger/mempool.hpp"
#include "ledger/tx.hpp"

namespace bc::ledger::test {

// A directory removed when the object dies.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    static std::atomic<int> counter{0};
    path = std::filesystem::temp_directory_path() /
           ("bc-ledger-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(path);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

struct Chain {
  TempDir dir;
  TestGenesis tg;
  KeyPair producer = test_key(999, 0);
  std::unique_ptr<Ledger> ledger;
  TimeMs now = 1'700'000'000'000;

  explicit Chain(std::size_t accounts = 8, Amount balance = 1'000'000, std::uint64_t seed = 7, bool with_producer = true)
      : tg(make_test_genesis(accounts, balance, seed)) {
    tg.genesis.time = now;
    tg.genesis.params.unbonding_delay = 3;
    if (with_producer) tg.genesis.params.producers = {producer.public_key()};
    reopen();
  }
  LedgerOptions options() {
    LedgerOptions o;
    o.dir = dir.path;
    o.genesis = tg.genesis;
    o.sync = false;
    o.verify_threads = 2;
    return o;
  }
  void reopen() {
    ledger.reset();
    auto r = Ledger::open(options());
    REQUIRE_MESSAGE(r.ok(), r.status().text());
    ledger = std::move(*r);
  }
  const KeyPair& key(std::size_t i) const { return tg.keys.at(i); }
  Address addr(std::size_t i) const { return address_of(tg.keys.at(i).public_key()); }
  Account acct(std::size_t i) const { return ledger->account(addr(i)).value_or(Account{}); }
  std::uint64_t nonce(std::size_t i) const { return acct(i).nonce; }

  TxBody body(std::size_t from, TxPayload payload, Amount fee = 1, std::optional<std::uint64_t> nonce_override = std::nullopt) const {
    TxBody b;
    b.chain_id = ledger->params().chain_id;
    b.sender = key(from).public_key();
    b.nonce = nonce_override.value_or(nonce(from));
    b.fee = fee;
    b.payload = std::move(payload);
    return b;
  }
  Tx tx(std::size_t from, TxPayload payload, Amount fee = 1, std::optional<std::uint64_t> nonce_override = std::nullopt) const {
    return sign_tx(body(from, std::move(payload), fee, nonce_override), key(from));
  }

  // Builds a block from txs with the producer and applies it. Returns the
  // first dropped tx's status (if any) or the apply status.
  Status include(const std::vector<Tx>& txs) {
    std::vector<const Tx*> c;
    for (const auto& t : txs) c.push_back(&t);
    now += 1000;
    auto built = ledger->build_block(c, now, producer);
    Status s = ledger->apply_block(built.bytes);
    REQUIRE_MESSAGE(s.ok(), s.text());
    if (!built.dropped.empty()) return built.dropped.front().second;
    return {};
  }
  Status include(const Tx& tx) { return include(std::vector<Tx>{tx}); }

  // A block with the given txs and whatever roots the caller wants (for
  // testing rejection): tx and effects roots are right, state root as given.
  Block raw_block(std::vector<Tx> txs, std::optional<Hash256> state_root = std::nullopt, const KeyPair* signer = nullptr) {
    Block b;
    b.header.chain_id = ledger->params().chain_id;
    b.header.height = ledger->head().height + 1;
    b.header.prev_hash = ledger->head().hash;
    b.header.time = now + 1000;
    b.txs = std::move(txs);
    b.header.tx_root = tx_root(b.txs);
    b.header.effects_root = effects_root(b.effects);
    b.header.tx_count = static_cast<std::uint32_t>(b.txs.size());
    b.header.state_root = state_root.value_or(Hash256{});
    sign_block(b, signer ? *signer : producer);
    return b;
  }
};

// Applies a block and checks it was rejected with `code` and changed nothing.
inline void expect_rejected(Chain& c, ByteView bytes, Error code) {
  Head before = c.ledger->head();
  Hash256 root_before = c.ledger->computed_root();
  std::size_t accounts_before = c.ledger->state().accounts().size();
  Status s = c.ledger->apply_block(bytes);
  CHECK_MESSAGE(s.code == code, s.text());
  CHECK(!s.message.empty());
  CHECK(c.ledger->head().hash == before.hash);
  CHECK(c.ledger->head().height == before.height);
  CHECK(c.ledger->computed_root() == root_before);
  CHECK(c.ledger->computed_root() == c.ledger->head().state_root);
  CHECK(c.ledger->state().accounts().size() == accounts_before);
}
inline void expect_rejected(Chain& c, const Block& b, Error code) { expect_rejected(c, encode_block(b), code); }

}  // namespace bc::ledger::test
