#include "apps/storage/erasure.hpp"

#include <isa-l/erasure_code.h>

#include "layers/assert.hpp"

namespace bc::storage {

ErasureCoder::ErasureCoder(std::uint32_t k, std::uint32_t m) : k_(k), m_(m) {
  BC_ASSERT(k >= 1 && k <= kMaxDataShards && m <= kMaxParityShards && k + m <= kMaxTotalShards);
  matrix_.resize(std::size_t{k + m} * k);
  gf_gen_cauchy1_matrix(matrix_.data(), static_cast<int>(k + m), static_cast<int>(k));
  encode_tables_.resize(std::size_t{32} * k * (m == 0 ? 1 : m));
  if (m > 0) ec_init_tables(static_cast<int>(k), static_cast<int>(m), matrix_.data() + std::size_t{k} * k,
                            encode_tables_.data());
}

void ErasureCoder::encode(std::span<const std::uint8_t* const> data, std::span<std::uint8_t* const> parity,
                          std::size_t len) const {
  BC_ASSERT(data.size() == k_ && parity.size() == m_);
  BC_ASSERT(len <= kMaxShardBytes);
  if (m_ == 0 || len == 0) return;
  // ISA-L's signature takes non-const pointers; it only reads the sources.
  ec_encode_data(static_cast<int>(len), static_cast<int>(k_), static_cast<int>(m_),
                 const_cast<std::uint8_t*>(encode_tables_.data()), const_cast<std::uint8_t**>(data.data()),
                 const_cast<std::uint8_t**>(parity.data()));
}

Status ErasureCoder::reconstruct_data(std::span<std::uint8_t* const> shards, std::span<const bool> present,
                                      std::size_t len) const {
  BC_ASSERT(shards.size() == k_ + m_ && present.size() == k_ + m_);
  std::vector<std::uint32_t> rows, missing;
  for (std::uint32_t j = 0; j < k_ + m_ && rows.size() < k_; ++j)
    if (present[j]) rows.push_back(j);
  if (rows.size() < k_) return fail(Error::kNotEnoughShards, "fewer than k shards");
  for (std::uint32_t j = 0; j < k_; ++j)
    if (!present[j]) missing.push_back(j);
  if (missing.empty() || len == 0) return Status::success();

  // The k x k submatrix of the chosen rows maps data -> chosen shards; its
  // inverse maps chosen shards -> data. Cauchy: always invertible.
  std::vector<std::uint8_t> sub(std::size_t{k_} * k_), inv(std::size_t{k_} * k_);
  for (std::uint32_t r = 0; r < k_; ++r)
    for (std::uint32_t c = 0; c < k_; ++c) sub[r * k_ + c] = matrix_[std::size_t{rows[r]} * k_ + c];
  const int rc = gf_invert_matrix(sub.data(), inv.data(), static_cast<int>(k_));
  BC_ASSERT_MSG(rc == 0, "a Cauchy submatrix must be invertible");

  std::vector<std::uint8_t> decode_rows(missing.size() * k_);
  for (std::size_t i = 0; i < missing.size(); ++i)
    for (std::uint32_t c = 0; c < k_; ++c) decode_rows[i * k_ + c] = inv[std::size_t{missing[i]} * k_ + c];
  std::vector<std::uint8_t> tables(std::size_t{32} * k_ * missing.size());
  ec_init_tables(static_cast<int>(k_), static_cast<int>(missing.size()), decode_rows.data(), tables.data());

  std::vector<std::uint8_t*> sources(k_), targets(missing.size());
  for (std::uint32_t r = 0; r < k_; ++r) sources[r] = shards[rows[r]];
  for (std::size_t i = 0; i < missing.size(); ++i) targets[i] = shards[missing[i]];
  ec_encode_data(static_cast<int>(len), static_cast<int>(k_), static_cast<int>(missing.size()), tables.data(),
                 sources.data(), targets.data());
  return Status::success();
}

}  // namespace bc::storage
