// The hardware limit the ledger and consensus benchmarks compare against:
// raw BIP340 verifications per second on this machine's cores, measured in
// the same run as the figure beside it.
#pragma once
#include <cstddef>
#include <vector>

namespace bc::bench {

// Verifications per second with `threads` threads over n signatures (64
// keys), each thread over its own slice. Prints to stderr if any failed.
double raw_verify_rate(std::size_t threads, std::size_t n);

// The median of v (0 for an empty v).
double median(std::vector<double> v);

}  // namespace bc::bench
