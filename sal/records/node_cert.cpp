// Node certificates: build our own, check a peer's (docs/sal-tls.md).
#include "sal/records/node_cert.hpp"

#include <cstring>
#include <stdexcept>

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

namespace bc::sal {

void X509Deleter::operator()(X509* p) const { X509_free(p); }
void EvpPkeyDeleter::operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }

namespace {

[[noreturn]] void throw_openssl(const char* what) {
  unsigned long e = ERR_get_error();
  char buf[256] = "no OpenSSL error queued";
  if (e != 0) ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  throw std::runtime_error(std::string("node certificate: ") + what + " failed (" + buf + ")");
}

// Our extension's OID, parsed once (thread-safe static initialisation).
const ASN1_OBJECT* extension_oid() {
  static const ASN1_OBJECT* oid = [] {
    ASN1_OBJECT* o = OBJ_txt2obj(kNodeCertExtensionOid, 1);
    if (o == nullptr) throw_openssl("parsing the extension OID");
    return o;
  }();
  return oid;
}

struct Asn1ObjectDeleter { void operator()(ASN1_OBJECT* p) const { ASN1_OBJECT_free(p); } };
struct OctetDeleter { void operator()(ASN1_OCTET_STRING* p) const { ASN1_OCTET_STRING_free(p); } };
struct ExtDeleter { void operator()(X509_EXTENSION* p) const { X509_EXTENSION_free(p); } };
struct NameDeleter { void operator()(X509_NAME* p) const { X509_NAME_free(p); } };
struct BnDeleter { void operator()(BIGNUM* p) const { BN_free(p); } };

bool set_time(ASN1_TIME* field, TimeMs ms) {
  return ASN1_TIME_set(field, static_cast<time_t>(ms / 1000)) != nullptr;
}

// "Ed25519" / "P-256" or nullptr if the key is of any other kind.
const char* allowed_key_kind(EVP_PKEY* key) {
  if (EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519) return "Ed25519";
  if (EVP_PKEY_get_base_id(key) == EVP_PKEY_EC) {
    char group[64] = {};
    size_t len = 0;
    if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                       &len) == 1 &&
        std::strcmp(group, "prime256v1") == 0)
      return "P-256";
  }
  return nullptr;
}

// The certificate's own SubjectPublicKeyInfo bytes, hashed as signed. Goes
// through the stored X509_PUBKEY, not i2d_PUBKEY: OpenSSL 3's encoder lookup
// behind i2d_PUBKEY costs more than the rest of the check.
Hash256 cert_spki_digest(X509* cert) {
  unsigned char* der = nullptr;
  int len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
  if (len <= 0) return Hash256{};
  Hash256 h = tagged_hash(kNodeCertTag, ByteView(der, static_cast<std::size_t>(len)));
  OPENSSL_free(der);
  return h;
}

Status reject(std::string why) {
  ERR_clear_error();
  return fail(bc::Errc::kPermissionDenied, "peer certificate rejected: " + std::move(why));
}

}  // namespace

Hash256 node_cert_digest(EVP_PKEY* cert_key) {
  unsigned char* der = nullptr;
  int len = i2d_PUBKEY(cert_key, &der);
  if (len <= 0) throw_openssl("encoding the certificate key");
  Hash256 h = tagged_hash(kNodeCertTag, ByteView(der, static_cast<std::size_t>(len)));
  OPENSSL_free(der);
  return h;
}

Bytes encode_node_cert_extension(const XOnlyPubKey& node_key, const Signature& sig) {
  Bytes out;
  out.reserve(kNodeCertExtensionSize);
  out.insert(out.end(), {0x30, 0x64, 0x04, 0x20});
  out.insert(out.end(), node_key.bytes.begin(), node_key.bytes.end());
  out.insert(out.end(), {0x04, 0x40});
  out.insert(out.end(), sig.bytes.begin(), sig.bytes.end());
  return out;
}

std::optional<std::pair<XOnlyPubKey, Signature>> decode_node_cert_extension(ByteView v) {
  // Fixed layout, so checking it is a comparison of six header bytes.
  if (v.size() != kNodeCertExtensionSize) return std::nullopt;
  if (v[0] != 0x30 || v[1] != 0x64 || v[2] != 0x04 || v[3] != 0x20 || v[36] != 0x04 ||
      v[37] != 0x40)
    return std::nullopt;
  std::pair<XOnlyPubKey, Signature> out;
  std::memcpy(out.first.bytes.data(), v.data() + 4, 32);
  std::memcpy(out.second.bytes.data(), v.data() + 38, 64);
  return out;
}

