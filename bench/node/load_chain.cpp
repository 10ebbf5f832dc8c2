// bc-bench-load-chain: appends blocks of N signed transfers to a stopped
// producer's ledger (a devnet's node-0), so that a follower started later
// has full blocks to validate and commit (bench/node/commit_interference.sh).
// Transfers are between the devnet's funded accounts, signed with their key
// files; the blocks are signed with the producer's node key, timed just
// before now, and committed with the same Ledger code a daemon runs. The tx
// index is brought up to date too, so the producer starts at once.
// Prints one JSON line: {"from": h0, "to": h1, "txs_per_block": N, "block_bytes": [...]}.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "layers/crypto.hpp"
#include "ledger/genesis.hpp"
#include "ledger/ledger.hpp"
#include "ledger/tx_index.hpp"
#include "ledger/workers.hpp"

namespace fs = std::filesystem;
using namespace bc;
using namespace bc::ledger;

namespace {

[[noreturn]] void die(const std::string& msg) {
  std::fprintf(stderr, "bc-bench-load-chain: %s\n", msg.c_str());
  std::exit(1);
}

TimeMs wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct Accounts {
  std::vector<KeyPair> keys;
  std::vector<Address> addrs;
  std::vector<std::uint64_t> nonces;
};

// The funded accounts whose key files are in dir (account-<i>.key), in
// genesis order; their nonces from the ledger's committed state.
Accounts load_accounts(const fs::path& dir, const Genesis& g, const Ledger& ledger) {
  Accounts a;
  for (std::size_t i = 0; i < g.accounts.size(); ++i) {
    const fs::path file = dir / ("account-" + std::to_string(i) + ".key");
    if (!fs::exists(file)) break;
    KeyPair k = load_or_create_key_file(file);
    if (address_of(k.public_key()) != g.accounts[i].address) die(file.string() + " is not genesis account " + std::to_string(i));
    a.addrs.push_back(g.accounts[i].address);
    a.nonces.push_back(ledger.account(g.accounts[i].address).value_or(Account{}).nonce);
    a.keys.push_back(std::move(k));
  }
  if (a.keys.empty()) die("no account key files (account-0.key, ...) in " + dir.string());
  return a;
}

// n transfers; sender i % accounts with consecutive nonces, so a block may
// hold several txs of one sender in nonce order.
std::vector<Tx> sign_transfers(Accounts& a, const std::string& chain_id, std::size_t n, std::size_t round,
                               WorkerPool& pool) {
  const std::size_t na = a.keys.size();
  std::vector<std::size_t> from(n);
  std::vector<std::uint64_t> nonce(n);
  for (std::size_t i = 0; i < n; ++i) {
    from[i] = (round * n + i) % na;
    nonce[i] = a.nonces[from[i]]++;
  }
  std::vector<Tx> txs(n);
  pool.run(n, [&](std::size_t i) {
    TxBody body;
    body.chain_id = chain_id;
    body.sender = a.keys[from[i]].public_key();
    body.nonce = nonce[i];
    body.fee = 1;
    body.payload = Transfer{a.addrs[(from[i] + 1 + i % 7) % na], 1 + i % 1000};
    txs[i] = sign_tx(std::move(body), a.keys[from[i]]);
  });
  return txs;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Append blocks of signed transfers to a stopped producer's ledger"};
  std::string genesis_file, ledger_dir, txindex_dir, producer_key, accounts_dir;
  std::size_t blocks = 10, txs_per_block = 10000;
  app.add_option("--genesis", genesis_file, "the devnet's genesis.json")->required();
  app.add_option("--ledger", ledger_dir, "the producer's ledger directory (DATADIR/ledger)")->required();
  app.add_option("--txindex", txindex_dir, "the producer's tx index directory (DATADIR/txindex)")->required();
  app.add_option("--producer-key", producer_key, "the producer's node key (DATADIR/node.key)")->required();
  app.add_option("--accounts-dir", accounts_dir, "the funded accounts' key files (account-<i>.key)")->required();
  app.add_option("--blocks", blocks, "blocks to append");
  app.add_option("--txs", txs_per_block, "signed transfers per block");
  CLI11_PARSE(app, argc, argv);

  auto g = load_genesis_file(genesis_file);
  if (!g.ok()) die(genesis_file + ": " + g.status().text());
  if (txs_per_block > g->params.max_block_txs)
    die("--txs " + std::to_string(txs_per_block) + " exceeds the chain's max_block_txs " +
        std::to_string(g->params.max_block_txs));
  const KeyPair producer = load_or_create_key_file(producer_key);
  LedgerOptions lo;
  lo.dir = ledger_dir;
  lo.genesis = *g;
  auto opened = Ledger::open(std::move(lo));
  if (!opened.ok()) die(ledger_dir + ": " + opened.status().text());
  auto& ledger = **opened;
  auto index = TxIndex::open(txindex_dir);
  if (!index.ok()) die(txindex_dir + ": " + index.status().text());
  Accounts accounts = load_accounts(accounts_dir, *g, ledger);
  WorkerPool pool;
  const std::uint64_t from_height = ledger.head().height;
  std::string sizes;
  for (std::size_t b = 0; b < blocks; ++b) {
    std::vector<Tx> txs = sign_transfers(accounts, g->params.chain_id, txs_per_block, b, pool);
    std::vector<const Tx*> ptrs;
    for (const auto& t : txs) ptrs.push_back(&t);
    // Just before now (and never before the parent): a follower accepts it.
    const TimeMs t = std::max(ledger.head().time, wall_ms() - static_cast<TimeMs>(blocks - b));
    auto built = ledger.build_block(ptrs, t, producer);
    if (!built.dropped.empty() || built.block.txs.size() != txs_per_block)
      die("the block builder dropped " + std::to_string(built.dropped.size()) + " txs: " +
          (built.dropped.empty() ? std::string("?") : built.dropped.front().second.text()));
    if (auto s = ledger.apply_block(built.bytes); !s.ok()) die("own block refused: " + s.text());
    sizes += (b ? "," : "") + std::to_string(built.bytes.size());
    std::fprintf(stderr, "bc-bench-load-chain: block %llu: %zu txs, %zu bytes\n",
                 static_cast<unsigned long long>(ledger.head().height), txs_per_block, built.bytes.size());
  }
  if (auto s = (*index)->catch_up(ledger); !s.ok()) die("tx index: " + s.text());
  std::printf("{\"from\": %llu, \"to\": %llu, \"txs_per_block\": %zu, \"block_bytes\": [%s]}\n",
              static_cast<unsigned long long>(from_height), static_cast<unsigned long long>(ledger.head().height),
              txs_per_block, sizes.c_str());
  return 0;
}
