// Signed records: digest, checks in order, keys from text, and the bounded codec.
#include <doctest/doctest.h>

#include <capnp/message.h>
#include <capnp/serialize.h>

#include "layers/crypto.hpp"
#include "layers/ids.hpp"
#include "layers/runtime.hpp"
#include "routing/record.hpp"
#include "routing/record_codec.hpp"

using namespace bc;
using namespace bc::routing;

namespace {

constexpr TimeMs kNow = 1'700'000'000'000;
constexpr TimeMs kMaxTtl = 24 * 3600 * 1000;

KeyPair test_key(std::uint8_t fill) {
  std::array<std::uint8_t, 32> secret{};
  secret.fill(fill);
  return *KeyPair::from_secret(ByteView(secret));
}

Record sample(const KeyPair& kp, std::size_t payload = 10, std::uint64_t seq = 1,
              TimeMs ttl = 60'000) {
  return make_record(kp, key_from_text("service-a"), Bytes(payload, 0xab), seq, kNow + ttl);
}

Bytes encode_raw(std::size_t key, std::size_t owner, std::size_t sig, std::size_t payload) {
  capnp::MallocMessageBuilder m;
  auto r = m.initRoot<wire::Record>();
  r.initKey(key);
  r.initOwner(owner);
  r.initSignature(sig);
  r.initPayload(payload);
  auto words = capnp::messageToFlatArray(m);
  auto bytes = words.asBytes();
  return Bytes(bytes.begin(), bytes.end());
}

}  // namespace

TEST_CASE("a freshly made record checks out and binds every field") {
  auto kp = test_key(7);
  Record r = sample(kp);
  CHECK(r.owner == kp.public_key());
  CHECK(check_record(r, kNow, kMaxTtl) == RecordError::kNone);

  Record t = r;
  t.payload[0] ^= 1;
  CHECK(check_record(t, kNow, kMaxTtl) == RecordError::kBadSignature);
  t = r;
  t.seq += 1;
  CHECK(check_record(t, kNow, kMaxTtl) == RecordError::kBadSignature);
  t = r;
  t.expires_at += 1;
  CHECK(check_record(t, kNow, kMaxTtl) == RecordError::kBadSignature);
  t = r;
  t.key.bytes[31] ^= 1;
  CHECK(check_record(t, kNow, kMaxTtl) == RecordError::kBadSignature);
  t = r;
  t.owner = test_key(8).public_key();
  CHECK(check_record(t, kNow, kMaxTtl) == RecordError::kBadSignature);
  t = r;
  t.signature = Signature{};
  CHECK(check_record(t, kNow, kMaxTtl) == RecordError::kBadSignature);
}

TEST_CASE("record_digest is deterministic, ignores the signature, depends on each field") {
  auto kp = test_key(3);
  Record r = sample(kp);
  const Hash256 d = record_digest(r);
  CHECK(record_digest(r) == d);
  Record s = r;
  s.signature.bytes[0] ^= 0xff;
  CHECK(record_digest(s) == d);
  s = r;
  s.payload.push_back(0);
  CHECK(record_digest(s) != d);
  s = r;
  s.seq = 2;
  CHECK(record_digest(s) != d);
  s = r;
  s.expires_at = r.expires_at - 1;
  CHECK(record_digest(s) != d);
  // The tag separates record digests from a plain hash of the same bytes.
  CHECK(record_digest(r) != sha256(as_bytes("x")));
}

TEST_CASE("record_digest is the tagged hash of the hand-built canonical body (signature omitted)") {
  Record r;
  for (int i = 0; i < 32; ++i) {
    r.key.bytes[i] = static_cast<std::uint8_t>(i);
    r.owner.bytes[i] = static_cast<std::uint8_t>(0x80 + i);
  }
  r.seq = 0x0102030405060708ull;
  r.expires_at = 1'700'000'000'123;
  r.payload = {0xaa, 0xbb, 0xcc};
  r.signature.bytes.fill(0x55);  // must not matter

  // Canonical Cap'n Proto: root struct pointer, data words, three pointers
  // (the null signature is truncated), then key, owner and payload in order.
  std::vector<std::uint64_t> words;
  auto list_ptr = [](std::uint64_t offset, std::uint64_t count) {
    return 1ull | (offset << 2) | (2ull << 32) | (count << 35);  // byte list
  };
  words.push_back((3ull << 48) | (2ull << 32));  // struct: 2 data words, 3 pointers
  words.push_back(r.seq);
  words.push_back(static_cast<std::uint64_t>(r.expires_at));
  words.push_back(list_ptr(2, 32));  // key at word 6
  words.push_back(list_ptr(5, 32));  // owner at word 10
  words.push_back(list_ptr(8, 3));   // payload at word 14
  Bytes body;
  auto put_word = [&](std::uint64_t w) {
    for (int i = 0; i < 8; ++i) body.push_back(static_cast<std::uint8_t>(w >> (8 * i)));
  };
  for (auto w : words) put_word(w);
  body.insert(body.end(), r.key.bytes.begin(), r.key.bytes.end());
  body.insert(body.end(), r.owner.bytes.begin(), r.owner.bytes.end());
  body.insert(body.end(), r.payload.begin(), r.payload.end());
  body.resize(body.size() + 5, 0);  // pad the payload to a word
  REQUIRE(body.size() == 15 * 8);
  CHECK(record_digest(r) == tagged_hash("blockcloud/dht-record/v1", body));
}

