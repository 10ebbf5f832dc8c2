// Service table: longest-prefix match, priorities, weighted anycast, actions,
// the built-in default, limits, and lookup speed with thousands of rules.
#include <doctest/doctest.h>

#include <chrono>
#include <map>
#include <stdexcept>
#include <string>

#include "layers/crypto.hpp"
#include "sal/table/service_table.hpp"

using namespace bc;
using namespace bc::sal;

namespace {

Hash256 sid(const std::string& name) { return sha256(as_bytes("service-table-test/" + name)); }

Hash256 from_hex64(const std::string& hex) {
  std::string h = hex;
  h.resize(64, '0');
  return *Hash256::from_hex(h);
}

Endpoint ep(const char* text) { return *Endpoint::parse(text); }

Rule forward(ServicePrefix p, std::vector<ForwardTarget> targets, std::uint32_t prio = 0, std::uint32_t weight = 1) {
  Rule r;
  r.prefix = p;
  r.action = RuleAction::Forward;
  r.targets = std::move(targets);
  r.priority = prio;
  r.weight = weight;
  return r;
}

Rule demux(ServicePrefix p, std::string listener, std::uint32_t prio = 0, std::uint32_t weight = 1) {
  Rule r;
  r.prefix = p;
  r.action = RuleAction::Demux;
  r.listener = std::move(listener);
  r.priority = prio;
  r.weight = weight;
  return r;
}

Rule simple(ServicePrefix p, RuleAction a) {
  Rule r;
  r.prefix = p;
  r.action = a;
  return r;
}

}  // namespace

TEST_CASE("service_table: prefix masking and containment") {
  const auto id = from_hex64("abcdef");
  CHECK(mask_prefix(id, 0) == Hash256{});
  CHECK(mask_prefix(id, 4) == from_hex64("a"));
  CHECK(mask_prefix(id, 12) == from_hex64("abc"));
  CHECK(mask_prefix(id, 13) == from_hex64("abc8"));  // d = 1101, first bit kept
  CHECK(mask_prefix(id, 256) == id);
  const auto p = ServicePrefix::make(id, 12);
  CHECK(p.contains(from_hex64("abc0ff")));
  CHECK_FALSE(p.contains(from_hex64("abd")));
  CHECK(ServicePrefix::make(id, 0).contains(sid("anything")));
}

TEST_CASE("service_table: no rule gives the built-in default DELAY") {
  ServiceTable t(TableConfig{.max_rules = 10, .default_delay_timeout_ms = 1500});
  Rng rng(1);
  auto d = t.lookup(sid("x"), rng);
  CHECK(d.action == RuleAction::Delay);
  CHECK(d.rule_id == kDefaultRuleId);
  CHECK(d.delay_timeout_ms() == 1500);
  CHECK(t.default_rule().prefix.bits == 0);
  CHECK(t.list().empty());
  CHECK_FALSE(t.remove(kDefaultRuleId));
}

TEST_CASE("service_table: a rule at /0 overrides the default") {
  ServiceTable t;
  Rng rng(1);
  auto id = t.add(simple(ServicePrefix::make({}, 0), RuleAction::Drop));
  REQUIRE(id);
  auto d = t.lookup(sid("x"), rng);
  CHECK(d.action == RuleAction::Drop);
  CHECK(d.rule_id == *id);
  CHECK(t.remove(*id));
  CHECK(t.lookup(sid("x"), rng).action == RuleAction::Delay);
}

