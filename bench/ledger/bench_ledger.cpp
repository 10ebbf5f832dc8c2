// bc-bench-ledger: blocks of N signed transfers, validated, applied and
// committed (synced WriteBatch) by a follower with a cold signature cache,
// beside the raw BIP340 verification rate of this machine's cores measured
// in the same run. Goal: end-to-end tx/s >= 0.8x the raw verify rate.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>
#include <unistd.h>

#include "bench/common/raw_verify.hpp"
#include "layers/runtime.hpp"
#include "ledger/genesis.hpp"
#include "ledger/ledger.hpp"

using namespace bc;
using namespace bc::ledger;
using Clock = std::chrono::steady_clock;
using bc::bench::median;
using bc::bench::raw_verify_rate;

namespace {

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Ledger block throughput vs raw Schnorr verification on all cores"};
  std::size_t txs_per_block = 10000, blocks = 7, accounts = 20000, threads = 0, raw_runs = 3;
  std::string dir = "/tmp/bc-bench-ledger-" + std::to_string(::getpid());
  bool nosync = false;
  app.add_option("--txs", txs_per_block, "signed transfers per block");
  app.add_option("--blocks", blocks, "blocks measured (median reported)");
  app.add_option("--accounts", accounts, "funded accounts");
  app.add_option("--threads", threads, "verification threads (0: all cores)");
  app.add_option("--raw-runs", raw_runs, "runs of the raw verify measurement");
  app.add_option("--dir", dir, "scratch directory (removed afterwards)");
  app.add_flag("--no-sync", nosync, "do not fsync block commits (not the real thing)");
  CLI11_PARSE(app, argc, argv);
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  accounts = std::max(accounts, txs_per_block);

  std::printf("machine: %u hardware threads; verification threads: %zu; %zu transfers per block; %zu accounts; fsync %s\n",
              std::thread::hardware_concurrency(), threads, txs_per_block, accounts, nosync ? "off" : "on");

  // 1. The hardware reference, same run.
  std::vector<double> raw;
  for (std::size_t r = 0; r < raw_runs; ++r) raw.push_back(raw_verify_rate(threads, txs_per_block * 2));
  double raw_rate = median(raw);
  std::printf("raw BIP340 verify, %zu threads: %.0f verifies/s (median of %zu runs; %.0f/s per thread)\n", threads, raw_rate, raw_runs,
              raw_rate / static_cast<double>(threads));

