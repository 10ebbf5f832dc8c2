// Endpoint picker (late binding): cluster order, weights, failure backoff,
// the all-failed fallback, bounded attempts and bounded failure memory.
#include <doctest/doctest.h>

#include <map>
#include <stdexcept>
#include <string>

#include "layers/crypto.hpp"
#include "sal/table/endpoint_picker.hpp"

using namespace bc;
using namespace bc::sal;

namespace {

Endpoint ep(const std::string& text) { return *Endpoint::parse(text); }
Hash256 node(const std::string& name) { return sha256(as_bytes("picker-test/" + name)); }

Candidate cand(const std::string& name, std::vector<std::string> addrs, std::uint32_t weight, int level,
               std::optional<TimeMs> rtt = std::nullopt) {
  Candidate c;
  c.provider = node(name);
  for (const auto& a : addrs) c.addresses.push_back(ep(a));
  c.weight = weight;
  c.cluster_level = level;
  c.rtt_ms = rtt;
  return c;
}

std::vector<Endpoint> endpoints(const std::vector<Attempt>& v) {
  std::vector<Endpoint> out;
  for (const auto& a : v) out.push_back(a.endpoint);
  return out;
}

}  // namespace

TEST_CASE("endpoint_picker: nearest cluster level first, unknown level placed by RTT") {
  EndpointPicker p;
  Rng rng(1);
  std::vector<Candidate> c = {
      cand("global", {"127.0.0.10:1"}, 1000, 0),
      cand("unknown", {"127.0.0.11:1"}, 1000, kClusterUnknown),
      cand("near-by-rtt", {"127.0.0.12:1"}, 1, kClusterUnknown, 5),
      cand("level1", {"127.0.0.13:1"}, 1000, 1),
      cand("level2", {"127.0.0.14:1"}, 1, 2),
      cand("mid-by-rtt", {"127.0.0.15:1"}, 1, kClusterUnknown, 40),
  };
  for (int round = 0; round < 50; ++round) {
    auto order = p.order(c, 0, rng);
    REQUIRE(order.size() == 6);
    // Level 2 (given or by RTT < 20 ms) before level 1 (given or RTT < 60 ms) before level 0.
    CHECK(order[0].level == 2);
    CHECK(order[1].level == 2);
    CHECK(order[2].level == 1);
    CHECK(order[3].level == 1);
    CHECK(order[4].level == 0);
    CHECK(order[5].level == 0);
    for (const auto& a : order) CHECK_FALSE(a.backed_off);
  }
}

TEST_CASE("endpoint_picker: weighted random order within a level (3:1 first picks)") {
  EndpointPicker p;
  Rng rng(7);
  std::vector<Candidate> c = {cand("heavy", {"127.0.0.2:1"}, 3, 2), cand("light", {"127.0.0.3:1"}, 1, 2)};
  int heavy_first = 0;
  const int kPicks = 10'000;
  for (int i = 0; i < kPicks; ++i) {
    auto order = p.order(c, 0, rng);
    REQUIRE(order.size() == 2);
    if (order[0].provider == node("heavy")) ++heavy_first;
  }
  const double share = static_cast<double>(heavy_first) / kPicks;
  MESSAGE("picker weight 3:1 share of first attempts: " << share);
  CHECK(share == doctest::Approx(0.75).epsilon(0.03));
}

TEST_CASE("endpoint_picker: weight 0 is standby, after every weighted provider of its level") {
  EndpointPicker p;
  Rng rng(3);
  std::vector<Candidate> c = {cand("standby", {"127.0.0.2:1"}, 0, 2), cand("a", {"127.0.0.3:1"}, 1, 2),
                              cand("b", {"127.0.0.4:1"}, 1, 2), cand("far", {"127.0.0.5:1"}, 1, 0)};
  for (int i = 0; i < 100; ++i) {
    auto order = p.order(c, 0, rng);
    REQUIRE(order.size() == 4);
    CHECK(order[2].provider == node("standby"));
    CHECK(order[3].provider == node("far"));
  }
}

