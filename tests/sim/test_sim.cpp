// The whole-node simulator over many seeds: each seed crashes one node at a
// random moment and restarts it from its fault-injecting store (see
// whole_node_sim.hpp for what is checked).
//
//   BC_SIM_SEEDS=1000 ./build/bin/test_sim   more seeds (default 50)
//   BC_SIM_SEED=17 ./build/bin/test_sim      one seed, to reproduce a failure
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "tests/sim/fault_env.hpp"
#include "tests/sim/whole_node_sim.hpp"

namespace {
std::uint64_t env_or(const char* name, std::uint64_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 10) : fallback;
}
}  // namespace

TEST_CASE("whole-node simulator: a crash at a random moment loses no committed block; nodes agree") {
  const char* one = std::getenv("BC_SIM_SEED");
  const std::uint64_t first = one && *one ? env_or("BC_SIM_SEED", 0) : 1;
  const std::uint64_t count = one && *one ? 1 : env_or("BC_SIM_SEEDS", 50);
  std::uint64_t failed = 0, height = 0, txs = 0, lost_bytes = 0;
  for (std::uint64_t seed = first; seed < first + count; ++seed) {
    const bc::sim::SimReport r = bc::sim::run_whole_node_sim(seed);
    height += r.height;
    txs += r.txs;
    lost_bytes += r.lost_unsynced_bytes;
    if (r.ok()) continue;
    ++failed;
    std::printf("seed %llu FAILED: %s\n  reproduce: BC_SIM_SEED=%llu ./build/bin/test_sim\n",
                static_cast<unsigned long long>(seed), r.failure.c_str(), static_cast<unsigned long long>(seed));
    CHECK_MESSAGE(r.ok(), "seed ", seed, ": ", r.failure);
  }
  std::printf("whole-node sim: %llu seeds, %llu failed, %llu blocks and %llu transfers committed in all, "
              "%llu unsynced bytes dropped by crashes\n",
              static_cast<unsigned long long>(count), static_cast<unsigned long long>(failed),
              static_cast<unsigned long long>(height), static_cast<unsigned long long>(txs),
              static_cast<unsigned long long>(lost_bytes));
  CHECK(height > count * 10);  // the runs made progress
  CHECK(txs > count * 20);
}

TEST_CASE("whole-node simulator: the checks catch a ledger whose commits are not synced") {
  // The same runs with each block's batch left unsynced: a crash must lose a
  // block the node had reported committed, in at least one of a few seeds.
  bc::sim::SimOptions unsynced;
  unsynced.ledger_sync = false;
  int caught = 0;
  for (std::uint64_t seed = 1; seed <= 5; ++seed)
    if (!bc::sim::run_whole_node_sim(seed, unsynced).ok()) ++caught;
  CHECK(caught > 0);
}

TEST_CASE("fault env: a crash drops unsynced writes and files never made durable") {
  bc::sim::FaultEnv env;
  REQUIRE(env.CreateDir("/d").ok());
  leveldb::WritableFile* f = nullptr;
  REQUIRE(env.NewWritableFile("/d/a", &f).ok());
  REQUIRE(f->Append("durable").ok());
  REQUIRE(f->Sync().ok());  // a new file: its directory entry becomes durable too
  REQUIRE(f->Append("-lost").ok());
  REQUIRE(f->Close().ok());
  delete f;
  leveldb::WritableFile* g = nullptr;
  REQUIRE(env.NewWritableFile("/d/b", &g).ok());
  REQUIRE(g->Append("never synced").ok());
  REQUIRE(g->Close().ok());
  delete g;
  CHECK(env.unsynced_bytes() == 5 + 12);
  env.crash();
  env.drop_unsynced();
  std::string a;
  REQUIRE(leveldb::ReadFileToString(&env, "/d/a", &a).ok());
  CHECK(a == "durable");
  CHECK(!env.FileExists("/d/b"));
  CHECK(env.unsynced_bytes() == 0);
}

TEST_CASE("fault env: what a database writes after the power went out is lost, even synced") {
  bc::sim::FaultEnv env;
  REQUIRE(env.CreateDir("/d").ok());
  leveldb::WritableFile* f = nullptr;
  REQUIRE(env.NewWritableFile("/d/log", &f).ok());
  REQUIRE(f->Append("kept").ok());
  REQUIRE(f->Sync().ok());
  env.crash();
  REQUIRE(f->Append("-after").ok());  // the rest of an input that runs on after the crash
  REQUIRE(f->Sync().ok());
  REQUIRE(f->Close().ok());
  delete f;
  leveldb::WritableFile* g = nullptr;
  REQUIRE(env.NewWritableFile("/d/new", &g).ok());
  REQUIRE(g->Sync().ok());
  REQUIRE(g->Close().ok());
  delete g;
  REQUIRE(env.RenameFile("/d/log", "/d/moved").ok());
  env.drop_unsynced();
  std::string log;
  REQUIRE(leveldb::ReadFileToString(&env, "/d/log", &log).ok());
  CHECK(log == "kept");
  CHECK(!env.FileExists("/d/new"));
  CHECK(!env.FileExists("/d/moved"));
}
