#include <doctest/doctest.h>

#include "layers/bytes.hpp"

using bc::Hash256;

TEST_CASE("hex round trip and rejection of malformed hex") {
  bc::Bytes data = {0x00, 0x01, 0xab, 0xff, 0x7f};
  CHECK(bc::to_hex(data) == "0001abff7f");
  CHECK(bc::from_hex("0001abff7f") == data);
  CHECK(bc::from_hex("0001ABFF7F") == data);
  CHECK(bc::from_hex("") == bc::Bytes{});
  CHECK_FALSE(bc::from_hex("abc").has_value());  // odd length
  CHECK_FALSE(bc::from_hex("zz").has_value());
  CHECK_FALSE(bc::from_hex("0g").has_value());
  CHECK_FALSE(bc::from_hex(" 0").has_value());
}

TEST_CASE("Hash256 construction, order and zero test") {
  CHECK(Hash256{}.is_zero());
  auto h = Hash256::from_hex("80" + std::string(62, '0'));
  REQUIRE(h.has_value());
  CHECK_FALSE(h->is_zero());
  CHECK(h->hex() == "80" + std::string(62, '0'));
  CHECK_FALSE(Hash256::from_hex(std::string(62, '0')).has_value());
  CHECK_FALSE(Hash256::from_hex(std::string(66, '0')).has_value());
  CHECK_FALSE(Hash256::from_bytes(bc::Bytes(31)).has_value());
  CHECK(Hash256::from_bytes(bc::Bytes(32, 7)).value().bytes[31] == 7);

  Hash256 lo, hi;
  lo.bytes[31] = 0xff;
  hi.bytes[0] = 0x01;
  CHECK(lo < hi);  // big-endian byte order
}

TEST_CASE("XOR distance and common prefix length") {
  Hash256 a, b;
  CHECK(bc::common_prefix_bits(a, b) == 256);
  b.bytes[0] = 0x80;
  CHECK(bc::common_prefix_bits(a, b) == 0);
  b.bytes[0] = 0x01;
  CHECK(bc::common_prefix_bits(a, b) == 7);
  b.bytes[0] = 0;
  b.bytes[3] = 0x10;
  CHECK(bc::common_prefix_bits(a, b) == 27);
  b.bytes[31] = 0x01;
  CHECK(bc::common_prefix_bits(a, b) == 27);
  Hash256 d = a ^ b;
  CHECK(d == b);
  CHECK((b ^ b).is_zero());
  b.bytes[3] = 0;
  CHECK(bc::common_prefix_bits(a, b) == 255);
}

TEST_CASE("Hash256Hasher spreads distinct values") {
  Hash256 a, b;
  b.bytes[0] = 1;
  CHECK(bc::Hash256Hasher{}(a) != bc::Hash256Hasher{}(b));
}