TEST_CASE("check_record order: size, expiry, too far ahead, signature") {
  auto kp = test_key(5);
  Record big = sample(kp, kMaxPayloadBytes + 1, 1, 1000);
  CHECK(check_record(big, kNow, kMaxTtl) == RecordError::kOversized);
  big.expires_at = kNow;  // oversized AND expired: size wins
  CHECK(check_record(big, kNow, kMaxTtl) == RecordError::kOversized);

  Record max = sample(kp, kMaxPayloadBytes, 1, 1000);
  CHECK(check_record(max, kNow, kMaxTtl) == RecordError::kNone);

  Record r = sample(kp, 10, 1, 1000);
  CHECK(check_record(r, kNow + 999, kMaxTtl) == RecordError::kNone);
  CHECK(check_record(r, kNow + 1000, kMaxTtl) == RecordError::kExpired);  // expires_at <= now
  r.signature = Signature{};
  CHECK(check_record(r, kNow + 1000, kMaxTtl) == RecordError::kExpired);  // expiry before signature

  Record far = sample(kp, 10, 1, kMaxTtl);
  CHECK(check_record(far, kNow, kMaxTtl) == RecordError::kNone);  // exactly max_ttl ahead
  CHECK(check_record(far, kNow - 1, kMaxTtl) == RecordError::kTooFarAhead);
  far.signature = Signature{};
  CHECK(check_record(far, kNow - 1, kMaxTtl) == RecordError::kTooFarAhead);
  CHECK(check_record(far, kNow, kMaxTtl) == RecordError::kBadSignature);

  Record extreme = r;
  extreme.expires_at = INT64_MAX;
  CHECK(check_record(extreme, INT64_MIN, kMaxTtl) == RecordError::kTooFarAhead);
  CHECK(std::string(to_string(RecordError::kTooFarAhead)) == "too_far_ahead");
}

TEST_CASE("key_from_text: hex, k-IDs, otherwise a tagged hash") {
  Hash256 h = sha256(as_bytes("some key"));
  CHECK(key_from_text(h.hex()) == h);
  std::string upper = h.hex();
  for (auto& c : upper) c = static_cast<char>(std::toupper(c));
  CHECK(key_from_text(upper) == h);

  std::string k = id_to_text('k', h);
  CHECK(key_from_text(k) == h);
  // A mistyped ID is not silently decoded: it is hashed as plain text.
  std::string typo = k;
  typo[10] = typo[10] == 'a' ? 'b' : 'a';
  CHECK(key_from_text(typo) != h);
  CHECK(key_from_text(typo) == tagged_hash("blockcloud/dht-key/v1", as_bytes(typo)));
  // A node ID's text is not a key.
  std::string n = id_to_text('n', h);
  CHECK(key_from_text(n) == tagged_hash("blockcloud/dht-key/v1", as_bytes(n)));

  CHECK(key_from_text("hello") == tagged_hash("blockcloud/dht-key/v1", as_bytes("hello")));
  CHECK(key_from_text("") == tagged_hash("blockcloud/dht-key/v1", as_bytes("")));
  std::string not_hex(64, 'z');
  CHECK(key_from_text(not_hex) == tagged_hash("blockcloud/dht-key/v1", as_bytes(not_hex)));
}

