#include "sal/table/service_table.hpp"

#include "layers/assert.hpp"

#include <algorithm>
#include <cstring>
#include <set>
#include <stdexcept>

namespace bc::sal {

Hash256 mask_prefix(const Hash256& id, int bits) {
  bits = std::clamp(bits, 0, 256);
  Hash256 out = id;
  const int full = bits / 8;
  const int rest = bits % 8;
  if (full < 32) {
    out.bytes[full] &= static_cast<std::uint8_t>(0xff00u >> rest);
    std::fill(out.bytes.begin() + full + 1, out.bytes.end(), std::uint8_t{0});
  }
  return out;
}

ServicePrefix ServicePrefix::make(const Hash256& id, int bits) {
  bits = std::clamp(bits, 0, 256);
  return {mask_prefix(id, bits), bits};
}

bool ServicePrefix::contains(const Hash256& service) const { return mask_prefix(service, bits) == id; }

const char* action_name(RuleAction a) {
  switch (a) {
    case RuleAction::Forward: return "forward";
    case RuleAction::Demux: return "demux";
    case RuleAction::Delay: return "delay";
    case RuleAction::Drop: return "drop";
  }
  return "?";
}

bool Rule::same_content(const Rule& o) const {
  Rule a = *this;
  a.id = o.id;
  return a == o;
}

namespace {

bool valid_listener_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
         c == '-';
}

}  // namespace

Status validate_rule(const Rule& r) {
  const auto bad = [](std::string why) { return fail(bc::Errc::kInvalidArgument, std::move(why)); };
  if (r.prefix.bits < 0 || r.prefix.bits > 256)
    return bad("prefix length " + std::to_string(r.prefix.bits) + " is out of range: use 0..256 bits");
  if (mask_prefix(r.prefix.id, r.prefix.bits) != r.prefix.id)
    return bad("prefix has bits set past its length " + std::to_string(r.prefix.bits) + ": build it with ServicePrefix::make");
  if (r.weight < 1 || r.weight > kMaxWeight)
    return bad("rule weight " + std::to_string(r.weight) + " is out of range: use 1.." + std::to_string(kMaxWeight));
  const bool fwd = r.action == RuleAction::Forward;
  const bool dmx = r.action == RuleAction::Demux;
  if (!fwd && !r.targets.empty())
    return bad(std::string("a ") + action_name(r.action) + " rule has forward targets: only forward rules take targets");
  if (!dmx && !r.listener.empty())
    return bad(std::string("a ") + action_name(r.action) + " rule names a listener: only demux rules take one");
  switch (r.action) {
    case RuleAction::Forward: {
      if (r.targets.empty()) return bad("a forward rule needs at least one target endpoint");
      if (r.targets.size() > kMaxForwardTargets)
        return bad("a forward rule has " + std::to_string(r.targets.size()) + " targets: at most " +
               std::to_string(kMaxForwardTargets) + " allowed");
      std::set<Endpoint> seen;
      for (const auto& t : r.targets) {
        if (t.endpoint.port == 0) return bad("forward target " + t.endpoint.to_string() + " has port 0: give a real port");
        if (t.weight < 1 || t.weight > kMaxWeight)
          return bad("forward target " + t.endpoint.to_string() + " has weight " + std::to_string(t.weight) +
                 ": use 1.." + std::to_string(kMaxWeight));
        if (!seen.insert(t.endpoint).second)
          return bad("forward target " + t.endpoint.to_string() + " is listed twice: list it once with a weight");
      }
      break;
    }
    case RuleAction::Demux: {
      if (r.listener.empty() || r.listener.size() > kMaxListenerName)
        return bad("demux listener name must be 1.." + std::to_string(kMaxListenerName) + " characters");
      for (char c : r.listener)
        if (!valid_listener_char(c))
          return bad("demux listener name \"" + r.listener + "\" has a character outside [A-Za-z0-9._-]");
      break;
    }
    case RuleAction::Delay:
      if (r.delay_timeout_ms < kMinDelayTimeoutMs || r.delay_timeout_ms > kMaxDelayTimeoutMs)
        return bad("delay timeout " + std::to_string(r.delay_timeout_ms) + " ms is out of range: use " +
               std::to_string(kMinDelayTimeoutMs) + ".." + std::to_string(kMaxDelayTimeoutMs) + " ms");
      break;
    case RuleAction::Drop:
      break;
    default:
      return bad("unknown rule action " + std::to_string(static_cast<int>(r.action)));
  }
  return Status::success();
}

