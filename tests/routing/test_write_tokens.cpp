// Write tokens: bound to IP and port, valid across one rotation, not two.
#include <doctest/doctest.h>

#include <set>
#include <stdexcept>

#include "layers/runtime.hpp"
#include "routing/detail/write_tokens.hpp"

using namespace bc;
using namespace bc::routing;

namespace {

constexpr TimeMs kRot = 5 * 60 * 1000;
constexpr TimeMs T0 = 1'700'000'000'000 - 1'700'000'000'000 % kRot;  // an epoch start

ByteView view(const WriteToken& t) { return {t.data(), t.size()}; }

}  // namespace

TEST_CASE("a token is valid for its endpoint across one rotation and invalid after two") {
  Rng rng(7);
  WriteTokens tokens(rng, kRot);
  const Endpoint a = *Endpoint::parse("127.0.0.2:4000");
  const WriteToken t = tokens.issue(a, T0 + 10);

  CHECK(tokens.check(a, view(t), T0 + 10));
  CHECK(tokens.check(a, view(t), T0 + kRot - 1));      // same epoch
  CHECK(tokens.check(a, view(t), T0 + kRot));          // one rotation later
  CHECK(tokens.check(a, view(t), T0 + 2 * kRot - 1));
  CHECK_FALSE(tokens.check(a, view(t), T0 + 2 * kRot));  // two rotations: dead
  CHECK_FALSE(tokens.check(a, view(t), T0 + 50 * kRot));
  // Time going back does not revive or break tokens: it is a pure function of time.
  CHECK(tokens.check(a, view(t), T0 + 10));
  // A token issued later than `now` (previous epoch valid, next not).
  CHECK_FALSE(tokens.check(a, view(t), T0 - 1));

  // Issuing is deterministic within an epoch and changes with it.
  CHECK(tokens.issue(a, T0 + 999) == t);
  CHECK(tokens.issue(a, T0 + kRot) != t);
}

TEST_CASE("a token is bound to the IP and the port") {
  Rng rng(8);
  WriteTokens tokens(rng, kRot);
  const Endpoint a = *Endpoint::parse("127.0.0.2:4000");
  const WriteToken t = tokens.issue(a, T0);
  CHECK_FALSE(tokens.check(*Endpoint::parse("127.0.0.2:4001"), view(t), T0));
  CHECK_FALSE(tokens.check(*Endpoint::parse("127.0.0.3:4000"), view(t), T0));
  CHECK_FALSE(tokens.check(*Endpoint::parse("[::1]:4000"), view(t), T0));
  const Endpoint v6 = *Endpoint::parse("[::1]:4000");
  CHECK(tokens.check(v6, view(tokens.issue(v6, T0)), T0));

  // Wrong length, flipped bits, all zeros: refused.
  CHECK_FALSE(tokens.check(a, ByteView(t.data(), t.size() - 1), T0));
  Bytes longer(t.begin(), t.end());
  longer.push_back(0);
  CHECK_FALSE(tokens.check(a, longer, T0));
  CHECK_FALSE(tokens.check(a, {}, T0));
  for (std::size_t i = 0; i < t.size(); ++i) {
    WriteToken bad = t;
    bad[i] ^= 0x01;
    CHECK_FALSE(tokens.check(a, view(bad), T0));
  }
  CHECK_FALSE(tokens.check(a, view(WriteToken{}), T0));
}

TEST_CASE("tokens from one node are worthless at another; the same seed reproduces them") {
  Rng r1(1), r2(2), r1b(1);
  WriteTokens n1(r1, kRot), n2(r2, kRot), n1b(r1b, kRot);
  const Endpoint a = *Endpoint::parse("127.0.0.5:7000");
  const WriteToken t1 = n1.issue(a, T0);
  CHECK_FALSE(n2.check(a, view(t1), T0));
  CHECK(n1b.issue(a, T0) == t1);  // deterministic given the driver's seed
  // The master secret is not just the token HMAC key of the endpoint bytes.
  CHECK(t1 != n1.issue(*Endpoint::parse("127.0.0.5:7001"), T0));
}

TEST_CASE("distinct endpoints get distinct tokens (no collisions over 20k endpoints)") {
  Rng rng(3);
  WriteTokens tokens(rng, kRot);
  std::set<WriteToken> seen;
  for (std::uint32_t i = 0; i < 20'000; ++i) {
    Endpoint e = Endpoint::v4(0x7f000001u + (i >> 4), static_cast<std::uint16_t>(4000 + (i & 15)));
    seen.insert(tokens.issue(e, T0));
  }
  CHECK(seen.size() == 20'000);
}

TEST_CASE("negative times and bad rotation periods") {
  Rng rng(4);
  CHECK_THROWS_AS(WriteTokens(rng, 0), std::invalid_argument);
  CHECK_THROWS_AS(WriteTokens(rng, -5), std::invalid_argument);
  WriteTokens tokens(rng, 1000);
  const Endpoint a = *Endpoint::parse("127.0.0.2:1");
  // -1 is in epoch -1, 0 in epoch 0, 999 in 0, 1000 in 1.
  const WriteToken t = tokens.issue(a, -1);
  CHECK(tokens.check(a, view(t), -1000));
  CHECK(tokens.check(a, view(t), 999));
  CHECK_FALSE(tokens.check(a, view(t), 1000));
  CHECK_FALSE(tokens.check(a, view(t), -1001));
}

TEST_CASE("a token secret derived from a caller's secret works the same and is reproducible") {
  const Bytes secret(32, 0x42);
  WriteTokens a(secret, kRot), b(secret, kRot), c(Bytes(32, 0x43), kRot);
  const Endpoint e = *Endpoint::parse("127.0.0.7:9000");
  const WriteToken t = a.issue(e, T0);
  CHECK(b.check(e, view(t), T0 + kRot));
  CHECK_FALSE(b.check(e, view(t), T0 + 2 * kRot));
  CHECK_FALSE(c.check(e, view(t), T0));
  CHECK_THROWS_AS(WriteTokens(Bytes(15, 1), kRot), std::invalid_argument);
  CHECK_THROWS_AS(WriteTokens(secret, 0), std::invalid_argument);
}
