// A process killed (SIGKILL) at random instants while committing blocks:
// every reopen must find the last whole block, pass the state-root check
// and conserve supply, and the chain must go on from there.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ledger_fixture.hpp"

using namespace bc;
using namespace bc::ledger;
using namespace bc::ledger::test;

namespace {

// Child: commits blocks of transfers forever (until killed).
[[noreturn]] void commit_forever(LedgerOptions o, const std::vector<KeyPair>& keys, const KeyPair& producer) {
  auto l = Ledger::open(o);
  if (!l.ok()) _exit(2);
  Ledger& L = **l;
  for (std::uint64_t i = 0;; ++i) {
    std::vector<Tx> txs;
    for (std::size_t k = 0; k < keys.size(); ++k) {
      TxBody b;
      b.chain_id = L.params().chain_id;
      b.sender = keys[k].public_key();
      b.nonce = L.account(address_of(b.sender))->nonce;
      b.fee = 1;
      b.payload = Transfer{address_of(keys[(k + 1) % keys.size()].public_key()), 1 + i % 7};
      txs.push_back(sign_tx(b, keys[k]));
    }
    std::vector<const Tx*> ptrs;
    for (const auto& t : txs) ptrs.push_back(&t);
    auto built = L.build_block(ptrs, L.head().time + 1000, producer);
    if (!built.dropped.empty() || !L.apply_block(built.bytes).ok()) _exit(3);
  }
}

}  // namespace

TEST_CASE("SIGKILL at random instants never leaves a half-written block") {
  Chain c;
  c.ledger.reset();
  LedgerOptions o = c.options();
  o.sync = true;
  o.verify_threads = 1;
  Rng rng(77);
  std::uint64_t last = 0;
  int advanced = 0;
  for (int round = 0; round < 6; ++round) {
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) commit_forever(o, c.tg.keys, c.producer);
    ::usleep(static_cast<useconds_t>(50'000 + rng.uniform(250'000)));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    CHECK_MESSAGE(WIFSIGNALED(status), "child exited on its own with code " << WEXITSTATUS(status));

    auto l = Ledger::open(o);
    REQUIRE_MESSAGE(l.ok(), l.status().text());
    Ledger& L = **l;
    CHECK(L.head().height >= last);
    if (L.head().height > last) ++advanced;
    last = L.head().height;
    CHECK(L.computed_root() == L.head().state_root);
    CHECK(check_supply(L.state()).empty());
    // Every committed block is there and decodes.
    for (std::uint64_t h = 0; h <= L.head().height; ++h) {
      auto bytes = L.block_at(h);
      REQUIRE(bytes.has_value());
      CHECK(decode_block(*bytes, L.params()).ok());
    }
  }
  MESSAGE("after 6 kills the chain reached height " << last << " (" << advanced << " rounds made progress)");
  CHECK(advanced > 0);
}
