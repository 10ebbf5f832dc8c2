// Rule text: parsing every form, printing back (round trip), and error messages
// that say what was wrong and show the expected form.
#include <doctest/doctest.h>

#include <string>

#include "layers/crypto.hpp"
#include "layers/ids.hpp"
#include "sal/table/rule_text.hpp"

using namespace bc;
using namespace bc::sal;

namespace {

Hash256 sid(const std::string& name) { return sha256(as_bytes("rule-text-test/" + name)); }
Endpoint ep(const char* text) { return *Endpoint::parse(text); }

Rule parsed(const std::string& line) {
  auto r = parse_rule(line);
  INFO("line: " << line << " error: " << r.status().message);
  REQUIRE(r);
  return *r;
}

std::string error_of(const std::string& line) {
  auto r = parse_rule(line);
  INFO("line: " << line);
  REQUIRE_FALSE(r);
  CHECK_FALSE(r.status().message.empty());
  return r.status().message;
}

bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("rule_text: forward with weights, IPv6 and priority") {
  const auto id = sid("web");
  const std::string text = id_to_text('s', id);
  auto r = parsed(text + " forward 127.0.0.2:4000*3,[::1]:4000 prio 10");
  CHECK(r.prefix == ServicePrefix::make(id, 256));
  CHECK(r.action == RuleAction::Forward);
  REQUIRE(r.targets.size() == 2);
  CHECK(r.targets[0] == ForwardTarget{ep("127.0.0.2:4000"), 3});
  CHECK(r.targets[1] == ForwardTarget{ep("[::1]:4000"), 1});
  CHECK(r.priority == 10);
  CHECK(r.weight == 1);
  CHECK(format_rule(r) == text + " forward 127.0.0.2:4000*3,[::1]:4000 prio 10");
}

TEST_CASE("rule_text: <id>.bc, hex prefixes, * and /bits") {
  const auto id = sid("svc");
  const std::string text = id_to_text('s', id);
  CHECK(parsed(text + ".bc drop").prefix == ServicePrefix::make(id, 256));
  CHECK(parsed(text + ".BC drop").prefix == ServicePrefix::make(id, 256));
  CHECK(parsed(text + "/16 drop").prefix == ServicePrefix::make(id, 16));
  CHECK(parsed(text + ".bc/16 drop").prefix == ServicePrefix::make(id, 16));

  auto h = parsed("0a/8 demux web");
  CHECK(h.prefix.bits == 8);
  CHECK(h.prefix.id.bytes[0] == 0x0a);
  CHECK(parsed("0a demux web").prefix == h.prefix);  // 4 bits per digit by default
  CHECK(parsed("abf/10 drop").prefix == ServicePrefix::make(*Hash256::from_hex("abc" + std::string(61, '0')), 10));
  CHECK(parsed(id.hex() + " drop").prefix == ServicePrefix::make(id, 256));

  auto all = parsed("* delay 5s");
  CHECK(all.prefix.bits == 0);
  CHECK(all.delay_timeout_ms == 5000);
  CHECK(parsed("*/0 drop").prefix.bits == 0);
}

TEST_CASE("rule_text: demux, delay, drop, weight, comments and blanks") {
  auto d = parsed("  ffee/16   demux   local-web  weight 3   # the web backend ");
  CHECK(d.action == RuleAction::Demux);
  CHECK(d.listener == "local-web");
  CHECK(d.weight == 3);
  CHECK(d.priority == 0);

  auto delay = parsed("ff/8 delay 2000ms");
  CHECK(delay.action == RuleAction::Delay);
  CHECK(delay.delay_timeout_ms == 2000);
  CHECK(parsed("ff/8 delay 250").delay_timeout_ms == 250);
  CHECK(parsed("ff/8 delay").delay_timeout_ms == kDefaultDelayTimeoutMs);
  CHECK(parsed("ff/8 delay prio 3").priority == 3);

  auto drop = parsed("ff/8 DROP weight 2 priority 7");
  CHECK(drop.action == RuleAction::Drop);
  CHECK(drop.weight == 2);
  CHECK(drop.priority == 7);

  // Blanks after commas in a target list are allowed.
  auto f = parsed("ff/8 forward 127.0.0.2:1, 127.0.0.3:2*4 weight 5");
  REQUIRE(f.targets.size() == 2);
  CHECK(f.targets[1] == ForwardTarget{ep("127.0.0.3:2"), 4});
  CHECK(f.weight == 5);
}

TEST_CASE("rule_text: print then parse gives the same rule") {
  const auto id = sid("round");
  std::vector<Rule> rules;
  for (int bits : {0, 1, 7, 8, 13, 64, 200, 255, 256}) {
    Rule r;
    r.prefix = ServicePrefix::make(id, bits);
    r.action = RuleAction::Demux;
    r.listener = "svc_" + std::to_string(bits);
    r.priority = static_cast<std::uint32_t>(bits) * 1000;
    r.weight = static_cast<std::uint32_t>(bits) + 1;
    rules.push_back(r);
  }
  Rule f;
  f.prefix = ServicePrefix::make(id, 256);
  f.action = RuleAction::Forward;
  f.targets = {{ep("127.0.0.2:4000"), 3}, {ep("[::1]:4000"), 1}, {ep("[2001:db8::7]:65535"), 1'000'000}};
  f.priority = 4'294'967'295u;
  rules.push_back(f);
  Rule d;
  d.prefix = ServicePrefix::make(id, 32);
  d.action = RuleAction::Delay;
  d.delay_timeout_ms = 60'000;
  rules.push_back(d);
  Rule x;
  x.prefix = ServicePrefix::make(id, 12);
  x.action = RuleAction::Drop;
  rules.push_back(x);

  for (const auto& r : rules) {
    const auto text = format_rule(r);
    INFO("text: " << text);
    auto back = parse_rule(text);
    REQUIRE(back);
    CHECK(*back == r);
    CHECK(format_rule(*back) == text);
  }
  CHECK(format_prefix(ServicePrefix::make(id, 0)) == "*");
  CHECK(format_prefix(ServicePrefix::make(id, 256)) == id_to_text('s', id));
  CHECK(format_prefix(ServicePrefix::make(*Hash256::from_hex("abcd" + std::string(60, '0')), 13)) == "abc8/13");
}

TEST_CASE("rule_text: errors say what was wrong and show the expected form") {
  const std::string text = id_to_text('s', sid("err"));

  CHECK(has(error_of(""), "empty rule"));
  CHECK(has(error_of("   # only a comment"), "expected"));

  auto e = error_of(text);
  CHECK(has(e, "missing action"));
  CHECK(has(e, "forward"));

  e = error_of(text + " teleport");
  CHECK(has(e, "unknown action \"teleport\""));
  CHECK(has(e, "forward, demux, delay or drop"));

  // One wrong character: the checksum catches it.
  std::string typo = text;
  typo[10] = typo[10] == 'a' ? 'b' : 'a';
  e = error_of(typo + " drop");
  CHECK(has(e, "is not valid"));
  CHECK(has(e, "checksum"));

  e = error_of("xyz drop");
  CHECK(has(e, "neither a service id"));
  CHECK(has(e, "expected: <service>[/<bits>]"));

  e = error_of(text + "/257 drop");
  CHECK(has(e, "0..256"));
  e = error_of("ab/12 drop");
  CHECK(has(e, "write more hex digits"));
  e = error_of("*/8 drop");
  CHECK(has(e, "every service"));

  e = error_of(text + " forward");
  CHECK(has(e, "at least one target"));
  CHECK(has(e, "expected: forward <ip:port>"));
  e = error_of(text + " forward 127.0.0.2");
  CHECK(has(e, "\"127.0.0.2\" is not an address with a port"));
  e = error_of(text + " forward ::1:4000");
  CHECK(has(e, "brackets"));
  e = error_of(text + " forward 127.0.0.2:1*0");
  CHECK(has(e, "bad weight"));
  e = error_of(text + " forward 127.0.0.2:1,,127.0.0.3:1");
  CHECK(has(e, "empty forward target"));
  e = error_of(text + " forward 127.0.0.2:1,127.0.0.2:1");
  CHECK(has(e, "listed twice"));

  e = error_of(text + " demux");
  CHECK(has(e, "listener name"));
  CHECK(has(e, "expected: demux <listener>"));
  e = error_of(text + " demux we/b");
  CHECK(has(e, "A-Za-z0-9"));

  e = error_of(text + " delay soon");
  CHECK(has(e, "\"soon\" is not a duration"));
  e = error_of(text + " delay 61s");
  CHECK(has(e, "out of range"));

  e = error_of(text + " drop prio");
  CHECK(has(e, "prio needs a number"));
  e = error_of(text + " drop prio -1");
  CHECK(has(e, "0..4294967295"));
  e = error_of(text + " drop prio 4294967296");
  CHECK(has(e, "0..4294967295"));
  e = error_of(text + " drop weight 0");
  CHECK(has(e, "1..1000000"));
  e = error_of(text + " drop prio 1 prio 2");
  CHECK(has(e, "twice"));
  e = error_of(text + " drop now");
  CHECK(has(e, "unexpected \"now\""));
  e = error_of(text + " demux web extra");
  CHECK(has(e, "unexpected \"extra\""));
}

TEST_CASE("rule_text: parse_prefix alone") {
  auto p = parse_prefix("ff00/12");
  REQUIRE(p);
  CHECK(p->bits == 12);
  CHECK_FALSE(parse_prefix("/8"));
  CHECK_FALSE(parse_prefix(std::string(65, 'a')));
  CHECK(has(parse_prefix("").status().message, "no service given"));
}

TEST_CASE("rule_text: config lines into a table, and the table printed back loads the same") {
  const auto web = sid("web");
  const std::string lines[] = {
      id_to_text('s', web) + ".bc forward 127.0.0.2:4000*3,[::1]:4000 prio 10",
      id_to_text('s', web) + " demux web",  // lower priority than the forward rule
      "* delay 5s",
      "ff/8 drop",
  };
  ServiceTable t;
  for (const auto& l : lines) {
    auto res = add_rule_text(t, l);
    INFO(l << ": " << res.status().message);
    CHECK(res);
  }
  Rng rng(1);
  CHECK(t.lookup(web, rng).action == RuleAction::Forward);
  CHECK(t.lookup(*Hash256::from_hex("ff" + std::string(62, '1')), rng).action == RuleAction::Drop);
  auto other = t.lookup(*Hash256::from_hex("01" + std::string(62, '0')), rng);
  CHECK(other.action == RuleAction::Delay);
  CHECK(other.delay_timeout_ms() == 5000);

  auto bad = add_rule_text(t, "ff/8 explode");
  CHECK_FALSE(bad);
  CHECK(has(bad.status().message, "unknown action"));
  auto dup = add_rule_text(t, "ff/8 drop");
  CHECK_FALSE(dup);
  CHECK(has(dup.status().message, "already exists"));

  ServiceTable copy;
  for (const auto& r : t.list()) REQUIRE(add_rule_text(copy, format_rule(r)));
  auto a = t.list(), b = copy.list();
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) CHECK(a[i] == b[i]);  // same content and ids
}