const ForwardTarget& pick_target(const Rule& r, Rng& rng) {
  BC_ASSERT(!r.targets.empty());  // a FORWARD rule that validate_rule accepted
  if (r.targets.size() == 1) return r.targets.front();
  std::uint64_t total = 0;
  for (const auto& t : r.targets) total += t.weight;
  BC_ASSERT(total > 0);
  std::uint64_t x = rng.uniform(total);
  for (const auto& t : r.targets) {
    if (x < t.weight) return t;
    x -= t.weight;
  }
  BC_UNREACHABLE("x < total, so some target's weight covers it");
}

// ---- ServiceTable -----------------------------------------------------------

std::size_t ServiceTable::KeyHasher::operator()(const Hash256& h) const noexcept {
  // Masked keys of long prefixes share their first bytes, so mix all four words.
  std::uint64_t w[4];
  std::memcpy(w, h.bytes.data(), 32);
  std::uint64_t x = w[0] ^ (w[1] * 0x9e3779b97f4a7c15ULL) ^ (w[2] * 0xc2b2ae3d27d4eb4fULL) ^
                    (w[3] * 0x165667b19e3779f9ULL);
  x ^= x >> 31;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 29;
  return static_cast<std::size_t>(x);
}

namespace {

// The first 16 bits of id masked to `len` bits.
std::uint32_t top16(const Hash256& id, int len) {
  const std::uint32_t v = (std::uint32_t{id.bytes[0]} << 8) | id.bytes[1];
  if (len >= 16) return v;
  return v & (0xffffu << (16 - len)) & 0xffffu;
}

bool filter_has(const std::vector<std::uint64_t>& f, std::uint32_t k) { return (f[k >> 6] >> (k & 63)) & 1u; }
void filter_set(std::vector<std::uint64_t>& f, std::uint32_t k) { f[k >> 6] |= std::uint64_t{1} << (k & 63); }

}  // namespace

void ServiceTable::Group::refresh() {
  std::sort(rules.begin(), rules.end(), [](const auto& a, const auto& b) {
    if (a->priority != b->priority) return a->priority > b->priority;
    return a->id < b->id;
  });
  winners = 0;
  winner_weight = 0;
  for (const auto& r : rules) {
    if (r->priority != rules.front()->priority) break;
    ++winners;
    winner_weight += r->weight;
  }
}

ServiceTable::ServiceTable(TableConfig cfg) : cfg_(cfg) {
  if (cfg_.max_rules < 1 || cfg_.max_rules > 1'000'000)
    throw std::invalid_argument("service table max_rules " + std::to_string(cfg_.max_rules) +
                                " is out of range: use 1..1000000");
  Rule d;
  d.id = kDefaultRuleId;
  d.prefix = ServicePrefix::make(Hash256{}, 0);
  d.action = RuleAction::Delay;
  d.delay_timeout_ms = cfg_.default_delay_timeout_ms;
  if (Status s = validate_rule(d); !s.ok()) throw std::invalid_argument("service table default rule: " + s.message);
  default_ = std::make_shared<const Rule>(std::move(d));
}

Result<RuleId> ServiceTable::add(Rule r) {
  if (r.prefix.bits < 0 || r.prefix.bits > 256)
    return fail(bc::Errc::kInvalidArgument,
                "prefix length " + std::to_string(r.prefix.bits) + " is out of range: use 0..256 bits");
  r.prefix = ServicePrefix::make(r.prefix.id, r.prefix.bits);
  // Only DELAY uses a timeout: reset it elsewhere so equal rules compare and print equal.
  if (r.action != RuleAction::Delay) r.delay_timeout_ms = kDefaultDelayTimeoutMs;
  if (Status s = validate_rule(r); !s.ok()) return s;
  auto& map = by_len_[static_cast<std::size_t>(r.prefix.bits)];
  auto it = map.find(r.prefix.id);
  if (it != map.end()) {
    for (const auto& existing : it->second.rules)
      if (existing->same_content(r))
        return fail(bc::Errc::kAlreadyExists, "the same rule already exists as rule " + std::to_string(existing->id) +
                                                  ": remove it first or change the rule");
  }
  if (by_id_.size() >= cfg_.max_rules)
    return fail(bc::Errc::kResourceExhausted,
                "service table is full (" + std::to_string(cfg_.max_rules) + " rules): remove rules or raise max_rules");
  r.id = next_id_++;
  auto stored = std::make_shared<const Rule>(std::move(r));
  by_id_.emplace(stored->id, stored);
  const bool new_length = map.empty();
  auto& group = map[stored->prefix.id];
  group.rules.push_back(stored);
  group.refresh();
  auto& filter = filter_[static_cast<std::size_t>(stored->prefix.bits)];
  if (filter.empty()) filter.assign(65536 / 64, 0);
  filter_set(filter, top16(stored->prefix.id, stored->prefix.bits));
  if (new_length) rebuild_lengths();
  return stored->id;
}