TEST_CASE("service_table: longest prefix beats shorter, whatever the priority") {
  ServiceTable t;
  Rng rng(7);
  const auto svc = from_hex64("abcdef0123");
  auto r8 = t.add(simple(ServicePrefix::make(svc, 8), RuleAction::Drop));
  auto r16 = t.add(demux(ServicePrefix::make(svc, 16), "web"));
  auto r256 = t.add(forward(ServicePrefix::make(svc, 256), {{ep("127.0.0.2:4000"), 1}}));
  auto r4 = t.add(simple(ServicePrefix::make(svc, 4), RuleAction::Drop));
  REQUIRE((r8 && r16 && r256 && r4));
  // Make the shorter rules high priority: priority only matters within a prefix.
  auto r8hi = t.add([&] {
    auto r = simple(ServicePrefix::make(svc, 8), RuleAction::Drop);
    r.priority = 1000;
    return r;
  }());
  REQUIRE(r8hi);

  auto d = t.lookup(svc, rng);
  CHECK(d.action == RuleAction::Forward);
  CHECK(d.rule_id == *r256);
  REQUIRE(d.target);
  CHECK(*d.target == ep("127.0.0.2:4000"));

  d = t.lookup(from_hex64("abcd99"), rng);  // shares 16 bits
  CHECK(d.action == RuleAction::Demux);
  CHECK(d.listener() == "web");
  CHECK(d.rule_id == *r16);

  d = t.lookup(from_hex64("ab99"), rng);  // shares 8 bits: the priority-1000 rule
  CHECK(d.action == RuleAction::Drop);
  CHECK(d.rule_id == *r8hi);

  d = t.lookup(from_hex64("a0"), rng);  // shares 4 bits
  CHECK(d.rule_id == *r4);

  d = t.lookup(from_hex64("b0"), rng);  // nothing
  CHECK(d.rule_id == kDefaultRuleId);

  // Removing the /256 rule falls back to the /16 one.
  CHECK(t.remove(*r256));
  CHECK(t.lookup(svc, rng).rule_id == *r16);
  CHECK_FALSE(t.remove(*r256));
}

TEST_CASE("service_table: highest priority wins over weight within a prefix") {
  ServiceTable t;
  Rng rng(3);
  const auto p = ServicePrefix::make(sid("svc"), 256);
  auto heavy = t.add(demux(p, "heavy", 1, 1'000'000));
  auto prio = t.add(demux(p, "prio", 2, 1));
  REQUIRE((heavy && prio));
  for (int i = 0; i < 1000; ++i) REQUIRE(t.lookup(sid("svc"), rng).listener() == "prio");
  auto m = t.matching(sid("svc"));
  REQUIRE(m.size() == 1);
  CHECK(m[0]->id == *prio);
  // Removing the winner lets the lower priority take over.
  CHECK(t.remove(*prio));
  CHECK(t.lookup(sid("svc"), rng).listener() == "heavy");
}

TEST_CASE("service_table: equal prefix and priority share flows by rule weight (3:1)") {
  ServiceTable t;
  Rng rng(42);
  const auto p = ServicePrefix::make(sid("anycast"), 256);
  REQUIRE(t.add(demux(p, "three", 5, 3)));
  REQUIRE(t.add(demux(p, "one", 5, 1)));
  REQUIRE(t.add(demux(p, "low", 4, 100)));  // lower priority: never chosen
  CHECK(t.matching(sid("anycast")).size() == 2);
  std::map<std::string, int> n;
  const int kPicks = 10'000;
  for (int i = 0; i < kPicks; ++i) n[t.lookup(sid("anycast"), rng).listener()]++;
  CHECK(n["low"] == 0);
  const double share = static_cast<double>(n["three"]) / kPicks;
  MESSAGE("rule weight 3:1 share of the weight-3 rule over 10k picks: " << share);
  CHECK(share == doctest::Approx(0.75).epsilon(0.03));
}

TEST_CASE("service_table: FORWARD picks targets by weight (3:1)") {
  ServiceTable t;
  Rng rng(99);
  auto id = t.add(forward(ServicePrefix::make(sid("fwd"), 256),
                          {{ep("127.0.0.2:4000"), 3}, {ep("[::1]:4000"), 1}}));
  REQUIRE(id);
  int first = 0;
  const int kPicks = 10'000;
  for (int i = 0; i < kPicks; ++i) {
    auto d = t.lookup(sid("fwd"), rng);
    REQUIRE(d.action == RuleAction::Forward);
    REQUIRE(d.target);
    if (*d.target == ep("127.0.0.2:4000"))
      ++first;
    else
      REQUIRE(*d.target == ep("[::1]:4000"));
  }
  const double share = static_cast<double>(first) / kPicks;
  MESSAGE("target weight 3:1 share of the weight-3 target over 10k picks: " << share);
  CHECK(share == doctest::Approx(0.75).epsilon(0.03));
}