TEST_CASE("rule_text: mutated lines either parse to a rule that round-trips or give an error") {
  // A cheap in-test fuzz: byte flips, insertions and cuts of valid lines.
  const std::string seeds[] = {
      id_to_text('s', sid("fuzz")) + ".bc forward 127.0.0.2:4000*3,[::1]:4000 prio 10 weight 2",
      "0a/8 demux web",
      "* delay 5s",
      "ffee/13 drop prio 4294967295",
  };
  const char alphabet[] = "0123456789abcdefsx*/:,.[]# \tmsprioweight";
  Rng rng(4242);
  int ok = 0, refused = 0;
  for (int i = 0; i < 20'000; ++i) {
    std::string line = seeds[rng.uniform(std::size(seeds))];
    const int edits = 1 + static_cast<int>(rng.uniform(3));
    for (int e = 0; e < edits && !line.empty(); ++e) {
      const auto pos = rng.uniform(line.size());
      const char c = alphabet[rng.uniform(sizeof(alphabet) - 1)];
      switch (rng.uniform(3)) {
        case 0: line[pos] = c; break;
        case 1: line.insert(line.begin() + static_cast<long>(pos), c); break;
        default: line.erase(pos, 1 + rng.uniform(4)); break;
      }
    }
    auto r = parse_rule(line);
    if (r) {
      ++ok;
      CHECK(validate_rule(*r).ok());
      auto back = parse_rule(format_rule(*r));
      REQUIRE(back);
      CHECK(*back == *r);
    } else {
      ++refused;
      CHECK_FALSE(r.status().message.empty());
    }
  }
  MESSAGE("mutated rule lines: " << ok << " parsed and round-tripped, " << refused << " refused with a message");
  CHECK(ok > 0);
  CHECK(refused > 0);
}
