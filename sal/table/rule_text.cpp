#include "sal/table/rule_text.hpp"

#include <cctype>
#include <vector>

#include "layers/ids.hpp"

namespace bc::sal {

const char* const kRuleSyntax =
    "<service>[/<bits>] forward <ip:port>[*<weight>][,...] | demux <listener> | delay [<n>ms|<n>s] | drop "
    "[prio <n>] [weight <n>]; <service> is a service id (s...), <id>.bc, 1..64 hex digits, or *";

namespace {

constexpr const char* kPrefixForm =
    "<service>[/<bits>] with <service> a service id (s + 58 base32 characters), <id>.bc, 1..64 hex digits, or *";
constexpr const char* kForwardForm = "forward <ip:port>[*<weight>][,<ip:port>[*<weight>]...], e.g. forward 127.0.0.2:4000*3,[::1]:4000";
constexpr const char* kDemuxForm = "demux <listener>, e.g. demux web";
constexpr const char* kDelayForm = "delay [<n>ms|<n>s], e.g. delay 2000ms";

std::string quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

std::string expected(std::string what, std::string_view form) { return what + " (expected: " + std::string(form) + ")"; }

Status bad(std::string what) { return fail(bc::Errc::kInvalidArgument, std::move(what)); }

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Decimal digits only, no sign, value <= max.
std::optional<std::uint64_t> parse_uint(std::string_view s, std::uint64_t max) {
  if (s.empty() || s.size() > 20) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    const std::uint64_t d = static_cast<std::uint64_t>(c - '0');
    if (v > (max - d) / 10) return std::nullopt;
    v = v * 10 + d;
  }
  return v;
}

bool is_hex(std::string_view s) {
  for (char c : s)
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

std::vector<std::string_view> split_blanks(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    std::size_t j = i;
    while (j < s.size() && !std::isspace(static_cast<unsigned char>(s[j]))) ++j;
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

bool is_option_keyword(std::string_view tok) {
  const auto t = lower(tok);
  return t == "prio" || t == "priority" || t == "weight";
}

Status parse_targets(std::string_view list, std::vector<ForwardTarget>& out) {
  if (list.empty()) {
    return bad(expected("forward needs at least one target", kForwardForm));
  }
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = list.find(',', start);
    const std::string_view piece = list.substr(start, comma == std::string_view::npos ? list.npos : comma - start);
    if (piece.empty()) {
      return bad(expected("empty forward target in " + quoted(list) + " (two commas or a trailing comma)", kForwardForm));
    }
    if (out.size() >= kMaxForwardTargets) {
      return bad("too many forward targets: at most " + std::to_string(kMaxForwardTargets));
    }
    ForwardTarget t;
    std::string_view addr = piece;
    if (const auto star = piece.rfind('*'); star != std::string_view::npos) {
      addr = piece.substr(0, star);
      const auto w = parse_uint(piece.substr(star + 1), kMaxWeight);
      if (!w || *w == 0) {
        return bad(expected("forward target " + quoted(piece) + " has a bad weight: use *1..*" + std::to_string(kMaxWeight),
                         kForwardForm));
      }
      t.weight = static_cast<std::uint32_t>(*w);
    }
    const auto ep = Endpoint::parse(addr);
    if (!ep) {
      return bad(expected("forward target " + quoted(addr) + " is not an address with a port (IPv6 goes in brackets)",
                       kForwardForm));
    }
    t.endpoint = *ep;
    out.push_back(t);
    if (comma == std::string_view::npos) return Status::success();
    start = comma + 1;
  }
}

// "2000ms", "2s" or "2000" (milliseconds).
std::optional<TimeMs> parse_duration(std::string_view s) {
  std::uint64_t scale = 1;
  const auto l = lower(s);
  std::string_view num = s;
  if (l.size() > 2 && l.ends_with("ms")) {
    num = s.substr(0, s.size() - 2);
  } else if (l.size() > 1 && l.ends_with("s")) {
    num = s.substr(0, s.size() - 1);
    scale = 1000;
  }
  const auto v = parse_uint(num, 1'000'000'000);
  if (!v) return std::nullopt;
  return static_cast<TimeMs>(*v * scale);
}

}  // namespace

Result<ServicePrefix> parse_prefix(std::string_view text) {
  auto fail = [&](std::string what) { return bad(expected(std::move(what), kPrefixForm)); };
  std::string_view svc = text;
  std::optional<int> bits;
  if (const auto slash = text.find('/'); slash != std::string_view::npos) {
    svc = text.substr(0, slash);
    const auto b = parse_uint(text.substr(slash + 1), 256);
    if (!b) return fail("prefix length " + quoted(text.substr(slash + 1)) + " is not a number of bits 0..256");
    bits = static_cast<int>(*b);
  }
  if (svc.empty()) return fail("no service given in " + quoted(text));

  if (svc == "*") {
    if (bits && *bits != 0) return fail("* means every service (/0); for a longer prefix give hex digits");
    return ServicePrefix::make(Hash256{}, 0);
  }
  if (svc.size() > 3 && lower(svc.substr(svc.size() - 3)) == ".bc") svc = svc.substr(0, svc.size() - 3);
  if (svc.front() == 's' || svc.front() == 'S') {
    const auto id = id_from_text('s', svc);
    if (!id)
      return fail("service id " + quoted(svc) +
                  " is not valid: it must be 's' and 58 base32 characters with a correct checksum (copy it whole)");
    return ServicePrefix::make(*id, bits.value_or(256));
  }
  if (svc.size() > 64 || !is_hex(svc))
    return fail(quoted(svc) + " is neither a service id, <id>.bc, a hex prefix of 1..64 digits nor *");
  const int digit_bits = static_cast<int>(svc.size()) * 4;
  if (bits && *bits > digit_bits)
    return fail("prefix " + quoted(svc) + " gives " + std::to_string(digit_bits) + " bits but /" +
                std::to_string(*bits) + " asks for more: write more hex digits");
  std::string padded(svc);
  padded.resize(64, '0');
  const auto id = Hash256::from_hex(padded);
  if (!id) return fail("hex prefix " + quoted(svc) + " does not decode");
  return ServicePrefix::make(*id, bits.value_or(digit_bits));
}

Result<Rule> parse_rule(std::string_view line) {
  if (const auto hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
  const auto tok = split_blanks(line);
  const auto fail = bad;
  if (tok.empty()) return fail(std::string("empty rule (expected: ") + kRuleSyntax + ")");

  Rule r;
  auto prefix = parse_prefix(tok[0]);
  if (!prefix) return std::move(prefix).take_status();
  r.prefix = *prefix;
  if (tok.size() < 2)
    return fail(std::string("missing action after ") + quoted(tok[0]) + " (expected: " + kRuleSyntax + ")");

  const auto action = lower(tok[1]);
  std::size_t i = 2;
  if (action == "forward") {
    r.action = RuleAction::Forward;
    std::string list;  // targets may be split by blanks after commas
    while (i < tok.size() && !is_option_keyword(tok[i])) list += tok[i++];
    if (Status s = parse_targets(list, r.targets); !s.ok()) return s;
  } else if (action == "demux") {
    r.action = RuleAction::Demux;
    if (i >= tok.size() || is_option_keyword(tok[i])) return fail(expected("demux needs a listener name", kDemuxForm));
    r.listener = std::string(tok[i++]);
  } else if (action == "delay") {
    r.action = RuleAction::Delay;
    if (i < tok.size() && !is_option_keyword(tok[i])) {
      const auto d = parse_duration(tok[i]);
      if (!d) return fail(expected("delay timeout " + quoted(tok[i]) + " is not a duration", kDelayForm));
      r.delay_timeout_ms = *d;
      ++i;
    }
  } else if (action == "drop") {
    r.action = RuleAction::Drop;
  } else {
    return fail("unknown action " + quoted(tok[1]) + ": use forward, demux, delay or drop (expected: " + kRuleSyntax +
                ")");
  }

  bool have_prio = false, have_weight = false;
  while (i < tok.size()) {
    const auto key = lower(tok[i]);
    if (!is_option_keyword(key))
      return fail("unexpected " + quoted(tok[i]) + " after the " + action + " action: only 'prio <n>' and 'weight <n>' may follow");
    const bool is_prio = key != "weight";
    if (i + 1 >= tok.size()) return fail(key + " needs a number, e.g. " + key + (is_prio ? " 10" : " 3"));
    const auto& value = tok[i + 1];
    if (is_prio) {
      if (have_prio) return fail("priority given twice");
      const auto v = parse_uint(value, 0xffffffffu);
      if (!v) return fail("priority " + quoted(value) + " is not a number 0..4294967295");
      r.priority = static_cast<std::uint32_t>(*v);
      have_prio = true;
    } else {
      if (have_weight) return fail("weight given twice");
      const auto v = parse_uint(value, kMaxWeight);
      if (!v || *v == 0) return fail("weight " + quoted(value) + " is not a number 1.." + std::to_string(kMaxWeight));
      r.weight = static_cast<std::uint32_t>(*v);
      have_weight = true;
    }
    i += 2;
  }
  if (Status s = validate_rule(r); !s.ok()) return s;
  return r;
}

std::string format_prefix(const ServicePrefix& p) {
  if (p.bits == 0) return "*";
  if (p.bits == 256) return id_to_text('s', p.id);
  const std::size_t digits = static_cast<std::size_t>((p.bits + 3) / 4);
  return p.id.hex().substr(0, digits) + "/" + std::to_string(p.bits);
}

std::string format_rule(const Rule& r) {
  std::string out = format_prefix(r.prefix);
  out += ' ';
  out += action_name(r.action);
  switch (r.action) {
    case RuleAction::Forward:
      for (std::size_t k = 0; k < r.targets.size(); ++k) {
        out += k == 0 ? ' ' : ',';
        out += r.targets[k].endpoint.to_string();
        if (r.targets[k].weight != 1) out += "*" + std::to_string(r.targets[k].weight);
      }
      break;
    case RuleAction::Demux:
      out += " " + r.listener;
      break;
    case RuleAction::Delay:
      out += " " + std::to_string(r.delay_timeout_ms) + "ms";
      break;
    case RuleAction::Drop:
      break;
  }
  if (r.priority != 0) out += " prio " + std::to_string(r.priority);
  if (r.weight != 1) out += " weight " + std::to_string(r.weight);
  return out;
}

Result<RuleId> add_rule_text(ServiceTable& table, std::string_view line) {
  Result<Rule> parsed = parse_rule(line);
  if (!parsed) return std::move(parsed).take_status();
  return table.add(std::move(parsed).value());
}

}  // namespace bc::sal