TEST_CASE("service_table: the same seed gives the same choices") {
  ServiceTable t;
  const auto p = ServicePrefix::make(sid("det"), 256);
  REQUIRE(t.add(demux(p, "a", 0, 2)));
  REQUIRE(t.add(demux(p, "b", 0, 5)));
  Rng r1(5), r2(5);
  for (int i = 0; i < 200; ++i) CHECK(t.lookup(sid("det"), r1).rule_id == t.lookup(sid("det"), r2).rule_id);
}

TEST_CASE("service_table: DROP, DEMUX and DELAY decisions carry their parameters") {
  ServiceTable t;
  Rng rng(1);
  REQUIRE(t.add(simple(ServicePrefix::make(sid("drop"), 256), RuleAction::Drop)));
  REQUIRE(t.add(demux(ServicePrefix::make(sid("demux"), 256), "local-web")));
  auto delay = simple(ServicePrefix::make(sid("delay"), 256), RuleAction::Delay);
  delay.delay_timeout_ms = 750;
  REQUIRE(t.add(delay));

  auto d = t.lookup(sid("drop"), rng);
  CHECK(d.action == RuleAction::Drop);
  CHECK_FALSE(d.target);
  d = t.lookup(sid("demux"), rng);
  CHECK(d.action == RuleAction::Demux);
  CHECK(d.listener() == "local-web");
  CHECK_FALSE(d.target);
  d = t.lookup(sid("delay"), rng);
  CHECK(d.action == RuleAction::Delay);
  CHECK(d.delay_timeout_ms() == 750);
}

TEST_CASE("service_table: decisions stay valid after the rule is removed") {
  ServiceTable t;
  Rng rng(1);
  auto id = t.add(demux(ServicePrefix::make(sid("keep"), 256), "kept"));
  REQUIRE(id);
  auto d = t.lookup(sid("keep"), rng);
  t.clear();
  CHECK(t.size() == 0);
  CHECK(d.listener() == "kept");
  CHECK(t.lookup(sid("keep"), rng).rule_id == kDefaultRuleId);
}

TEST_CASE("service_table: ids are stable, never reused, and list is in id order") {
  ServiceTable t;
  auto a = t.add(demux(ServicePrefix::make(sid("a"), 256), "a"));
  auto b = t.add(demux(ServicePrefix::make(sid("b"), 256), "b"));
  auto c = t.add(demux(ServicePrefix::make(sid("c"), 8), "c"));
  REQUIRE((a && b && c));
  CHECK(*a == 1);
  CHECK(*b == 2);
  CHECK(*c == 3);
  CHECK(t.remove(*b));
  auto d = t.add(demux(ServicePrefix::make(sid("b"), 256), "b"));
  REQUIRE(d);
  CHECK(*d == 4);
  auto l = t.list();
  REQUIRE(l.size() == 3);
  CHECK(l[0].id == 1);
  CHECK(l[1].id == 3);
  CHECK(l[2].id == 4);
  CHECK(l[1].prefix == ServicePrefix::make(sid("c"), 8));  // stored masked
  REQUIRE(t.get(3));
  CHECK(t.get(3)->listener == "c");
  CHECK_FALSE(t.get(2));
}

