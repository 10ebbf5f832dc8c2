// Hashing, randomness and BIP340 Schnorr signatures.
//
// SHA-256 goes through OpenSSL EVP with a reused context (creating a context
// per hash is ~3x slower on small inputs). Signatures use libsecp256k1's
// schnorrsig module over one process-wide, randomised context.
// All functions are thread-safe.
#pragma once
#include <filesystem>
#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "layers/bytes.hpp"

namespace bc {

Hash256 sha256(ByteView data);
// BIP340-style tagged hash: SHA-256(SHA-256(tag) || SHA-256(tag) || data).
// Every signed structure is hashed with its own tag so a signature for one
// kind of message can never be replayed as another.
Hash256 tagged_hash(std::string_view tag, ByteView data);

// Incremental SHA-256; reusable after finish().
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  Sha256& update(ByteView data);
  Hash256 finish();  // resets for the next message

 private:
  void* ctx_;  // EVP_MD_CTX
};

// Cryptographically secure random bytes (OpenSSL RAND_bytes); throws
// std::runtime_error if the generator fails.
void random_bytes(std::span<std::uint8_t> out);
std::uint64_t random_u64();

struct XOnlyPubKey {
  std::array<std::uint8_t, 32> bytes{};
  ByteView view() const { return {bytes.data(), bytes.size()}; }
  friend auto operator<=>(const XOnlyPubKey&, const XOnlyPubKey&) = default;
};

struct Signature {
  std::array<std::uint8_t, 64> bytes{};
  ByteView view() const { return {bytes.data(), bytes.size()}; }
  friend auto operator<=>(const Signature&, const Signature&) = default;
};

// A secp256k1 key pair. The secret never leaves this object except through
// secret_hex() (for the key file).
class KeyPair {
 public:
  static KeyPair generate();
  // nullopt if the 32 bytes are not a valid secret key.
  static std::optional<KeyPair> from_secret(ByteView secret32);

  const XOnlyPubKey& public_key() const { return pub_; }
  // BIP340 signature over a 32-byte message digest (fresh auxiliary randomness).
  Signature sign(const Hash256& digest) const;
  std::string secret_hex() const;

 private:
  std::array<std::uint8_t, 32> secret_{};
  XOnlyPubKey pub_;
  // libsecp256k1's secp256k1_keypair, cached so sign() skips a point multiplication.
  std::array<std::uint8_t, 96> keypair_{};
};

// False for a bad signature or a public key that is not on the curve.
bool verify(const XOnlyPubKey& key, const Hash256& digest, const Signature& sig);
// nullopt unless data is a valid 32-byte x-only public key.
std::optional<XOnlyPubKey> parse_pubkey(ByteView data);
std::optional<Signature> parse_signature(ByteView data);

// Loads <datadir>/node.key (hex secret), or creates it with mode 0600 (and
// the directory with 0700) if absent. Throws std::runtime_error with a
// message naming the file if it is unreadable, malformed, or readable by
// group/others.
KeyPair load_or_create_key_file(const std::filesystem::path& file);

}  // namespace bc
