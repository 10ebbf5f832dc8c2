#include "apps/storage/cipher.hpp"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>

#include <cstring>

#include "layers/assert.hpp"

namespace bc::storage {
namespace {

void put_be(std::uint8_t* p, std::uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i, v >>= 8) p[i] = static_cast<std::uint8_t>(v);
}

EVP_CIPHER_CTX* cipher_ctx(void* p) { return static_cast<EVP_CIPHER_CTX*>(p); }

}  // namespace

Key256 hkdf_sha256(ByteView ikm, ByteView salt, ByteView info) {
  static EVP_KDF* const kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  BC_ASSERT(kdf != nullptr);
  EVP_KDF_CTX* ctx = EVP_KDF_CTX_new(kdf);
  BC_ASSERT(ctx != nullptr);
  char digest[] = "SHA256";
  // An empty salt or info is left out (HKDF then uses its defaults: a zero
  // salt, no info); OpenSSL refuses zero-length octet parameters.
  OSSL_PARAM params[5];
  std::size_t n = 0;
  params[n++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0);
  params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<std::uint8_t*>(ikm.data()), ikm.size());
  if (!salt.empty())
    params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<std::uint8_t*>(salt.data()), salt.size());
  if (!info.empty())
    params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, const_cast<std::uint8_t*>(info.data()), info.size());
  params[n] = OSSL_PARAM_construct_end();
  Key256 out{};
  const int rc = EVP_KDF_derive(ctx, out.data(), out.size(), params);
  EVP_KDF_CTX_free(ctx);
  BC_ASSERT_MSG(rc == 1, "HKDF-SHA256 failed");
  return out;
}

Key256 delete_token(const Key256& master, const Salt& file_salt, const ShardId& shard) {
  Bytes info(kDeleteTokenInfo.begin(), kDeleteTokenInfo.end());
  info.insert(info.end(), shard.bytes.begin(), shard.bytes.end());
  return hkdf_sha256(master, file_salt, info);
}

AeadKey::AeadKey(const Key256& key) : ctx_(EVP_CIPHER_CTX_new()) {
  BC_ASSERT(ctx_ != nullptr);
  // Keyed once; each seal/open only sets the IV (re-keying per call costs
  // the AES key schedule and GHASH table every segment).
  const int rc = EVP_CipherInit_ex(cipher_ctx(ctx_), EVP_aes_256_gcm(), nullptr, key.data(), nullptr, -1);
  BC_ASSERT(rc == 1);
}

AeadKey::~AeadKey() { EVP_CIPHER_CTX_free(cipher_ctx(ctx_)); }

void AeadKey::seal(std::span<const std::uint8_t, 12> nonce, ByteView aad, ByteView plain,
                   std::span<std::uint8_t> out) {
  BC_ASSERT(out.size() == plain.size() + kTagBytes);
  BC_ASSERT(plain.size() <= INT32_MAX);
  EVP_CIPHER_CTX* c = cipher_ctx(ctx_);
  int len = 0;
  BC_ASSERT(EVP_CipherInit_ex(c, nullptr, nullptr, nullptr, nonce.data(), 1) == 1);
  if (!aad.empty()) BC_ASSERT(EVP_EncryptUpdate(c, nullptr, &len, aad.data(), static_cast<int>(aad.size())) == 1);
  if (!plain.empty())
    BC_ASSERT(EVP_EncryptUpdate(c, out.data(), &len, plain.data(), static_cast<int>(plain.size())) == 1);
  BC_ASSERT(EVP_EncryptFinal_ex(c, out.data() + plain.size(), &len) == 1);
  BC_ASSERT(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, kTagBytes, out.data() + plain.size()) == 1);
}

Status AeadKey::open(std::span<const std::uint8_t, 12> nonce, ByteView aad, ByteView sealed,
                     std::span<std::uint8_t> out) {
  if (sealed.size() < kTagBytes) return fail(Error::kAuthFailed, "shorter than a tag");
  const std::size_t n = sealed.size() - kTagBytes;
  BC_ASSERT(out.size() >= n && n <= INT32_MAX);
  std::uint8_t tag[kTagBytes];
  std::memcpy(tag, sealed.data() + n, kTagBytes);  // before an in-place decrypt overwrites nothing past n
  EVP_CIPHER_CTX* c = cipher_ctx(ctx_);
  int len = 0;
  BC_ASSERT(EVP_CipherInit_ex(c, nullptr, nullptr, nullptr, nonce.data(), 0) == 1);
  if (!aad.empty()) BC_ASSERT(EVP_DecryptUpdate(c, nullptr, &len, aad.data(), static_cast<int>(aad.size())) == 1);
  if (n > 0) BC_ASSERT(EVP_DecryptUpdate(c, out.data(), &len, sealed.data(), static_cast<int>(n)) == 1);
  BC_ASSERT(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, kTagBytes, tag) == 1);
  if (EVP_DecryptFinal_ex(c, out.data() + n, &len) != 1) {
    if (n > 0) std::memset(out.data(), 0, n);  // an empty span may hold a null pointer
    return fail(Error::kAuthFailed, "AES-GCM tag mismatch");
  }
  return Status::success();
}

SegmentCipher::SegmentCipher(const Key256& master, const Salt& file_salt)
    : salt_(file_salt), key_(hkdf_sha256(master, file_salt, as_bytes(kSegmentKeyInfo))) {}

Bytes SegmentCipher::aad(std::uint64_t index, std::uint32_t plain_len) const {
  static constexpr std::string_view kTag = "blockcloud/storage/segment/v1";
  Bytes a(kTag.begin(), kTag.end());
  a.insert(a.end(), salt_.begin(), salt_.end());
  std::uint8_t tail[12];
  put_be(tail, index, 8);
  put_be(tail + 8, plain_len, 4);
  a.insert(a.end(), tail, tail + sizeof tail);
  return a;
}

void SegmentCipher::seal(std::uint64_t index, ByteView plain, std::span<std::uint8_t> out) {
  std::array<std::uint8_t, 12> nonce{};
  put_be(nonce.data() + 4, index, 8);
  key_.seal(nonce, aad(index, static_cast<std::uint32_t>(plain.size())), plain, out);
}

Status SegmentCipher::open(std::uint64_t index, ByteView sealed, std::span<std::uint8_t> out) {
  if (sealed.size() < kTagBytes) return fail(Error::kAuthFailed, "shorter than a tag");
  std::array<std::uint8_t, 12> nonce{};
  put_be(nonce.data() + 4, index, 8);
  return key_.open(nonce, aad(index, static_cast<std::uint32_t>(sealed.size() - kTagBytes)), sealed, out);
}

}  // namespace bc::storage