TEST_CASE("service_table: the prefix is masked on add") {
  ServiceTable t;
  Rng rng(1);
  Rule r = demux(ServicePrefix{sid("unmasked"), 8}, "m");  // bits past /8 still set
  auto id = t.add(r);
  REQUIRE(id);
  CHECK(t.get(*id)->prefix == ServicePrefix::make(sid("unmasked"), 8));
  CHECK(t.lookup(sid("unmasked"), rng).rule_id == *id);

  // A timeout on a non-DELAY rule means nothing: it is reset, so the same rule is refused as a duplicate.
  Rule odd = demux(ServicePrefix::make(sid("unmasked"), 8), "m");
  odd.delay_timeout_ms = 9;
  auto dup = t.add(odd);
  CHECK_FALSE(dup);
  CHECK(dup.status().message.find("already exists") != std::string::npos);
}

TEST_CASE("service_table: invalid, duplicate rules and a full table are refused with a reason") {
  ServiceTable t(TableConfig{.max_rules = 3});
  const auto p = ServicePrefix::make(sid("lim"), 256);

  auto bad_bits = t.add(demux(ServicePrefix{sid("x"), 257}, "web"));
  CHECK_FALSE(bad_bits);
  CHECK(bad_bits.status().code == bc::Errc::kInvalidArgument);
  CHECK(bad_bits.status().message.find("0..256") != std::string::npos);

  auto no_targets = t.add(forward(p, {}));
  CHECK_FALSE(no_targets);
  CHECK(no_targets.status().message.find("at least one target") != std::string::npos);

  auto dup_target = t.add(forward(p, {{ep("127.0.0.2:1"), 1}, {ep("127.0.0.2:1"), 2}}));
  CHECK_FALSE(dup_target);
  CHECK(dup_target.status().message.find("listed twice") != std::string::npos);

  auto zero_w = t.add(forward(p, {{ep("127.0.0.2:1"), 0}}));
  CHECK_FALSE(zero_w);
  CHECK(zero_w.status().message.find("weight") != std::string::npos);

  auto bad_name = t.add(demux(p, "has space"));
  CHECK_FALSE(bad_name);
  CHECK(bad_name.status().message.find("A-Za-z0-9") != std::string::npos);

  auto long_delay = simple(p, RuleAction::Delay);
  long_delay.delay_timeout_ms = 120'000;
  auto ld = t.add(long_delay);
  CHECK_FALSE(ld);
  CHECK(ld.status().message.find("60000") != std::string::npos);

  auto drop_with_listener = simple(p, RuleAction::Drop);
  drop_with_listener.listener = "x";
  CHECK_FALSE(t.add(drop_with_listener));

  std::vector<ForwardTarget> many;
  for (int i = 0; i < 65; ++i) many.push_back({Endpoint::v4(0x7f000002, static_cast<std::uint16_t>(1000 + i)), 1});
  auto too_many = t.add(forward(p, many));
  CHECK_FALSE(too_many);
  CHECK(too_many.status().message.find("at most 64") != std::string::npos);

  CHECK(t.size() == 0);
  auto first = t.add(demux(p, "web"));
  REQUIRE(first);
  auto again = t.add(demux(p, "web"));
  CHECK_FALSE(again);
  CHECK(again.status().code == bc::Errc::kAlreadyExists);
  CHECK(again.status().message.find("already exists as rule 1") != std::string::npos);

  REQUIRE(t.add(demux(p, "web2")));
  REQUIRE(t.add(demux(p, "web3")));
  auto full = t.add(demux(p, "web4"));
  CHECK_FALSE(full);
  CHECK(full.status().code == bc::Errc::kResourceExhausted);
  CHECK(full.status().message.find("full (3 rules)") != std::string::npos);
  CHECK(t.size() == 3);
  // Room again after a removal.
  CHECK(t.remove(*first));
  CHECK(t.add(demux(p, "web4")));

  CHECK_THROWS_AS(ServiceTable(TableConfig{.max_rules = 0}), std::invalid_argument);
  CHECK_THROWS_AS(ServiceTable(TableConfig{.default_delay_timeout_ms = 0}), std::invalid_argument);
}

