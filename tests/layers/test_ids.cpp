#include <doctest/doctest.h>

#include "layers/ids.hpp"

namespace {

bc::Hash256 sample(std::uint8_t seed) {
  return bc::sha256(bc::Bytes{seed});
}

}  // namespace

TEST_CASE("node id is SHA-256 of the x-only public key") {
  auto kp = bc::KeyPair::generate();
  CHECK(bc::node_id_of(kp.public_key()) == bc::sha256(kp.public_key().view()));
}

TEST_CASE("id text: 59 characters, a DNS label, round trips for every kind") {
  for (char kind : {'n', 's', 'a', 'k'}) {
    for (std::uint8_t s = 0; s < 20; ++s) {
      auto id = sample(s);
      auto text = bc::id_to_text(kind, id);
      CHECK(text.size() == 59);
      CHECK(text[0] == kind);
      for (char c : text) CHECK(((c >= 'a' && c <= 'z') || (c >= '2' && c <= '7')));
      CHECK(bc::id_from_text(kind, text) == id);
    }
  }
  // The all-zero and all-one IDs are handled like any other.
  bc::Hash256 ones;
  ones.bytes.fill(0xff);
  CHECK(bc::id_from_text('n', bc::id_to_text('n', ones)) == ones);
  CHECK(bc::id_from_text('n', bc::id_to_text('n', bc::Hash256{})) == bc::Hash256{});
}

TEST_CASE("id text accepts uppercase (DNS names are case-insensitive)") {
  auto id = sample(1);
  auto text = bc::id_to_text('s', id);
  std::string upper = text;
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  CHECK(bc::id_from_text('s', upper) == id);
}

TEST_CASE("id text rejects the wrong kind, length and alphabet") {
  auto id = sample(2);
  auto text = bc::id_to_text('n', id);
  CHECK_FALSE(bc::id_from_text('s', text).has_value());
  // Same payload under another kind letter: the checksum covers the kind.
  std::string swapped = text;
  swapped[0] = 's';
  CHECK_FALSE(bc::id_from_text('s', swapped).has_value());
  CHECK_FALSE(bc::id_from_text('n', text.substr(0, 58)).has_value());
  CHECK_FALSE(bc::id_from_text('n', text + "a").has_value());
  CHECK_FALSE(bc::id_from_text('n', "").has_value());
  std::string bad = text;
  bad[10] = '1';  // not in the base32 alphabet
  CHECK_FALSE(bc::id_from_text('n', bad).has_value());
  bad[10] = '=';
  CHECK_FALSE(bc::id_from_text('n', bad).has_value());
}

TEST_CASE("id text checksum catches every single-character change") {
  const std::string alphabet = "abcdefghijklmnopqrstuvwxyz234567";
  int tried = 0;
  for (std::uint8_t s = 0; s < 8; ++s) {
    auto id = sample(s);
    auto text = bc::id_to_text('n', id);
    for (std::size_t pos = 1; pos < text.size(); ++pos) {
      for (char c : alphabet) {
        if (c == text[pos]) continue;
        std::string typo = text;
        typo[pos] = c;
        ++tried;
        if (bc::id_from_text('n', typo).has_value()) FAIL("undetected typo at position " << pos << ": " << typo);
      }
    }
  }
  CHECK(tried == 8 * 58 * 31);
}

TEST_CASE("id text catches swapped adjacent characters") {
  auto id = sample(9);
  auto text = bc::id_to_text('k', id);
  for (std::size_t pos = 1; pos + 1 < text.size(); ++pos) {
    if (text[pos] == text[pos + 1]) continue;
    std::string swapped = text;
    std::swap(swapped[pos], swapped[pos + 1]);
    CHECK_FALSE(bc::id_from_text('k', swapped).has_value());
  }
}
