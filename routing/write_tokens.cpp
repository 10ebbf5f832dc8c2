// HMAC-SHA256 write tokens bound to the requester's IP and port.
#include "routing/detail/write_tokens.hpp"

#include "layers/crypto.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/hmac.h>
#include <openssl/params.h>

#include <stdexcept>
#include <string>
#include <string_view>

namespace bc::routing {
namespace {

constexpr std::string_view kSecretTag = "blockcloud/write-token/v1";

void hmac_sha256(ByteView key, ByteView msg, std::uint8_t out[32]) {
  unsigned int len = 0;
  if (!HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), msg.data(), msg.size(), out,
            &len) ||
      len != 32) {
    throw std::runtime_error("HMAC-SHA256 failed in OpenSSL (write tokens); check the OpenSSL install");
  }
}

[[noreturn]] void mac_failed(const char* what) {
  throw std::runtime_error(std::string("HMAC-SHA256 ") + what +
                           " failed in OpenSSL (write tokens); check the OpenSSL install");
}

std::int64_t floor_div(TimeMs a, TimeMs b) {
  std::int64_t q = a / b;
  if (a % b != 0 && a < 0) --q;
  return q;
}

}  // namespace

WriteTokens::WriteTokens(Rng& rng, TimeMs rotation_ms) : rotation_ms_(rotation_ms) {
  if (rotation_ms <= 0) {
    throw std::invalid_argument("WriteTokens: rotation_ms must be > 0; got " +
                                std::to_string(rotation_ms));
  }
  rng.fill(master_);
}

WriteTokens::WriteTokens(ByteView master_secret, TimeMs rotation_ms) : rotation_ms_(rotation_ms) {
  if (rotation_ms <= 0) {
    throw std::invalid_argument("WriteTokens: rotation_ms must be > 0; got " +
                                std::to_string(rotation_ms));
  }
  if (master_secret.size() < 16) {
    throw std::invalid_argument("WriteTokens: master secret must be at least 16 bytes; got " +
                                std::to_string(master_secret.size()) +
                                " (derive it from the node's secret key)");
  }
  master_ = tagged_hash("blockcloud/write-token-master/v1", master_secret).bytes;
}

WriteTokens::~WriteTokens() {
  OPENSSL_cleanse(master_.data(), master_.size());
  for (auto& c : cache_) {
    OPENSSL_cleanse(c.secret.data(), c.secret.size());
    EVP_MAC_CTX_free(c.mac);
  }
  EVP_MAC_free(hmac_);
}

WriteTokens::Cached& WriteTokens::secret_for(std::int64_t epoch) {
  for (auto& c : cache_) {
    if (c.epoch == epoch) return c;
  }
  // Replace the older cached epoch: callers only ask for now's and the previous one.
  Cached& slot = cache_[0].epoch < cache_[1].epoch ? cache_[0] : cache_[1];
  std::uint8_t msg[kSecretTag.size() + 8];
  std::copy(kSecretTag.begin(), kSecretTag.end(), msg);
  for (int i = 0; i < 8; ++i) {
    msg[kSecretTag.size() + i] = static_cast<std::uint8_t>(static_cast<std::uint64_t>(epoch) >> (56 - 8 * i));
  }
  hmac_sha256(ByteView(master_), ByteView(msg, sizeof msg), slot.secret.data());
  slot.epoch = epoch;
  // Key the epoch's HMAC context once; token_for() only re-initialises it.
  if (!hmac_ && !(hmac_ = EVP_MAC_fetch(nullptr, "HMAC", nullptr))) mac_failed("fetch");
  if (!slot.mac && !(slot.mac = EVP_MAC_CTX_new(hmac_))) mac_failed("context");
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                         OSSL_PARAM_construct_end()};
  if (!EVP_MAC_init(slot.mac, slot.secret.data(), slot.secret.size(), params)) mac_failed("init");
  return slot;
}

WriteToken WriteTokens::token_for(std::int64_t epoch, const Endpoint& ep) {
  Cached& slot = secret_for(epoch);
  std::uint8_t msg[18];
  std::copy(ep.ip.begin(), ep.ip.end(), msg);
  msg[16] = static_cast<std::uint8_t>(ep.port >> 8);
  msg[17] = static_cast<std::uint8_t>(ep.port);
  std::uint8_t mac[32];
  std::size_t len = 0;
  // A null key re-initialises with the key set in secret_for().
  if (!EVP_MAC_init(slot.mac, nullptr, 0, nullptr) || !EVP_MAC_update(slot.mac, msg, sizeof msg) ||
      !EVP_MAC_final(slot.mac, mac, &len, sizeof mac) || len != 32) {
    mac_failed("token");
  }
  WriteToken t;
  std::copy(mac, mac + t.size(), t.begin());
  return t;
}

WriteToken WriteTokens::issue(const Endpoint& to, TimeMs now) {
  return token_for(floor_div(now, rotation_ms_), to);
}

bool WriteTokens::check(const Endpoint& from, ByteView token, TimeMs now) {
  if (token.size() != kWriteTokenBytes) return false;
  const std::int64_t epoch = floor_div(now, rotation_ms_);
  // Evaluate both epochs whatever the first gives, so timing says nothing.
  const WriteToken cur = token_for(epoch, from);
  const WriteToken prev = token_for(epoch - 1, from);
  const bool ok_cur = CRYPTO_memcmp(cur.data(), token.data(), kWriteTokenBytes) == 0;
  const bool ok_prev = CRYPTO_memcmp(prev.data(), token.data(), kWriteTokenBytes) == 0;
  return ok_cur || ok_prev;
}

}  // namespace bc::routing
