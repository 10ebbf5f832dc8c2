// HKDF and HMAC for flow secrets and resume proofs (OpenSSL 3).
#include "sal/session/flow_crypto.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include <stdexcept>
#include <string_view>

namespace bc::sal {
namespace {

constexpr std::string_view kInfoTag = "blockcloud/sal/flow/v1";

void put64(std::uint8_t* p, std::uint64_t v) {
  for (int i = 7; i >= 0; --i, v >>= 8) p[i] = static_cast<std::uint8_t>(v);
}

[[noreturn]] void crypto_failed(const char* what) {
  throw std::runtime_error(std::string("sal flow crypto: ") + what +
                           " failed in OpenSSL; check the OpenSSL 3 install (HKDF and HMAC-SHA256 needed)");
}

}  // namespace

FlowSecret derive_flow_secret(ByteView open_binding, FlowId opener, FlowId acceptor) {
  std::uint8_t info[kInfoTag.size() + 16];
  std::copy(kInfoTag.begin(), kInfoTag.end(), info);
  put64(info + kInfoTag.size(), opener);
  put64(info + kInfoTag.size() + 8, acceptor);

  // One fetched KDF for the process: fetching is the slow part.
  static EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  if (!kdf) crypto_failed("fetching HKDF");
  EVP_KDF_CTX* ctx = EVP_KDF_CTX_new(kdf);
  if (!ctx) crypto_failed("creating an HKDF context");
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<std::uint8_t*>(open_binding.data()),
                                        open_binding.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, sizeof info),
      OSSL_PARAM_construct_end()};
  FlowSecret out{};
  const int ok = EVP_KDF_derive(ctx, out.data(), out.size(), params);
  EVP_KDF_CTX_free(ctx);
  if (ok != 1) crypto_failed("HKDF-SHA256 derive");
  return out;
}

ResumeProof resume_proof(const FlowSecret& secret, ByteView new_binding, FlowId opener,
                         FlowId acceptor, ProofRole role) {
  // binding is at most 64 bytes (checked by Session::attach_transport).
  std::uint8_t msg[128 + 16 + 2];
  if (new_binding.size() > 128) crypto_failed("resume proof over an oversized binding");
  std::size_t n = 0;
  std::copy(new_binding.begin(), new_binding.end(), msg);
  n += new_binding.size();
  put64(msg + n, opener);
  put64(msg + n + 8, acceptor);
  n += 16;
  if (role == ProofRole::kResumeOk) {
    msg[n++] = 'o';
    msg[n++] = 'k';
  }
  ResumeProof out{};
  unsigned int len = 0;
  if (!HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()), msg, n, out.data(), &len) ||
      len != out.size()) {
    crypto_failed("HMAC-SHA256");
  }
  return out;
}

bool proof_equal(const ResumeProof& expected, ByteView received) {
  return received.size() == expected.size() &&
         CRYPTO_memcmp(expected.data(), received.data(), expected.size()) == 0;
}

}  // namespace bc::sal
