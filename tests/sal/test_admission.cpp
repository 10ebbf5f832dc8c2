// sal::Admission (sal/host/admission.hpp): per-source and total caps, fair
// eviction of pending handshakes, token buckets.
#include <doctest/doctest.h>

#include <algorithm>

#include "sal/host/admission.hpp"

using namespace bc;
using namespace bc::sal;
using Refusal = Admission::Refusal;

namespace {

AdmissionLimits small() {
  AdmissionLimits l;
  l.max_connections = 10;
  l.max_per_source = 6;
  l.max_pending = 4;
  l.max_pending_per_source = 3;
  return l;
}

}  // namespace

TEST_CASE("admission: a source at its pending cap evicts its own oldest, not others'") {
  Admission a(small());
  const auto honest = a.admit("10.0.0.1", 0);
  REQUIRE(honest.ticket != 0);
  std::vector<Admission::Ticket> flood;
  for (int i = 0; i < 3; ++i) {
    auto d = a.admit("10.0.0.9", 0);
    REQUIRE(d.ticket != 0);
    CHECK(d.evict.empty());
    flood.push_back(d.ticket);
  }
  // 4 pending: total cap reached. The flooder's next evicts its own oldest.
  auto d = a.admit("10.0.0.9", 0);
  REQUIRE(d.ticket != 0);
  CHECK(d.evict == std::vector<Admission::Ticket>{flood[0]});
  CHECK(a.pending_from("10.0.0.1") == 1);
  CHECK(a.pending_from("10.0.0.9") == 3);
  // A third source takes the slot of the heaviest source's oldest.
  auto other = a.admit("10.0.0.2", 0);
  REQUIRE(other.ticket != 0);
  CHECK(other.evict == std::vector<Admission::Ticket>{flood[1]});
  CHECK(a.pending_from("10.0.0.1") == 1);
  CHECK(a.pending() == 4);
}

TEST_CASE("admission: established connections are never evicted; then newcomers are refused") {
  Admission a(small());
  for (int i = 0; i < 6; ++i) {
    auto d = a.admit("10.0.0.1", 0);
    REQUIRE(d.ticket != 0);
    a.established(d.ticket);
  }
  auto d = a.admit("10.0.0.1", 0);
  CHECK(d.ticket == 0);
  CHECK(d.refused == Refusal::kSourceFull);
  CHECK(Admission::label(d.refused) == "source_full");
  for (int i = 0; i < 4; ++i) {
    auto e = a.admit("10.0.0." + std::to_string(2 + i), 0);
    REQUIRE(e.ticket != 0);
    a.established(e.ticket);
  }
  auto f = a.admit("10.0.0.50", 0);
  CHECK(f.refused == Refusal::kFull);
  CHECK(a.open() == 10);
  CHECK(a.pending() == 0);
}

TEST_CASE("admission: close frees the slots; unknown and repeated closes are ignored") {
  Admission a(small());
  auto d = a.admit("10.0.0.1", 0);
  a.close(d.ticket);
  a.close(d.ticket);
  a.close(12345);
  CHECK(a.open() == 0);
  CHECK(a.pending() == 0);
  CHECK(a.sources() == 0);
}

TEST_CASE("admission: per-source rate does not let one source drain the total rate") {
  AdmissionLimits l;
  l.rate_per_source = 10;
  l.burst_per_source = 5;
  l.rate = 100;
  l.burst = 20;
  Admission a(l);
  int flood_ok = 0;
  for (int i = 0; i < 100; ++i) {
    auto d = a.admit("10.0.0.9", 1000);
    if (d.ticket) {
      ++flood_ok;
      a.close(d.ticket);  // churn: closing does not refill the bucket
    } else {
      CHECK(d.refused == Refusal::kSourceRate);
    }
  }
  CHECK(flood_ok == 5);
  for (int i = 0; i < 5; ++i) CHECK(a.admit("10.0.0." + std::to_string(i), 1000).ticket != 0);
  // 100 ms later the flooder has one more token.
  CHECK(a.admit("10.0.0.9", 1100).ticket != 0);
  CHECK(a.admit("10.0.0.9", 1100).refused == Refusal::kSourceRate);
}

TEST_CASE("admission: the source table stays bounded under churn from many addresses") {
  AdmissionLimits l = small();
  l.rate_per_source = 1;
  l.burst_per_source = 1;
  Admission a(l);
  for (std::uint32_t i = 0; i < 5000; ++i) {
    auto d = a.admit(Endpoint::v4(0x0a000000 + i, 1).ip_string(), 0);
    if (d.ticket) a.close(d.ticket);
  }
  CHECK(a.sources() <= 2 * l.max_connections + 64 + 1);
}

TEST_CASE("admission: IPv6 sources count per /64") {
  const auto a = Endpoint::parse("[2001:db8:1:2:aaaa::1]:80");
  const auto b = Endpoint::parse("[2001:db8:1:2:bbbb::2]:80");
  const auto c = Endpoint::parse("[2001:db8:1:3::1]:80");
  REQUIRE((a && b && c));
  CHECK(Admission::source_key(*a) == "2001:db8:1:2::/64");
  CHECK(Admission::source_key(*a) == Admission::source_key(*b));
  CHECK(Admission::source_key(*a) != Admission::source_key(*c));
  CHECK(Admission::source_key(Endpoint::v4(0x7f000002, 9)) == "127.0.0.2");
}
