// The Serval-style service table: what to do with a flow opened to a service ID.
//
// A rule matches every service ID that starts with its prefix (0..256 bits).
// Lookup takes the longest matching prefix; among the rules of that prefix the
// highest priority wins; rules of equal prefix and priority share flows by
// their weight (Serval's weighted anycast). Actions:
//   FORWARD  send the flow to one of the rule's targets, picked by target weight;
//   DEMUX    deliver it to a named local listener (the service runs here);
//   DELAY    hold the flow while its endpoints are resolved through the DSHT,
//            failing it after the rule's timeout;
//   DROP     refuse it.
// With no matching rule the built-in default applies: prefix /0, DELAY with
// TableConfig::default_delay_timeout_ms ("resolve through the DSHT"). Any rule
// added at /0 overrides it. See docs/sal-table.md.
//
// Pure logic: no I/O, no clock; randomness comes from the caller's bc::Rng, so
// a seed reproduces every choice. Not thread-safe (one driver thread owns it).
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "layers/bytes.hpp"
#include "layers/runtime.hpp"
#include "layers/status.hpp"

namespace bc::sal {

// The leading `bits` bits of `id`; bits past the prefix are always zero
// (ServicePrefix::make and the table enforce it), so equal prefixes compare equal.
struct ServicePrefix {
  Hash256 id;
  int bits = 256;  // 0..256

  // Masks id to its first bits (bits clamped to 0..256).
  static ServicePrefix make(const Hash256& id, int bits);
  bool contains(const Hash256& service) const;
  friend bool operator==(const ServicePrefix&, const ServicePrefix&) = default;
};

// Copy of `id` with every bit after the first `bits` cleared.
Hash256 mask_prefix(const Hash256& id, int bits);

enum class RuleAction : std::uint8_t { Forward, Demux, Delay, Drop };
const char* action_name(RuleAction a);  // "forward", "demux", "delay", "drop"

struct ForwardTarget {
  Endpoint endpoint;
  std::uint32_t weight = 1;  // share of this rule's flows, 1..kMaxWeight
  friend bool operator==(const ForwardTarget&, const ForwardTarget&) = default;
};

// Limits every rule must respect (checked by validate_rule, the table and the parser).
inline constexpr std::uint32_t kMaxWeight = 1'000'000;
inline constexpr std::size_t kMaxForwardTargets = 64;
inline constexpr std::size_t kMaxListenerName = 64;  // [A-Za-z0-9._-]
inline constexpr TimeMs kMinDelayTimeoutMs = 1;
inline constexpr TimeMs kMaxDelayTimeoutMs = 60'000;
inline constexpr TimeMs kDefaultDelayTimeoutMs = 2'000;

using RuleId = std::uint64_t;
inline constexpr RuleId kDefaultRuleId = 0;  // the built-in default; added rules get 1, 2, ...

struct Rule {
  RuleId id = 0;  // assigned by ServiceTable::add; ignored on input
  ServicePrefix prefix;
  RuleAction action = RuleAction::Delay;
  std::uint32_t priority = 0;  // higher wins among rules of the same prefix
  std::uint32_t weight = 1;    // share among rules of equal prefix and priority, 1..kMaxWeight
  std::vector<ForwardTarget> targets;               // FORWARD only: 1..kMaxForwardTargets, distinct
  std::string listener;                             // DEMUX only
  TimeMs delay_timeout_ms = kDefaultDelayTimeoutMs;  // DELAY only

  // Same rule content, ignoring id (used to refuse duplicates).
  bool same_content(const Rule& o) const;
  friend bool operator==(const Rule&, const Rule&) = default;
};

// Success if the rule is valid, else kInvalidArgument saying what is wrong and
// what is allowed.
Status validate_rule(const Rule& r);

// The outcome of a lookup. `rule` stays valid after the table changes.
struct Decision {
  RuleAction action = RuleAction::Delay;
  RuleId rule_id = kDefaultRuleId;
  std::shared_ptr<const Rule> rule;
  std::optional<Endpoint> target;  // FORWARD: the target picked by weight

  const std::string& listener() const { return rule->listener; }           // DEMUX
  TimeMs delay_timeout_ms() const { return rule->delay_timeout_ms; }       // DELAY
};

struct TableConfig {
  std::size_t max_rules = 10'000;  // added rules; the built-in default does not count
  TimeMs default_delay_timeout_ms = kDefaultDelayTimeoutMs;
};

class ServiceTable {
 public:
  // Throws std::invalid_argument if the config is out of range (max_rules 1..1,000,000,
  // default_delay_timeout_ms within the DELAY limits).
  explicit ServiceTable(TableConfig cfg = {});

  // Adds a copy of r (its prefix masked, its id replaced, delay_timeout_ms
  // reset to the default unless it is a DELAY rule). Gives the new rule's id.
  // Refused: an invalid rule (kInvalidArgument), a rule equal to an existing
  // one (kAlreadyExists), or a full table (kResourceExhausted).
  Result<RuleId> add(Rule r);
  // False if no rule has this id (the built-in default cannot be removed).
  bool remove(RuleId id);
  void clear();

  // Added rules in id order (the built-in default is not listed; see default_rule()).
  std::vector<Rule> list() const;
  std::optional<Rule> get(RuleId id) const;
  const Rule& default_rule() const { return *default_; }
  std::size_t size() const { return by_id_.size(); }
  std::size_t max_rules() const { return cfg_.max_rules; }

  // The decision for a flow opened to `service`. Draws from rng only when a
  // choice exists (several winning rules, several FORWARD targets).
  Decision lookup(const Hash256& service, Rng& rng) const;
  // The rule lookup would apply, without choosing among equal-priority rules:
  // all of the winning rules (one or more), highest priority, in id order.
  std::vector<std::shared_ptr<const Rule>> matching(const Hash256& service) const;

 private:
  struct KeyHasher {
    std::size_t operator()(const Hash256& h) const noexcept;
  };
  // All rules of one prefix, sorted by (priority desc, id asc); the first
  // `winners` share the top priority, with total weight `winner_weight`.
  struct Group {
    std::vector<std::shared_ptr<const Rule>> rules;
    std::size_t winners = 0;
    std::uint64_t winner_weight = 0;
    void refresh();
  };

  const Group* find_group(const Hash256& service) const;
  void rebuild_lengths();
  void rebuild_filter(int len);

  TableConfig cfg_;
  std::shared_ptr<const Rule> default_;
  RuleId next_id_ = 1;
  std::unordered_map<RuleId, std::shared_ptr<const Rule>> by_id_;
  // One map per prefix length, keyed by the masked prefix.
  std::array<std::unordered_map<Hash256, Group, KeyHasher>, 257> by_len_;
  std::vector<int> lengths_desc_;  // prefix lengths with at least one rule, longest first
  // Per length, one bit per value of the first 16 prefix bits that some rule
  // has: a lookup skips a length without hashing when its bit is clear.
  std::array<std::vector<std::uint64_t>, 257> filter_;
};

// The FORWARD target a rule sends a flow to, picked by target weight.
const ForwardTarget& pick_target(const Rule& r, Rng& rng);

}  // namespace bc::sal
