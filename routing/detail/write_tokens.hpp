// Write tokens that stop puts from spoofed source addresses (as in the
// BitTorrent DHT): a node hands out a token in its replies to FIND/GET, and
// accepts a STORE only with a token issued to the same IP and port.
//
//   token = first 16 bytes of HMAC-SHA256(secret(epoch), ip[16] || port_be16)
//   epoch = floor(now / rotation_ms)
//   secret(epoch) = HMAC-SHA256(master, "blockcloud/write-token/v1" || epoch_be64)
//
// The 32-byte master comes either from a secret the caller derives (best:
// e.g. tagged_hash("blockcloud/write-token-master/v1", node secret key)),
// or is drawn once from an Rng. The secret rotates every rotation_ms.
// Caution with the Rng form: bc::Rng (xoshiro256**) is not cryptographic;
// a peer that sees enough outputs of the same Rng (lookup ids, nonces) can
// in principle recover its state, step it back and forge tokens. Give it an
// Rng whose outputs are never sent, or use the secret form. A token is accepted in the epoch it was issued
// and the next one: it lives at least rotation_ms and at most 2*rotation_ms.
// Stateless per peer: memory is constant.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>

#include "layers/bytes.hpp"
#include "layers/runtime.hpp"

struct evp_mac_st;      // OpenSSL EVP_MAC
struct evp_mac_ctx_st;  // OpenSSL EVP_MAC_CTX

namespace bc::routing {

inline constexpr std::size_t kWriteTokenBytes = 16;
using WriteToken = std::array<std::uint8_t, kWriteTokenBytes>;

class WriteTokens {
 public:
  // rotation_ms > 0 (throws std::invalid_argument otherwise).
  WriteTokens(Rng& rng, TimeMs rotation_ms);
  // master_secret: any length >= 16 bytes (hashed to the 32-byte master);
  // throws std::invalid_argument if shorter.
  WriteTokens(ByteView master_secret, TimeMs rotation_ms);
  ~WriteTokens();
  WriteTokens(const WriteTokens&) = delete;
  WriteTokens& operator=(const WriteTokens&) = delete;

  WriteToken issue(const Endpoint& to, TimeMs now);
  // Constant-time comparison; false for a token of the wrong length.
  bool check(const Endpoint& from, ByteView token, TimeMs now);

  TimeMs rotation_ms() const { return rotation_ms_; }

 private:
  struct Cached;
  Cached& secret_for(std::int64_t epoch);
  WriteToken token_for(std::int64_t epoch, const Endpoint& ep);

  TimeMs rotation_ms_;
  std::array<std::uint8_t, 32> master_{};
  // Cache of the two most recent epochs' secrets, each with an HMAC context
  // keyed once (OpenSSL's one-shot HMAC fetches the algorithm and keys it
  // on every call: 8 % of a busy node's CPU).
  struct Cached {
    std::int64_t epoch = INT64_MIN;
    std::array<std::uint8_t, 32> secret{};
    evp_mac_ctx_st* mac = nullptr;  // EVP_MAC_CTX keyed with `secret`
  };
  std::array<Cached, 2> cache_{};
  evp_mac_st* hmac_ = nullptr;  // EVP_MAC "HMAC", fetched once
};

}  // namespace bc::routing