  // 2. Chain setup: producer, follower (apply_block), and a second follower (validate/commit split).
  std::filesystem::remove_all(dir);
  TestGenesis tg = make_test_genesis(accounts, 1'000'000'000, 5);
  KeyPair producer = test_key(6, 0);
  tg.genesis.params.producers = {producer.public_key()};
  tg.genesis.params.max_block_txs = static_cast<std::uint32_t>(std::max<std::size_t>(txs_per_block, 20000));
  tg.genesis.params.max_block_bytes = 64u << 20;
  tg.genesis.time = 1'700'000'000'000;
  auto open = [&](const std::string& name) {
    LedgerOptions o;
    o.dir = std::filesystem::path(dir) / name;
    o.genesis = tg.genesis;
    o.sync = !nosync;
    o.verify_threads = threads;
    auto l = Ledger::open(o);
    if (!l.ok()) {
      std::fprintf(stderr, "%s\n", l.status().text().c_str());
      std::exit(1);
    }
    return std::move(*l);
  };
  auto a = open("producer");
  auto b = open("follower");
  auto c = open("follower-split");

  std::vector<std::uint64_t> nonces(accounts, 0);
  Rng rng(99);
  WorkerPool signers(threads);
  std::vector<double> cold_rate, warm_rate, latency_ms, validate_ms, commit_ms, raw_beside, ratio;
  std::size_t block_bytes = 0;
  for (std::size_t blk = 0; blk < blocks; ++blk) {
    // Sign a block's worth of transfers (not measured).
    std::vector<Tx> txs(txs_per_block);
    std::vector<std::size_t> from(txs_per_block), to(txs_per_block);
    for (std::size_t i = 0; i < txs_per_block; ++i) {
      from[i] = (blk * txs_per_block + i) % accounts;
      to[i] = rng.uniform(accounts);
    }
    signers.run(txs_per_block, [&](std::size_t i) {
      TxBody body;
      body.chain_id = tg.genesis.params.chain_id;
      body.sender = tg.keys[from[i]].public_key();
      body.nonce = nonces[from[i]];
      body.fee = 1;
      body.payload = Transfer{tg.genesis.accounts[to[i]].address, 1 + i % 1000};
      txs[i] = sign_tx(std::move(body), tg.keys[from[i]]);
    });
    for (std::size_t i = 0; i < txs_per_block; ++i) ++nonces[from[i]];
    std::vector<const Tx*> ptrs;
    for (const auto& t : txs) ptrs.push_back(&t);
    auto built = a->build_block(ptrs, tg.genesis.time + static_cast<TimeMs>(blk + 1) * 1000, producer);
    if (!built.dropped.empty() || built.block.txs.size() != txs_per_block) {
      std::fprintf(stderr, "producer dropped %zu txs: %s\n", built.dropped.size(), built.dropped.front().second.text().c_str());
      return 1;
    }
    block_bytes = built.bytes.size();

    // Producer: its own block, signatures already in its cache (the mempool path).
    auto t0 = Clock::now();
    Status s = a->apply_block(built.bytes);
    double warm = seconds_since(t0);
    // The hardware reference again, right beside this block: on a shared
    // machine the load changes from second to second.
    raw_beside.push_back(raw_verify_rate(threads, txs_per_block));
    // Follower: a received block, cold cache: decode, verify, apply, commit.
    t0 = Clock::now();
    Status s2 = b->apply_block(built.bytes);
    double cold = seconds_since(t0);
    // Split follower: validate, then commit (what a BFT round does).
    t0 = Clock::now();
    auto prepared = c->validate_block(built.bytes);
    double v = seconds_since(t0);
    t0 = Clock::now();
    Status s3 = prepared.ok() ? c->commit(std::move(*prepared)) : prepared.status();
    double cm = seconds_since(t0);
    if (!s.ok() || !s2.ok() || !s3.ok()) {
      std::fprintf(stderr, "apply failed: %s | %s | %s\n", s.text().c_str(), s2.text().c_str(), s3.text().c_str());
      return 1;
    }
    if (b->head().state_root != a->head().state_root || c->head().state_root != a->head().state_root) {
      std::fprintf(stderr, "state roots diverged\n");
      return 1;
    }
    const double n = static_cast<double>(txs_per_block);
    warm_rate.push_back(n / warm);
    cold_rate.push_back(n / cold);
    latency_ms.push_back(cold * 1000);
    ratio.push_back((n / cold) / raw_beside.back());
    validate_ms.push_back(v * 1000);
    commit_ms.push_back(cm * 1000);
    std::printf("block %zu: %zu txs, %zu bytes, follower %.1f ms (%.0f tx/s; raw verify just before %.0f/s, ratio %.2f), producer %.1f ms, "
                "validate %.1f ms + commit %.1f ms\n",
                static_cast<std::size_t>(a->head().height), txs_per_block, block_bytes, cold * 1000, n / cold, raw_beside.back(), ratio.back(),
                warm * 1000, v * 1000, cm * 1000);
  }
  double cold_med = median(cold_rate);
  std::printf("\n== results (medians of %zu blocks of %zu signed transfers) ==\n", blocks, txs_per_block);
  std::printf("raw BIP340 verify on %zu threads:             %10.0f /s\n", threads, raw_rate);
  std::printf("received block validate+apply+commit:        %10.0f tx/s   ratio %.2f (goal >= 0.80)\n", cold_med, cold_med / raw_rate);
  std::printf("  ratio to raw verify measured beside each block: median %.2f (raw beside: median %.0f/s)\n", median(ratio), median(raw_beside));
  std::printf("own block (signatures cached by mempool):    %10.0f tx/s   ratio %.2f\n", median(warm_rate), median(warm_rate) / raw_rate);
  std::printf("block latency, arrival to synced commit:     %10.1f ms (max %.1f)\n", median(latency_ms),
              *std::max_element(latency_ms.begin(), latency_ms.end()));
  std::printf("split path: validate %.1f ms, commit (tree + WriteBatch%s) %.1f ms\n", median(validate_ms), nosync ? "" : " + fsync",
              median(commit_ms));
  a.reset();
  b.reset();
  c.reset();
  std::filesystem::remove_all(dir);
  return 0;
}