bool ServiceTable::remove(RuleId id) {
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return false;
  const auto rule = it->second;
  by_id_.erase(it);
  auto& map = by_len_[static_cast<std::size_t>(rule->prefix.bits)];
  auto git = map.find(rule->prefix.id);
  if (git != map.end()) {
    auto& rules = git->second.rules;
    std::erase_if(rules, [&](const auto& r) { return r->id == id; });
    if (rules.empty()) {
      map.erase(git);
      rebuild_filter(rule->prefix.bits);
    } else {
      git->second.refresh();
    }
  }
  if (map.empty()) rebuild_lengths();
  return true;
}

void ServiceTable::clear() {
  by_id_.clear();
  for (auto& m : by_len_) m.clear();
  for (auto& f : filter_) f.clear();
  lengths_desc_.clear();
}

void ServiceTable::rebuild_filter(int len) {
  const auto& map = by_len_[static_cast<std::size_t>(len)];
  auto& filter = filter_[static_cast<std::size_t>(len)];
  if (map.empty()) {
    filter.clear();
    filter.shrink_to_fit();
    return;
  }
  filter.assign(65536 / 64, 0);
  for (const auto& [prefix, group] : map) filter_set(filter, top16(prefix, len));
}

void ServiceTable::rebuild_lengths() {
  lengths_desc_.clear();
  for (int len = 256; len >= 0; --len)
    if (!by_len_[static_cast<std::size_t>(len)].empty()) lengths_desc_.push_back(len);
}

std::vector<Rule> ServiceTable::list() const {
  std::vector<Rule> out;
  out.reserve(by_id_.size());
  for (const auto& [id, r] : by_id_) out.push_back(*r);
  std::sort(out.begin(), out.end(), [](const Rule& a, const Rule& b) { return a.id < b.id; });
  return out;
}

std::optional<Rule> ServiceTable::get(RuleId id) const {
  if (id == kDefaultRuleId) return *default_;
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return std::nullopt;
  return *it->second;
}

const ServiceTable::Group* ServiceTable::find_group(const Hash256& service) const {
  for (int len : lengths_desc_) {
    if (!filter_has(filter_[static_cast<std::size_t>(len)], top16(service, len))) continue;
    const auto& map = by_len_[static_cast<std::size_t>(len)];
    auto it = map.find(mask_prefix(service, len));
    if (it != map.end()) return &it->second;
  }
  return nullptr;
}

std::vector<std::shared_ptr<const Rule>> ServiceTable::matching(const Hash256& service) const {
  const Group* g = find_group(service);
  if (!g) return {default_};
  std::vector<std::shared_ptr<const Rule>> out(g->rules.begin(), g->rules.begin() + static_cast<long>(g->winners));
  return out;
}

Decision ServiceTable::lookup(const Hash256& service, Rng& rng) const {
  Decision d;
  const Group* g = find_group(service);
  if (!g) {
    d.rule = default_;
  } else if (g->winners == 1) {
    d.rule = g->rules.front();
  } else {
    // Weighted anycast among the rules sharing the top priority.
    std::uint64_t x = rng.uniform(g->winner_weight);
    d.rule = g->rules[g->winners - 1];
    for (std::size_t i = 0; i < g->winners; ++i) {
      const auto& r = g->rules[i];
      if (x < r->weight) {
        d.rule = r;
        break;
      }
      x -= r->weight;
    }
  }
  d.action = d.rule->action;
  d.rule_id = d.rule->id;
  if (d.action == RuleAction::Forward) d.target = pick_target(*d.rule, rng).endpoint;
  return d;
}

}  // namespace bc::sal
