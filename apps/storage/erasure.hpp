// Reed-Solomon erasure coding over GF(2^8) with ISA-L: k data shards and m
// parity shards; any k of the k + m rebuild the data (docs/storage.md
// "Erasure coding"). The encoding matrix is Cauchy (every k x k submatrix
// invertible). An ErasureCoder is immutable after construction and may be
// shared between threads; decode tables are computed per call.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "apps/storage/format.hpp"

namespace bc::storage {

class ErasureCoder {
 public:
  // REQUIRES: 1 <= k <= kMaxDataShards, m <= kMaxParityShards, k + m <= kMaxTotalShards.
  ErasureCoder(std::uint32_t k, std::uint32_t m);

  std::uint32_t data_shards() const { return k_; }
  std::uint32_t parity_shards() const { return m_; }

  // Fills parity[0..m) from data[0..k). Every span has the same length len.
  void encode(std::span<const std::uint8_t* const> data, std::span<std::uint8_t* const> parity,
              std::size_t len) const;

  // Rebuilds the data shards from k good shards. `shards` has k + m entries
  // of len bytes; `present[j]` says whether shards[j] holds good bytes. On
  // success every data shard (indices < k) holds its bytes (missing ones are
  // written in place); parity shards are left as they were.
  // Returns kNotEnoughShards when fewer than k are present.
  Status reconstruct_data(std::span<std::uint8_t* const> shards, std::span<const bool> present,
                          std::size_t len) const;

 private:
  std::uint32_t k_, m_;
  std::vector<std::uint8_t> matrix_;        // (k + m) x k, row-major; top k rows are the identity
  std::vector<std::uint8_t> encode_tables_;  // ec_init_tables over the m parity rows
};

}  // namespace bc::storage