TEST_CASE("service_table: lookups with 10,000 rules match a linear scan, and are fast") {
  // Rules at many prefix lengths over random IDs; every lookup is checked
  // against a brute-force longest-prefix scan, then timed (printed, not asserted:
  // speed goals live in benchmarks).
  ServiceTable t;
  Rng rng(2026);
  std::vector<Rule> rules;
  const int kLengths[] = {4, 8, 12, 16, 20, 24, 32, 48, 64, 96, 128, 192, 255, 256};
  std::vector<Hash256> bases;
  for (int i = 0; i < 10'000; ++i) {
    Hash256 h;
    rng.fill(h.bytes);
    bases.push_back(h);
    const int len = kLengths[rng.uniform(std::size(kLengths))];
    Rule r = demux(ServicePrefix::make(h, len), "l" + std::to_string(i), static_cast<std::uint32_t>(rng.uniform(3)));
    auto res = t.add(r);
    if (res) rules.push_back(*t.get(*res));
  }
  CHECK(t.size() == rules.size());
  CHECK(rules.size() > 9'900);  // only exact duplicates (short prefixes) are refused

  std::vector<Hash256> queries;
  for (int i = 0; i < 2'000; ++i) {
    Hash256 q = bases[rng.uniform(bases.size())];
    // Keep a random number of leading bits of a rule's base, randomise the rest.
    const int keep = static_cast<int>(rng.uniform(257));
    Hash256 noise;
    rng.fill(noise.bytes);
    for (int b = keep; b < 256; ++b) {
      const auto mask = static_cast<std::uint8_t>(0x80u >> (b % 8));
      q.bytes[b / 8] = static_cast<std::uint8_t>((q.bytes[b / 8] & ~mask) | (noise.bytes[b / 8] & mask));
    }
    queries.push_back(q);
  }
  auto check_against_scan = [&] {
    for (const auto& q : queries) {
      int best_len = -1;
      std::uint32_t best_prio = 0;
      for (const auto& r : rules) {
        if (!r.prefix.contains(q)) continue;
        if (r.prefix.bits > best_len || (r.prefix.bits == best_len && r.priority > best_prio)) {
          best_len = r.prefix.bits;
          best_prio = r.priority;
        }
      }
      auto d = t.lookup(q, rng);
      if (best_len < 0) {
        CHECK(d.rule_id == kDefaultRuleId);
      } else {
        CHECK(d.rule->prefix.bits == best_len);
        CHECK(d.rule->priority == best_prio);
        CHECK(d.rule->prefix.contains(q));
      }
    }
  };
  check_against_scan();

  const int kLookups = 1'000'000;
  std::uint64_t sink = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < kLookups; ++i) sink += t.lookup(queries[static_cast<std::size_t>(i) % queries.size()], rng).rule_id;
  const auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  MESSAGE("service table: " << rules.size() << " rules at " << std::size(kLengths) << " prefix lengths, "
                            << static_cast<long long>(kLookups / secs) << " lookups/s (checksum " << sink << ")");
  CHECK(sink > 0);

  // Remove two thirds of the rules: lookups still agree with the scan.
  std::vector<Rule> kept;
  for (std::size_t i = 0; i < rules.size(); ++i) {
    if (i % 3 == 0)
      kept.push_back(rules[i]);
    else
      REQUIRE(t.remove(rules[i].id));
  }
  rules = kept;
  CHECK(t.size() == rules.size());
  check_against_scan();
}

TEST_CASE("service_table: removing one of two prefixes with the same leading bits keeps the other") {
  ServiceTable t;
  Rng rng(1);
  const auto a = from_hex64("abcd01");
  const auto b = from_hex64("abcd02");
  auto ra = t.add(demux(ServicePrefix::make(a, 24), "a"));
  auto rb = t.add(demux(ServicePrefix::make(b, 24), "b"));
  REQUIRE((ra && rb));
  CHECK(t.remove(*ra));
  CHECK(t.lookup(a, rng).rule_id == kDefaultRuleId);
  CHECK(t.lookup(b, rng).rule_id == *rb);
  CHECK(t.remove(*rb));
  CHECK(t.lookup(b, rng).rule_id == kDefaultRuleId);
}
