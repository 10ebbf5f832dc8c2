// Shared by the ledger fuzz targets: a ledger over LevelDB's in-memory Env
// with a small test genesis, opened once per fuzzing process, and a check
// that stops the fuzzer with a crash report when an invariant breaks.
#pragma once
#include <leveldb/env.h>
#include <leveldb/helpers/memenv.h>

#include <memory>

#include "ledger/genesis.hpp"
#include "ledger/ledger.hpp"

namespace bc::ledger::fuzzing {

inline void require(bool ok) {
  if (!ok) __builtin_trap();
}

// Opened on first use; `dir` names the ledger inside the in-memory Env.
inline Ledger& fuzz_ledger(const char* dir) {
  static std::unique_ptr<leveldb::Env> env(leveldb::NewMemEnv(leveldb::Env::Default()));
  static std::unique_ptr<Ledger> l = [dir] {
    TestGenesis tg = make_test_genesis(4, 1000, 1);
    tg.genesis.params.producers = {test_key(2, 0).public_key()};
    LedgerOptions o;
    o.dir = dir;
    o.genesis = tg.genesis;
    o.sync = false;
    o.env = env.get();
    o.verify_threads = 1;
    auto r = Ledger::open(o);
    require(r.ok());
    return std::move(*r);
  }();
  return *l;
}

}  // namespace bc::ledger::fuzzing