EvpPkeyPtr generate_cert_key(CertKeyType type) {
  EVP_PKEY* k = type == CertKeyType::kEd25519 ? EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519")
                                              : EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  if (k == nullptr) throw_openssl("generating the certificate key");
  return EvpPkeyPtr(k);
}

X509Ptr make_self_signed_cert(EVP_PKEY* key, ByteView extension_value, TimeMs not_before,
                              TimeMs not_after) {
  X509Ptr x(X509_new());
  if (!x || X509_set_version(x.get(), X509_VERSION_3) != 1) throw_openssl("X509_new");

  // Random positive 127-bit serial, as CAs do (RFC 5280 allows 20 octets).
  std::uint8_t serial[16];
  random_bytes(serial);
  serial[0] &= 0x7f;
  std::unique_ptr<BIGNUM, BnDeleter> bn(BN_bin2bn(serial, sizeof serial, nullptr));
  if (!bn || BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(x.get())) == nullptr)
    throw_openssl("setting the serial number");

  // The name means nothing to a verifier: identity is the extension.
  std::unique_ptr<X509_NAME, NameDeleter> name(X509_NAME_new());
  if (!name ||
      X509_NAME_add_entry_by_txt(name.get(), "CN", MBSTRING_ASC,
                                 reinterpret_cast<const unsigned char*>("blockcloud"), -1, -1,
                                 0) != 1 ||
      X509_set_subject_name(x.get(), name.get()) != 1 ||
      X509_set_issuer_name(x.get(), name.get()) != 1)
    throw_openssl("setting the names");
  if (!set_time(X509_getm_notBefore(x.get()), not_before) ||
      !set_time(X509_getm_notAfter(x.get()), not_after))
    throw_openssl("setting the validity window");
  if (X509_set_pubkey(x.get(), key) != 1) throw_openssl("setting the public key");

  if (!extension_value.empty()) {
    std::unique_ptr<ASN1_OCTET_STRING, OctetDeleter> data(ASN1_OCTET_STRING_new());
    if (!data || ASN1_OCTET_STRING_set(data.get(), extension_value.data(),
                                       static_cast<int>(extension_value.size())) != 1)
      throw_openssl("encoding the extension");
    std::unique_ptr<X509_EXTENSION, ExtDeleter> ext(X509_EXTENSION_create_by_OBJ(
        nullptr, const_cast<ASN1_OBJECT*>(extension_oid()), 0, data.get()));
    if (!ext || X509_add_ext(x.get(), ext.get(), -1) != 1) throw_openssl("adding the extension");
  }
  // Ed25519 signs the message itself (no digest); P-256 uses ECDSA-SHA256.
  const EVP_MD* md = EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519 ? nullptr : EVP_sha256();
  if (X509_sign(x.get(), key, md) <= 0) throw_openssl("self-signing the certificate");
  return x;
}

NodeIdentity NodeIdentity::create(const KeyPair& node_key, TimeMs now, Options options) {
  EvpPkeyPtr key = generate_cert_key(options.key_type);
  Signature sig = node_key.sign(node_cert_digest(key.get()));
  Bytes ext = encode_node_cert_extension(node_key.public_key(), sig);
  TimeMs not_after = now + options.lifetime_ms;
  X509Ptr cert = make_self_signed_cert(key.get(), ext, now - options.backdate_ms, not_after);
  NodeIdentity id;
  id.cert_.reset(cert.release(), X509_free);
  id.key_.reset(key.release(), EVP_PKEY_free);
  id.not_after_ = not_after;
  return id;
}

