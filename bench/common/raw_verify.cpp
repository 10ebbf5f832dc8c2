#include "bench/common/raw_verify.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "layers/crypto.hpp"
#include "ledger/genesis.hpp"

namespace bc::bench {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : (v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2);
}

double raw_verify_rate(std::size_t threads, std::size_t n) {
  std::vector<XOnlyPubKey> keys;
  std::vector<Hash256> digests;
  std::vector<Signature> sigs;
  std::vector<KeyPair> kps;
  for (std::size_t i = 0; i < 64; ++i) kps.push_back(ledger::test_key(77, i));
  for (std::size_t i = 0; i < n; ++i) {
    Hash256 d = sha256(as_bytes(std::to_string(i)));
    digests.push_back(d);
    keys.push_back(kps[i % 64].public_key());
    sigs.push_back(kps[i % 64].sign(d));
  }
  std::atomic<std::size_t> ok{0};
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> ts;
  for (std::size_t t = 0; t < threads; ++t) {
    ts.emplace_back([&, t] {
      std::size_t good = 0;
      for (std::size_t i = t; i < n; i += threads) good += verify(keys[i], digests[i], sigs[i]);
      ok += good;
    });
  }
  for (auto& t : ts) t.join();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (ok != n) std::fprintf(stderr, "raw verify: %zu of %zu failed\n", n - ok.load(), n);
  return static_cast<double>(n) / s;
}

}  // namespace bc::bench