TEST_CASE("codec round-trips a record and rejects wrong field sizes") {
  auto kp = test_key(9);
  for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{7}, kMaxPayloadBytes}) {
    Record r = sample(kp, n, 42);
    Bytes enc = encode_record(r);
    CHECK(enc.size() <= kMaxEncodedRecordBytes);
    RecordDecodeError err = RecordDecodeError::kMalformed;
    auto back = decode_record(enc, &err);
    REQUIRE(back);
    CHECK(err == RecordDecodeError::kNone);
    CHECK(*back == r);
    CHECK(check_record(*back, kNow, kMaxTtl) == RecordError::kNone);
  }

  struct Case {
    std::size_t key, owner, sig, payload;
    RecordDecodeError want;
  } cases[] = {
      {31, 32, 64, 0, RecordDecodeError::kBadKeySize},
      {0, 32, 64, 0, RecordDecodeError::kBadKeySize},
      {32, 33, 64, 0, RecordDecodeError::kBadOwnerSize},
      {32, 32, 63, 0, RecordDecodeError::kBadSignatureSize},
      {32, 32, 64, kMaxPayloadBytes + 1, RecordDecodeError::kOversizedPayload},
      {32, 32, 64, kMaxPayloadBytes, RecordDecodeError::kNone},
  };
  for (const auto& c : cases) {
    CAPTURE(to_string(c.want));
    RecordDecodeError err = RecordDecodeError::kNone;
    auto r = decode_record(encode_raw(c.key, c.owner, c.sig, c.payload), &err);
    CHECK(err == c.want);
    CHECK(r.has_value() == (c.want == RecordDecodeError::kNone));
  }
}

TEST_CASE("decode_record bounds hostile bytes") {
  auto kp = test_key(11);
  Bytes enc = encode_record(sample(kp, 100));
  RecordDecodeError err = RecordDecodeError::kNone;

  CHECK_FALSE(decode_record({}, &err));
  CHECK(err == RecordDecodeError::kMalformed);

  Bytes trailing = enc;
  trailing.insert(trailing.end(), 8, 0);
  CHECK_FALSE(decode_record(trailing, &err));
  CHECK(err == RecordDecodeError::kMalformed);

  Bytes odd = enc;
  odd.push_back(0);
  CHECK_FALSE(decode_record(odd, &err));
  CHECK(err == RecordDecodeError::kMalformed);

  Bytes huge(kMaxEncodedRecordBytes + 8, 0);
  CHECK_FALSE(decode_record(huge, &err));
  CHECK(err == RecordDecodeError::kOversizedMessage);

  // Every truncation is refused without a crash.
  for (std::size_t n = 8; n < enc.size(); n += 8) {
    CHECK_FALSE(decode_record(ByteView(enc.data(), n), &err));
    CHECK(err == RecordDecodeError::kMalformed);
  }

  // Misaligned input decodes the same.
  Bytes shifted(enc.size() + 1);
  std::copy(enc.begin(), enc.end(), shifted.begin() + 1);
  auto back = decode_record(ByteView(shifted.data() + 1, enc.size()), &err);
  REQUIRE(back);
  auto aligned = decode_record(enc);
  REQUIRE(aligned);
  CHECK(*back == *aligned);

  // Random single-byte corruptions never crash; any accepted result has sane sizes.
  Rng rng(1234);
  for (int i = 0; i < 2000; ++i) {
    Bytes m = enc;
    m[rng.uniform(m.size())] = static_cast<std::uint8_t>(rng.next());
    if (auto r = decode_record(m, &err)) {
      CHECK(r->payload.size() <= kMaxPayloadBytes);
      CHECK(err == RecordDecodeError::kNone);
    } else {
      CHECK(err != RecordDecodeError::kNone);
    }
  }
}

TEST_CASE("check_record with a cache verifies a signature once and still rejects forgeries") {
  const TimeMs now = 1'700'000'000'000;
  KeyPair owner = KeyPair::from_secret(sha256(as_bytes("cache-owner")).view()).value();
  Record r = make_record(owner, sha256(as_bytes("k")), Bytes{1, 2, 3}, 7, now + 60'000);
  SignatureCache cache(16);
  CHECK(check_record(r, now, 3'600'000, &cache) == RecordError::kNone);
  CHECK(cache.size() == 1);
  CHECK(check_record(r, now, 3'600'000, &cache) == RecordError::kNone);
  CHECK(cache.hits() == 1);

  // Any change to a signed field or to the signature misses the cache and fails.
  Record other_payload = r;
  other_payload.payload = Bytes{9};
  CHECK(check_record(other_payload, now, 3'600'000, &cache) == RecordError::kBadSignature);
  Record other_sig = r;
  other_sig.signature.bytes[5] ^= 1;
  CHECK(check_record(other_sig, now, 3'600'000, &cache) == RecordError::kBadSignature);
  CHECK(cache.size() == 1);
  // Expiry is checked before the cache: a cached record still expires.
  CHECK(check_record(r, now + 60'000, 3'600'000, &cache) == RecordError::kExpired);
}