TEST_CASE("endpoint_picker: a provider's addresses follow each other, duplicates once, empty skipped") {
  EndpointPicker p;
  Rng rng(1);
  std::vector<Candidate> c = {cand("dual", {"127.0.0.2:4000", "[::1]:4000"}, 1, 2),
                              cand("dup", {"127.0.0.2:4000", "127.0.0.9:1"}, 1, 0), cand("none", {}, 1, 2)};
  auto order = p.order(c, 0, rng);
  REQUIRE(order.size() == 3);
  CHECK(order[0].endpoint == ep("127.0.0.2:4000"));
  CHECK(order[1].endpoint == ep("[::1]:4000"));
  CHECK(order[2].endpoint == ep("127.0.0.9:1"));
  CHECK(order[2].provider == node("dup"));
}

TEST_CASE("endpoint_picker: recently failed endpoints go last, backoff doubles and expires") {
  PickerConfig cfg;
  cfg.backoff_base_ms = 1'000;
  cfg.backoff_max_ms = 8'000;
  cfg.forget_after_ms = 60'000;
  EndpointPicker p(cfg);
  Rng rng(11);
  std::vector<Candidate> c = {cand("near", {"127.0.0.2:1"}, 1, 2), cand("far", {"127.0.0.3:1"}, 1, 0)};
  const auto near = ep("127.0.0.2:1");

  p.mark_failed(near, 10'000);
  CHECK(p.backed_off(near, 10'000));
  CHECK(*p.retry_at(near) == 11'000);
  auto order = p.order(c, 10'500, rng);
  REQUIRE(order.size() == 2);
  CHECK(order[0].endpoint == ep("127.0.0.3:1"));  // the far one, healthy, first
  CHECK(order[1].endpoint == near);
  CHECK(order[1].backed_off);

  // The window ends: the near one is first again.
  CHECK_FALSE(p.backed_off(near, 11'000));
  CHECK(p.order(c, 11'000, rng)[0].endpoint == near);

  // Repeated failures double the window up to the cap.
  p.mark_failed(near, 11'000);
  CHECK(*p.retry_at(near) == 13'000);
  p.mark_failed(near, 13'000);
  CHECK(*p.retry_at(near) == 17'000);
  p.mark_failed(near, 17'000);
  CHECK(*p.retry_at(near) == 25'000);
  p.mark_failed(near, 25'000);
  CHECK(*p.retry_at(near) == 33'000);  // capped at 8 s

  // Long after the last failure the count is forgotten: the next window is the base again.
  p.mark_failed(near, 25'000 + 60'000);
  CHECK(*p.retry_at(near) == 86'000);

  // Success clears the state at once.
  p.mark_succeeded(near);
  CHECK_FALSE(p.backed_off(near, 85'001));
  CHECK_FALSE(p.retry_at(near));
  CHECK(p.failure_entries() == 0);
}

TEST_CASE("endpoint_picker: when every endpoint failed, the least recently failed is tried first") {
  EndpointPicker p;
  Rng rng(5);
  std::vector<Candidate> c = {cand("a", {"127.0.0.2:1"}, 1, 2), cand("b", {"127.0.0.3:1"}, 1, 1),
                              cand("c", {"127.0.0.4:1"}, 1, 0)};
  p.mark_failed(ep("127.0.0.2:1"), 1'000);
  p.mark_failed(ep("127.0.0.4:1"), 1'100);
  p.mark_failed(ep("127.0.0.3:1"), 1'200);
  auto order = p.order(c, 1'300, rng);
  REQUIRE(order.size() == 3);  // never nothing
  CHECK(endpoints(order) == std::vector<Endpoint>{ep("127.0.0.2:1"), ep("127.0.0.4:1"), ep("127.0.0.3:1")});
  for (const auto& a : order) CHECK(a.backed_off);
}

TEST_CASE("endpoint_picker: attempts are bounded, so a flow open gives up in bounded time") {
  PickerConfig cfg;
  cfg.max_attempts = 3;
  cfg.connect_timeout_ms = 500;
  EndpointPicker p(cfg);
  CHECK(p.connect_timeout_ms() == 500);
  Rng rng(1);
  std::vector<Candidate> c;
  for (int i = 0; i < 10; ++i) c.push_back(cand("n" + std::to_string(i), {"127.0.0." + std::to_string(i + 2) + ":1"}, 1, 0));
  auto order = p.order(c, 0, rng);
  CHECK(order.size() == 3);
  CHECK(order.size() * static_cast<std::size_t>(p.connect_timeout_ms()) <= 1'500);
  CHECK(p.order({}, 0, rng).empty());
}

TEST_CASE("endpoint_picker: failure memory is capped and expires") {
  PickerConfig cfg;
  cfg.max_failure_entries = 100;
  cfg.backoff_max_ms = 10'000;
  cfg.forget_after_ms = 10'000;
  EndpointPicker p(cfg);
  for (int i = 0; i < 1'000; ++i)
    p.mark_failed(Endpoint::v4(0x7f000002, static_cast<std::uint16_t>(1 + i)), 1'000 + i);
  CHECK(p.failure_entries() == 100);
  // The newest failures are the ones kept.
  CHECK(p.backed_off(Endpoint::v4(0x7f000002, 1000), 2'000));
  CHECK_FALSE(p.retry_at(Endpoint::v4(0x7f000002, 1)));
  // All forgotten forget_after_ms after their last failure.
  p.expire(2'000 + 10'000);
  CHECK(p.failure_entries() == 0);
}

TEST_CASE("endpoint_picker: config is checked with a clear message") {
  PickerConfig cfg;
  CHECK(cfg.validate().ok());
  cfg.connect_timeout_ms = 0;
  CHECK(cfg.validate().message.find("connect_timeout_ms") != std::string::npos);
  CHECK_THROWS_AS(EndpointPicker{cfg}, std::invalid_argument);
  cfg = {};
  cfg.backoff_base_ms = cfg.backoff_max_ms + 1;
  CHECK(cfg.validate().message.find("backoff_base_ms") != std::string::npos);
  cfg = {};
  cfg.forget_after_ms = cfg.backoff_max_ms - 1;
  CHECK(cfg.validate().message.find("forget_after_ms") != std::string::npos);
  cfg = {};
  cfg.max_attempts = 0;
  CHECK(cfg.validate().message.find("max_attempts") != std::string::npos);
}

TEST_CASE("endpoint_picker: FORWARD rule targets become candidates with their weights") {
  Rule r;
  r.action = RuleAction::Forward;
  r.targets = {{ep("127.0.0.2:4000"), 3}, {ep("[::1]:4000"), 1}};
  auto c = forward_candidates(r);
  REQUIRE(c.size() == 2);
  CHECK(c[0].addresses == std::vector<Endpoint>{ep("127.0.0.2:4000")});
  CHECK(c[0].weight == 3);
  CHECK(c[1].weight == 1);
  EndpointPicker p;
  Rng rng(1);
  p.mark_failed(ep("127.0.0.2:4000"), 0);
  auto order = p.order(c, 10, rng);
  REQUIRE(order.size() == 2);
  CHECK(order[0].endpoint == ep("[::1]:4000"));
}

TEST_CASE("endpoint_picker: same seed, same order") {
  EndpointPicker p;
  std::vector<Candidate> c;
  for (int i = 0; i < 8; ++i)
    c.push_back(cand("n" + std::to_string(i), {"127.0.0." + std::to_string(i + 2) + ":1"}, 1 + i % 3, i % 3));
  Rng r1(77), r2(77);
  for (int i = 0; i < 50; ++i) CHECK(endpoints(p.order(c, 0, r1)) == endpoints(p.order(c, 0, r2)));
}
