// Late binding: the order in which a flow being opened tries a service's endpoints.
//
// Policy (docs/sal-table.md):
//   1. Endpoints not in a failure backoff window come first, all of them before
//      any backed-off one.
//   2. Among those, nearest cluster first: level 2, then 1, then 0 (global).
//      A candidate with an unknown level but a measured RTT gets the level that
//      RTT would earn in Coral (< 20 ms: 2, < 60 ms: 1, else 0); with neither it
//      counts as level 0.
//   3. Within a level, providers in weighted random order (weighted sampling
//      without replacement, so a provider with weight 3 comes first three times
//      as often as one with weight 1); weight 0 means standby: after every
//      positive-weight provider of its level. A provider's addresses follow one
//      another in the order its record lists them.
//   4. Backed-off endpoints last, least recently failed first, so that when
//      every endpoint has failed we still try the one most likely to be back.
// The list is cut at PickerConfig::max_attempts, so with connect_timeout_ms
// per attempt a flow open gives up after at most max_attempts * connect_timeout_ms.
//
// Failure state: mark_failed(endpoint, now) opens a backoff window of
// backoff_base_ms * 2^(failures-1), capped at backoff_max_ms; mark_succeeded
// clears it. An entry is forgotten forget_after_ms after its last failure, and
// at most max_failure_entries are kept (the oldest failure is dropped first).
//
// Pure logic: time is passed in, randomness comes from the caller's bc::Rng.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "layers/bytes.hpp"
#include "layers/runtime.hpp"
#include "sal/table/service_table.hpp"

namespace bc::sal {

inline constexpr int kClusterUnknown = -1;

// One provider of a service as the resolver (or a FORWARD rule) knows it.
struct Candidate {
  Hash256 provider;                 // provider node id (zero for a FORWARD rule's plain address)
  std::vector<Endpoint> addresses;  // in the provider's order of preference
  std::uint32_t weight = 1;         // relative share; 0 = standby
  int cluster_level = kClusterUnknown;  // 2 nearest, 1, 0 global, or kClusterUnknown
  std::optional<TimeMs> rtt_ms;         // measured RTT to the provider, if any
};

// One connection attempt, in the order to try them.
struct Attempt {
  Hash256 provider;
  Endpoint endpoint;
  int level = 0;           // effective cluster level used for ordering
  bool backed_off = false; // in a failure backoff window (tried only after every healthy endpoint)
};

struct PickerConfig {
  // How long the driver waits for one connection attempt before trying the next.
  TimeMs connect_timeout_ms = 1'000;         // 50..30,000
  std::size_t max_attempts = 8;              // per flow open, 1..64
  TimeMs backoff_base_ms = 1'000;            // first failure's window, 1..backoff_max_ms
  TimeMs backoff_max_ms = 60'000;            // cap of the window, ..3,600,000
  TimeMs forget_after_ms = 600'000;          // failure count reset this long after the last failure, >= backoff_max_ms
  std::size_t max_failure_entries = 4'096;   // 1..1,000,000
  TimeMs level2_rtt_ms = 20;                 // Coral's cluster thresholds, to place candidates
  TimeMs level1_rtt_ms = 60;                 //   that have an RTT but no level

  // Success if valid, else kInvalidArgument naming what is out of range and
  // the allowed range.
  Status validate() const;
};

class EndpointPicker {
 public:
  // Throws std::invalid_argument with validate()'s message if cfg is invalid.
  explicit EndpointPicker(PickerConfig cfg = {});

  const PickerConfig& config() const { return cfg_; }
  TimeMs connect_timeout_ms() const { return cfg_.connect_timeout_ms; }

  // The order to try endpoints for one flow open (at most max_attempts, each
  // endpoint once; candidates with no address are skipped).
  std::vector<Attempt> order(std::span<const Candidate> candidates, TimeMs now, Rng& rng);

  // A connection attempt to `endpoint` failed or timed out at `now`.
  void mark_failed(const Endpoint& endpoint, TimeMs now);
  // A connection to `endpoint` succeeded: forget its failures.
  void mark_succeeded(const Endpoint& endpoint);
  // Drops failure entries whose last failure is forget_after_ms old. Such
  // entries are already ignored by order() and backed_off(); mark_failed()
  // drops them when the table is full. A driver may call this on its tick.
  void expire(TimeMs now);

  bool backed_off(const Endpoint& endpoint, TimeMs now) const;
  // When the endpoint's backoff window ends, if it has failure state.
  std::optional<TimeMs> retry_at(const Endpoint& endpoint) const;
  std::size_t failure_entries() const { return failures_.size(); }  // including stale ones not yet expired

 private:
  struct Failure {
    std::uint32_t count = 0;
    TimeMs last_failure = 0;
    TimeMs retry_at = 0;
  };
  int effective_level(const Candidate& c) const;

  PickerConfig cfg_;
  std::unordered_map<Endpoint, Failure, EndpointHasher> failures_;
};

// A FORWARD rule's targets as picker candidates (provider id zero, level unknown),
// so a driver can forward with the same failure avoidance as a resolved service.
std::vector<Candidate> forward_candidates(const Rule& rule);

}  // namespace bc::sal
