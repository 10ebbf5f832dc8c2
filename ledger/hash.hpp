// Tagged SHA-256 with the tag's 64-byte prefix absorbed once.
//
// Gives exactly bc::tagged_hash(tag, data), but copies a precomputed
// midstate instead of hashing SHA256(tag)||SHA256(tag) again and skips
// EVP's dispatch: ~2.5x faster on the 64-byte inputs of the state tree and
// Merkle roots, where a 10,000-transfer block computes ~150,000 hashes.
// Immutable after construction, so one instance is shared by all threads.
#pragma once
#include <array>
#include <cstdint>
#include <string_view>

#include "layers/bytes.hpp"

namespace bc::ledger {

class Tag {
 public:
  explicit Tag(std::string_view tag);
  Hash256 hash(ByteView data) const;
  Hash256 hash(const Hash256& a, const Hash256& b) const;  // of a || b

 private:
  alignas(8) std::array<std::uint8_t, 128> base_{};  // an OpenSSL SHA256_CTX
};

}  // namespace bc::ledger
