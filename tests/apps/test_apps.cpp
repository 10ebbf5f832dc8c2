// Unit tests of apps/common: value encodings and the [dht] config mapping.
#include <doctest/doctest.h>

#include "apps/common/dht_config.hpp"
#include "apps/common/encoding.hpp"

using bc::apps::base64_decode;
using bc::apps::base64_encode;
using bc::apps::is_printable_utf8;

TEST_CASE("base64 round-trips and matches RFC 4648 vectors") {
  const std::pair<const char*, const char*> vectors[] = {
      {"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"}, {"foob", "Zm9vYg=="},
      {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}};
  for (auto [plain, enc] : vectors) {
    CHECK(base64_encode(bc::as_bytes(plain)) == enc);
    auto dec = base64_decode(enc);
    REQUIRE(dec);
    CHECK(std::string(dec->begin(), dec->end()) == plain);
  }
  bc::Bytes all(256);
  for (int i = 0; i < 256; ++i) all[i] = static_cast<std::uint8_t>(i);
  CHECK(base64_decode(base64_encode(all)) == all);
  CHECK_FALSE(base64_decode("Zm9v!").has_value());
  CHECK_FALSE(base64_decode("Z").has_value());
}

TEST_CASE("printable UTF-8 detection") {
  CHECK(is_printable_utf8(bc::as_bytes("hello, world\n")));
  CHECK(is_printable_utf8(bc::as_bytes("gr\xc3\xbc\xc3\x9f dich \xe2\x82\xac \xf0\x9f\x98\x80")));
  CHECK_FALSE(is_printable_utf8(bc::as_bytes(std::string_view("a\0b", 3))));
  CHECK_FALSE(is_printable_utf8(bc::as_bytes("\xc3")));              // truncated
  CHECK_FALSE(is_printable_utf8(bc::as_bytes("\xc0\xaf")));          // overlong
  CHECK_FALSE(is_printable_utf8(bc::as_bytes("\xed\xa0\x80")));      // surrogate
  CHECK_FALSE(is_printable_utf8(bc::as_bytes("\xf4\x90\x80\x80")));  // > U+10FFFF
  CHECK_FALSE(is_printable_utf8(bc::as_bytes("\x1b[31m")));          // terminal escape
}

TEST_CASE("[dht] table maps into DhtConfig and rejects what it cannot use") {
  const auto cfg = bc::parse_config_toml(R"(
datadir = "/x"
[dht]
mode = "kademlia"
k = 12
alpha = 3
replicas = 5
rate_limit_per_s = 50
default_ttl_ms = 60000
)", "n.toml");
  const auto d = bc::apps::dht_config_from_table(cfg.dht);
  CHECK(d.mode == bc::routing::Mode::kKademlia);
  CHECK(d.bucket_size == 12);
  CHECK(d.alpha == 3);
  CHECK(d.replicas == 5);
  CHECK(d.rate_limit_per_s == doctest::Approx(50));
  CHECK(d.default_ttl_ms == 60000);
  CHECK(d.search_width == bc::routing::DhtConfig{}.search_width);  // untouched keys keep defaults

  auto err = [](const char* toml) {
    try {
      bc::apps::dht_config_from_table(bc::parse_config_toml(toml, "n.toml").dht);
    } catch (const bc::ConfigError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  CHECK(err("[dht]\nmode = \"chord\"\n").find("one of coral, kademlia") != std::string::npos);
  CHECK(err("[dht]\nbuckets = 3\n").find("dht.buckets") != std::string::npos);
  CHECK(err("[dht]\nk = 17\n").find("from 1 to 16") != std::string::npos);
  CHECK(err("[dht]\nlevel2_rtt_ms = 80\n").find("below dht.level1_rtt_ms") != std::string::npos);
  CHECK(err("[dht]\ndefault_ttl_ms = 90000000\n").find("dht.default_ttl_ms") != std::string::npos);
  CHECK(err("[dht]\nalpha = 2.5\n").find("an integer") != std::string::npos);
}
