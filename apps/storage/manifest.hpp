// The manifest of a stored file and its encrypted envelope (docs/storage.md
// "Manifest"). The envelope is what the owner keeps and shares; its tagged
// hash is the file's content ID. Decoding is bounded (kMaxManifestBytes) and
// every field is checked, so a hostile envelope (one that opened with a key
// the attacker also holds) still cannot make the client allocate without
// bound or index out of range.
#pragma once
#include <string>

#include "apps/storage/cipher.hpp"
#include "apps/storage/format.hpp"

namespace bc::storage {

inline constexpr std::size_t kMaxManifestBytes = (8u << 20) + 4096;
inline constexpr std::uint8_t kManifestVersion = 1;
inline constexpr std::uint8_t kEnvelopeVersion = 1;

struct Manifest {
  Shape shape;
  Salt file_salt{};
  Bytes shard_roots;  // segment_count * total_shards * 32 bytes, segment-major
  std::string name;

  ShardId root(std::uint64_t segment, std::uint32_t shard) const;
  void set_root(std::uint64_t segment, std::uint32_t shard, const ShardId& id);
};

// Canonical Cap'n Proto bytes. REQUIRES: m passes check_manifest.
Bytes encode_manifest(const Manifest& m);
// Bounded decode of the plaintext manifest: kMalformed, kOversized,
// kTruncated or kBadShape with the reason.
Result<Manifest> decode_manifest(ByteView bytes);
Status check_manifest(const Manifest& m);

// 0x01 || manifest_salt || AES-256-GCM(manifest key, 0^12, aad, manifest).
// REQUIRES: manifest_salt fresh from a CSPRNG for every call (it makes the
// one-use key that lets the nonce be fixed).
Bytes seal_manifest(const Key256& master, const Manifest& m, const Salt& manifest_salt);
// kAuthFailed for a wrong key or altered bytes; decode errors as above.
Result<Manifest> open_manifest(const Key256& master, ByteView envelope);

// tagged_hash("blockcloud/storage/cid/v1", envelope).
Hash256 content_id(ByteView envelope);

}  // namespace bc::storage
