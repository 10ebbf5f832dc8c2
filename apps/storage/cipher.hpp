// Keys and authenticated encryption for storage (docs/storage.md "Segment
// encryption", "Manifest").
//
// Every key is derived with HKDF-SHA256 from the user's master key and a
// fresh salt, and sealed data is AES-256-GCM with the tag appended. The nonce
// rules (never a (key, nonce) pair twice) are the callers' contract, stated
// on each function. Not thread-safe per object (one EVP context each).
#pragma once
#include <array>
#include <cstdint>
#include <span>
#include <string_view>

#include "apps/storage/format.hpp"

namespace bc::storage {

using Key256 = std::array<std::uint8_t, 32>;
using Salt = std::array<std::uint8_t, 32>;

inline constexpr std::string_view kSegmentKeyInfo = "blockcloud/storage/segment-key/v1";
inline constexpr std::string_view kManifestKeyInfo = "blockcloud/storage/manifest-key/v1";
inline constexpr std::string_view kDeleteTokenInfo = "blockcloud/storage/delete/v1";

// HKDF-SHA256(ikm, salt, info) -> 32 bytes.
Key256 hkdf_sha256(ByteView ikm, ByteView salt, ByteView info);

// The owner's delete token for one shard of the file with `file_salt`.
Key256 delete_token(const Key256& master, const Salt& file_salt, const ShardId& shard);

// AES-256-GCM under one key.
class AeadKey {
 public:
  explicit AeadKey(const Key256& key);
  ~AeadKey();
  AeadKey(const AeadKey&) = delete;
  AeadKey& operator=(const AeadKey&) = delete;

  // out = ciphertext(plain) || tag; out.size() must be plain.size() + kTagBytes.
  // out may alias plain exactly (in place). REQUIRES: the caller never seals
  // twice with this key and nonce.
  void seal(std::span<const std::uint8_t, 12> nonce, ByteView aad, ByteView plain, std::span<std::uint8_t> out);
  // Checks the tag and writes sealed.size() - kTagBytes bytes of plaintext;
  // kAuthFailed if the tag does not verify (out then holds no plaintext).
  // out may alias the start of sealed.
  Status open(std::span<const std::uint8_t, 12> nonce, ByteView aad, ByteView sealed, std::span<std::uint8_t> out);

 private:
  void* ctx_;  // EVP_CIPHER_CTX, keyed once
};

// Seals and opens the segments of one file: the per-file key, the nonce
// be32(0) || be64(i) and the AAD that binds the salt, index and length.
class SegmentCipher {
 public:
  SegmentCipher(const Key256& master, const Salt& file_salt);
  // REQUIRES: each index is sealed once per SegmentCipher lifetime of a salt.
  void seal(std::uint64_t index, ByteView plain, std::span<std::uint8_t> out);
  Status open(std::uint64_t index, ByteView sealed, std::span<std::uint8_t> out);

 private:
  Bytes aad(std::uint64_t index, std::uint32_t plain_len) const;
  Salt salt_;
  AeadKey key_;
};

}  // namespace bc::storage
