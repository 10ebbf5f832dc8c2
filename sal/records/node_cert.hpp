// TLS identity bound to a Blockcloud node key (docs/sal-tls.md).
//
// Modelled on libp2p's TLS handshake spec: each node makes one certificate
// key (Ed25519 or P-256, OpenSSL EVP) and a self-signed X.509 certificate for
// it. The certificate carries a private extension holding the node's x-only
// secp256k1 key and the node key's BIP340 signature over
// tagged_hash(kNodeCertTag, DER SubjectPublicKeyInfo of the certificate key).
// TLS 1.3's CertificateVerify proves the peer holds the certificate key; the
// extension proves the node key vouches for it. Together: the peer is the node.
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <openssl/types.h>

#include "layers/bytes.hpp"
#include "layers/crypto.hpp"
#include "layers/ids.hpp"
#include "layers/runtime.hpp"
#include "layers/status.hpp"

namespace bc::sal {

// Domain separation for the node key's signature over the certificate key.
inline constexpr std::string_view kNodeCertTag = "blockcloud/tls-cert/v1";
// Extension OID: a UUID-derived OID (ITU-T X.667, arc 2.25), so it needs no
// registration and cannot collide with anyone else's extension.
inline constexpr const char* kNodeCertExtensionOid = "2.25.320616636569378870589240082094915286826";
// The extension value is exactly DER SEQUENCE { OCTET STRING (32) node key,
// OCTET STRING (64) signature }: 102 bytes, nothing else accepted.
inline constexpr std::size_t kNodeCertExtensionSize = 102;
// A peer certificate longer than this is refused before it is parsed
// (ours are about 400 bytes).
inline constexpr std::size_t kMaxNodeCertDer = 4096;

enum class CertKeyType { kEd25519, kP256 };

struct X509Deleter { void operator()(X509* p) const; };
struct EvpPkeyDeleter { void operator()(EVP_PKEY* p) const; };
using X509Ptr = std::unique_ptr<X509, X509Deleter>;
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, EvpPkeyDeleter>;

struct NodeIdentityOptions {
  CertKeyType key_type = CertKeyType::kEd25519;
  // notBefore = now - backdate, so peers with slow clocks accept it.
  TimeMs backdate_ms = 3600LL * 1000;
  // notAfter = now + lifetime; the driver makes a new identity before then.
  TimeMs lifetime_ms = 30LL * 24 * 3600 * 1000;
};

// One per node, shared by every connection (through TlsContext).
class NodeIdentity {
 public:
  using Options = NodeIdentityOptions;

  // Fresh certificate key and certificate signed into the node key.
  // Throws std::runtime_error if OpenSSL fails.
  static NodeIdentity create(const KeyPair& node_key, TimeMs now, Options options);
  static NodeIdentity create(const KeyPair& node_key, TimeMs now) {
    return create(node_key, now, Options{});
  }
  static NodeIdentity create(const KeyPair& node_key, TimeMs now, CertKeyType type) {
    Options o;
    o.key_type = type;
    return create(node_key, now, o);
  }
  // Any certificate with its private key, checked only for matching: used to
  // play hostile or plain-TLS peers in tests and benchmarks. Takes new references.
  static NodeIdentity from_openssl(X509* cert, EVP_PKEY* key);

  X509* cert() const { return cert_.get(); }
  EVP_PKEY* key() const { return key_.get(); }
  Bytes cert_der() const;
  TimeMs not_after() const { return not_after_; }

 private:
  NodeIdentity() = default;
  std::shared_ptr<X509> cert_;
  std::shared_ptr<EVP_PKEY> key_;
  TimeMs not_after_ = 0;
};

// The verification rules of docs/sal-tls.md: X.509 v3, within its validity
// window at `now`, self-signature valid, certificate key Ed25519 or P-256, no
// unknown critical extension, our extension present exactly once and exactly
// well-formed, node key valid, and its signature over the certificate key valid.
// Gives the node key the certificate proves, or kPermissionDenied saying which
// rule failed ("peer certificate rejected: expired (...)").
Result<XOnlyPubKey> verify_node_cert(X509* cert, TimeMs now);
// Same from DER (at most kMaxNodeCertDer bytes, no trailing bytes).
Result<XOnlyPubKey> verify_node_cert_der(ByteView der, TimeMs now);

// Building blocks, public for tests and tools.
// tagged_hash(kNodeCertTag, DER SubjectPublicKeyInfo of key).
Hash256 node_cert_digest(EVP_PKEY* cert_key);
Bytes encode_node_cert_extension(const XOnlyPubKey& node_key, const Signature& sig);
// nullopt unless `value` is exactly the 102-byte encoding above.
std::optional<std::pair<XOnlyPubKey, Signature>> decode_node_cert_extension(ByteView value);
// Fresh certificate key of the given type; throws on OpenSSL failure.
EvpPkeyPtr generate_cert_key(CertKeyType type);
// Self-signed v3 certificate for `key` with a random serial; adds our
// extension with `extension_value` unless it is empty. Throws on failure.
X509Ptr make_self_signed_cert(EVP_PKEY* key, ByteView extension_value, TimeMs not_before,
                              TimeMs not_after);

}  // namespace bc::sal
