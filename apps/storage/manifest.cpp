#include "apps/storage/manifest.hpp"

#include <capnp/message.h>
#include <capnp/serialize.h>

#include <cstring>

#include "apps/storage/wire/storage.capnp.h"
#include "layers/assert.hpp"
#include "layers/crypto.hpp"
#include "layers/wire/decode.hpp"

namespace bc::storage {
namespace {

constexpr std::string_view kEnvelopeAad = "blockcloud/storage/manifest/v1";
constexpr std::size_t kEnvelopeHeader = 1 + 32;

std::uint64_t roots_bytes(const Shape& s) { return s.segment_count() * s.total_shards() * 32; }

struct DecodeFailure {
  Error code;
  const char* why;
};

Error from_decode(bc::wire::DecodeError e) {
  switch (e) {
    case bc::wire::DecodeError::kOversized: return Error::kOversized;
    case bc::wire::DecodeError::kTruncated: return Error::kTruncated;
    default: return Error::kMalformed;
  }
}

void read_manifest(wire::Manifest::Reader r, Manifest& m) {
  if (r.getVersion() != kManifestVersion) throw DecodeFailure{Error::kMalformed, "unknown manifest version"};
  if (r.getLeafSize() != kLeafSize) throw DecodeFailure{Error::kMalformed, "unsupported leaf size"};
  m.shape.file_size = r.getFileSize();
  m.shape.segment_size = r.getSegmentSize();
  m.shape.data_shards = r.getDataShards();
  m.shape.parity_shards = r.getParityShards();
  if (!check_shape(m.shape).ok()) throw DecodeFailure{Error::kBadShape, "shape outside the limits"};
  auto salt = r.getFileSalt();
  if (salt.size() != m.file_salt.size()) throw DecodeFailure{Error::kMalformed, "file salt is not 32 bytes"};
  std::memcpy(m.file_salt.data(), salt.begin(), salt.size());
  auto roots = r.getShardRoots();
  if (roots.size() != roots_bytes(m.shape)) throw DecodeFailure{Error::kMalformed, "shard roots disagree with the shape"};
  m.shard_roots.assign(roots.begin(), roots.end());
  auto name = r.getName();
  if (name.size() > kMaxNameBytes) throw DecodeFailure{Error::kOversized, "name too long"};
  m.name.assign(name.cStr(), name.size());
}

}  // namespace

ShardId Manifest::root(std::uint64_t segment, std::uint32_t shard) const {
  BC_ASSERT(shard < shape.total_shards() && segment < shape.segment_count());
  const std::size_t at = (segment * shape.total_shards() + shard) * 32;
  BC_ASSERT(at + 32 <= shard_roots.size());
  ShardId id;
  std::memcpy(id.bytes.data(), shard_roots.data() + at, 32);
  return id;
}

void Manifest::set_root(std::uint64_t segment, std::uint32_t shard, const ShardId& id) {
  BC_ASSERT(shard < shape.total_shards() && segment < shape.segment_count());
  const std::size_t at = (segment * shape.total_shards() + shard) * 32;
  if (shard_roots.size() < at + 32) shard_roots.resize(roots_bytes(shape));
  std::memcpy(shard_roots.data() + at, id.bytes.data(), 32);
}

Status check_manifest(const Manifest& m) {
  Status s = check_shape(m.shape);
  if (!s.ok()) return s;
  if (m.shard_roots.size() != roots_bytes(m.shape)) return fail(Error::kMalformed, "shard roots disagree with the shape");
  if (m.name.size() > kMaxNameBytes) return fail(Error::kOversized, "name too long");
  if (m.shard_roots.size() + kMaxNameBytes + 256 > kMaxManifestBytes) return fail(Error::kOversized, "too many segments");
  return Status::success();
}

Bytes encode_manifest(const Manifest& m) {
  BC_ASSERT(check_manifest(m).ok());
  capnp::MallocMessageBuilder message;
  auto b = message.initRoot<wire::Manifest>();
  b.setVersion(kManifestVersion);
  b.setFileSize(m.shape.file_size);
  b.setSegmentSize(m.shape.segment_size);
  b.setDataShards(static_cast<std::uint8_t>(m.shape.data_shards));
  b.setParityShards(static_cast<std::uint8_t>(m.shape.parity_shards));
  b.setLeafSize(kLeafSize);
  b.setFileSalt(kj::arrayPtr(m.file_salt.data(), m.file_salt.size()));
  b.setShardRoots(kj::arrayPtr(m.shard_roots.data(), m.shard_roots.size()));
  b.setName(kj::StringPtr(m.name.c_str(), m.name.size()));  // sized: a name may hold NUL bytes
  return bc::wire::canonical_bytes(message.getRoot<capnp::AnyStruct>().asReader());
}

Result<Manifest> decode_manifest(ByteView bytes) {
  if (bytes.size() > kMaxManifestBytes) return fail(Error::kOversized, "manifest over the limit");
  // Canonical form is one segment with no table: wrap it as a stream message.
  if (bytes.size() % 8 != 0 || bytes.empty()) return fail(Error::kTruncated, "not a whole number of words");
  Bytes framed(8 + bytes.size());
  const std::uint32_t words = static_cast<std::uint32_t>(bytes.size() / 8);
  for (int i = 0; i < 4; ++i) framed[4 + i] = static_cast<std::uint8_t>(words >> (8 * i));
  std::memcpy(framed.data() + 8, bytes.data(), bytes.size());
  const bc::wire::DecodeLimits limits{.max_bytes = kMaxManifestBytes + 8,
                                  .traversal_words = framed.size() / 8 + 64,
                                  .nesting = 4,
                                  .max_segments = 1};
  Manifest m;
  try {
    auto err = bc::wire::decode<wire::Manifest>(framed, limits, [&](wire::Manifest::Reader r) { read_manifest(r, m); });
    if (err != bc::wire::DecodeError::kOk) return fail(from_decode(err), bc::wire::to_string(err));
  } catch (const DecodeFailure& f) {
    return fail(f.code, f.why);
  }
  return m;
}

Bytes seal_manifest(const Key256& master, const Manifest& m, const Salt& manifest_salt) {
  const Bytes plain = encode_manifest(m);
  Bytes env(kEnvelopeHeader + plain.size() + kTagBytes);
  env[0] = kEnvelopeVersion;
  std::memcpy(env.data() + 1, manifest_salt.data(), manifest_salt.size());
  AeadKey key(hkdf_sha256(master, manifest_salt, as_bytes(kManifestKeyInfo)));
  const std::array<std::uint8_t, 12> nonce{};
  key.seal(nonce, as_bytes(kEnvelopeAad), plain, std::span(env).subspan(kEnvelopeHeader));
  return env;
}

Result<Manifest> open_manifest(const Key256& master, ByteView envelope) {
  if (envelope.size() > kEnvelopeHeader + kMaxManifestBytes + kTagBytes)
    return fail(Error::kOversized, "envelope over the limit");
  if (envelope.size() < kEnvelopeHeader + kTagBytes) return fail(Error::kTruncated, "envelope too short");
  if (envelope[0] != kEnvelopeVersion) return fail(Error::kMalformed, "unknown envelope version");
  Salt salt;
  std::memcpy(salt.data(), envelope.data() + 1, salt.size());
  AeadKey key(hkdf_sha256(master, salt, as_bytes(kManifestKeyInfo)));
  const std::array<std::uint8_t, 12> nonce{};
  const ByteView sealed = envelope.subspan(kEnvelopeHeader);
  Bytes plain(sealed.size() - kTagBytes);
  Status s = key.open(nonce, as_bytes(kEnvelopeAad), sealed, plain);
  if (!s.ok()) return s;
  return decode_manifest(plain);
}

Hash256 content_id(ByteView envelope) { return tagged_hash("blockcloud/storage/cid/v1", envelope); }

}  // namespace bc::storage
