// The low-level SHA256_* API is deprecated in OpenSSL 3 in favour of EVP,
// but it is the one that lets a midstate be copied as a plain struct.
#define OPENSSL_SUPPRESS_DEPRECATED
#include "ledger/hash.hpp"

#include <openssl/sha.h>

#include <cstring>

#include "layers/crypto.hpp"

namespace bc::ledger {

static_assert(sizeof(SHA256_CTX) <= 128);

Tag::Tag(std::string_view tag) {
  Hash256 t = sha256(as_bytes(tag));
  SHA256_CTX ctx;
  SHA256_Init(&ctx);
  SHA256_Update(&ctx, t.data(), 32);
  SHA256_Update(&ctx, t.data(), 32);
  std::memcpy(base_.data(), &ctx, sizeof(ctx));
}

Hash256 Tag::hash(ByteView data) const {
  SHA256_CTX ctx;
  std::memcpy(&ctx, base_.data(), sizeof(ctx));
  SHA256_Update(&ctx, data.data(), data.size());
  Hash256 out;
  SHA256_Final(out.data(), &ctx);
  return out;
}

Hash256 Tag::hash(const Hash256& a, const Hash256& b) const {
  SHA256_CTX ctx;
  std::memcpy(&ctx, base_.data(), sizeof(ctx));
  SHA256_Update(&ctx, a.data(), 32);
  SHA256_Update(&ctx, b.data(), 32);
  Hash256 out;
  SHA256_Final(out.data(), &ctx);
  return out;
}

}  // namespace bc::ledger