NodeIdentity NodeIdentity::from_openssl(X509* cert, EVP_PKEY* key) {
  if (cert == nullptr || key == nullptr || X509_check_private_key(cert, key) != 1) {
    ERR_clear_error();
    throw std::runtime_error(
        "node certificate: the private key does not match the certificate; pass the key the "
        "certificate was made for");
  }
  X509_up_ref(cert);
  EVP_PKEY_up_ref(key);
  NodeIdentity id;
  id.cert_.reset(cert, X509_free);
  id.key_.reset(key, EVP_PKEY_free);
  int day = 0, sec = 0;
  // Difference from the epoch gives notAfter in our clock's unit.
  std::unique_ptr<ASN1_TIME, decltype(&ASN1_TIME_free)> epoch(ASN1_TIME_set(nullptr, 0),
                                                              ASN1_TIME_free);
  if (epoch && ASN1_TIME_diff(&day, &sec, epoch.get(), X509_get0_notAfter(cert)) == 1)
    id.not_after_ = (static_cast<TimeMs>(day) * 86400 + sec) * 1000;
  return id;
}

Bytes NodeIdentity::cert_der() const {
  unsigned char* der = nullptr;
  int len = i2d_X509(cert_.get(), &der);
  if (len <= 0) throw_openssl("encoding the certificate");
  Bytes out(der, der + len);
  OPENSSL_free(der);
  return out;
}

Result<XOnlyPubKey> verify_node_cert(X509* cert, TimeMs now) {
  if (cert == nullptr) return reject("no certificate");
  if (X509_get_version(cert) != X509_VERSION_3) return reject("not an X.509 v3 certificate");

  time_t t = static_cast<time_t>(now / 1000);
  int nb = X509_cmp_time(X509_get0_notBefore(cert), &t);
  int na = X509_cmp_time(X509_get0_notAfter(cert), &t);
  if (nb == 0 || na == 0) return reject("malformed validity window");
  if (nb > 0) return reject("not yet valid (check both clocks)");
  if (na < 0) return reject("expired (the peer must make a new node identity)");

  EVP_PKEY* key = X509_get0_pubkey(cert);
  if (key == nullptr) return reject("unreadable public key");
  if (allowed_key_kind(key) == nullptr)
    return reject("certificate key is neither Ed25519 nor P-256");
  if (X509_verify(cert, key) != 1) return reject("self-signature does not verify");

  // Extensions: OpenSSL flags malformed standard ones; we refuse critical
  // ones nobody here understands, and need ours exactly once.
  if (X509_get_extension_flags(cert) & EXFLAG_INVALID) return reject("malformed extensions");
  const X509_EXTENSION* ours = nullptr;
  int n = X509_get_ext_count(cert);
  for (int i = 0; i < n; ++i) {
    X509_EXTENSION* ext = X509_get_ext(cert, i);
    if (OBJ_cmp(X509_EXTENSION_get_object(ext), extension_oid()) == 0) {
      if (ours != nullptr) return reject("node key extension appears twice");
      ours = ext;
    } else if (X509_EXTENSION_get_critical(ext) && !X509_supported_extension(ext)) {
      return reject("unknown critical extension");
    }
  }
  if (ours == nullptr)
    return reject("no Blockcloud node key extension (the peer is not a Blockcloud node)");
  const ASN1_OCTET_STRING* data = X509_EXTENSION_get_data(const_cast<X509_EXTENSION*>(ours));
  auto decoded = decode_node_cert_extension(
      ByteView(ASN1_STRING_get0_data(data), static_cast<std::size_t>(ASN1_STRING_length(data))));
  if (!decoded) return reject("node key extension is malformed (expected 102 bytes DER)");
  if (!parse_pubkey(decoded->first.view()))
    return reject("node key in the extension is not a valid secp256k1 x-only key");
  Hash256 digest = cert_spki_digest(cert);
  if (digest.is_zero()) return reject("cannot encode the certificate key");
  if (!verify(decoded->first, digest, decoded->second))
    return reject("node key signature over the certificate key does not verify");
  ERR_clear_error();
  return decoded->first;
}

Result<XOnlyPubKey> verify_node_cert_der(ByteView der, TimeMs now) {
  if (der.empty() || der.size() > kMaxNodeCertDer)
    return reject("DER size " + std::to_string(der.size()) + " outside 1.." +
                  std::to_string(kMaxNodeCertDer));
  const unsigned char* p = der.data();
  X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (!cert) return reject("not a DER X.509 certificate");
  if (p != der.data() + der.size()) return reject("trailing bytes after the certificate");
  return verify_node_cert(cert.get(), now);
}

}  // namespace bc::sal
