// The Coral-style sloppy DHT node: a sans-I/O protocol core (layers/core.hpp).
//
// Kademlia XOR routing over 256-bit IDs, plus Coral's RTT clusters (level 2 <
// 20 ms, level 1 < 60 ms, level 0 global): puts go to every level, gets start
// in the nearest cluster and widen only when needed; a put stops early at a
// node that is both full and loaded for the key, which bounds load on hot
// keys. See docs/routing.md for the messages and the algorithms.
//
// Every API call takes the current time and an Outbox, like on_datagram().
//
// Completion callbacks (PutCallback, GetCallback, WatchCallback): the node
// never runs one while it is changing its own state. Whatever input finishes
// an operation (on_datagram, on_tick, or the API call itself when the answer
// is known at once: a local get, a record refused before sending) queues the
// completion; the queue is run at the end of that same input call, after the
// node's state is consistent and before the call returns, so before the
// driver drains the Outbox. A callback may call the node's API again with
// the same `now` and Outbox (its messages join that Outbox; its own
// completions run in the same queue, after the ones already queued). The
// RecordValidator is different: it runs inside the node and must not call
// it. Calling into the node from inside itself (a validator, or any
// re-entry while an input is being processed) fails a BC_ASSERT.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "layers/crypto.hpp"
#include "layers/ids.hpp"
#include "layers/metrics.hpp"
#include "layers/core.hpp"
#include "layers/status.hpp"
#include "routing/errors.hpp"
#include "routing/record.hpp"

namespace bc::routing {

enum class Mode { kCoral, kKademlia };  // kKademlia: one global level, no sloppy stop

struct DhtConfig {
  Mode mode = Mode::kCoral;
  int bucket_size = 8;          // k
  int alpha = 4;                // lookup requests in flight
  int search_width = 14;        // closest candidates a lookup tracks
  int replicas = 8;             // storage nodes per key and cluster level
  // Read-only (BEP 43): this node's messages ask others never to add it to
  // their tables, so it is never asked to store or route. For short-lived
  // clients (a CLI run): a full node that leaves at once would leave a dead
  // contact, and maybe the only copies of records put on it, behind.
  bool read_only = false;
  TimeMs request_timeout_ms = 1000;
  int max_retries = 1;          // per request, before a contact counts as failed
  int fails_before_evict = 3;   // consecutive failures before a contact leaves its bucket
  TimeMs bucket_refresh_ms = 10 * 60 * 1000;
  TimeMs ping_interval_ms = 60 * 1000;     // liveness check of quiet contacts
  // Coral clusters: RTT thresholds for levels 2 and 1 (level 0 is global).
  TimeMs level2_rtt_ms = 20;
  TimeMs level1_rtt_ms = 60;
  // Sloppy storage (Coral): full = l values for the key with TTL >= half the
  // new one; loaded = more than beta requests for the key in the last minute.
  int sloppy_l = 4;
  int sloppy_beta_per_min = 12;
  // Storage bounds; eviction by shortest remaining TTL.
  std::size_t max_store_bytes = 64u << 20;
  std::size_t max_values_per_key = 64;
  TimeMs max_ttl_ms = 24 * 3600 * 1000;
  TimeMs default_ttl_ms = 10 * 60 * 1000;
  // Per-source-IP rate limit (token bucket).
  double rate_limit_per_s = 2000;
  double rate_limit_burst = 4000;
  TimeMs token_rotation_ms = 5 * 60 * 1000;
  TimeMs watch_ttl_ms = 2 * 60 * 1000;     // subscriptions are refreshed before this
  std::size_t max_datagram_bytes = 8192;
  // Records whose signature was already verified (the same record arrives
  // from several replicas of a get): checked once.
  std::size_t verified_cache_entries = 4096;
  // A driver running many nodes in one process (the simulator) may hand them
  // one shared cache of verified signatures instead: every node still checks
  // every signature it relies on, a check another node made is just not
  // repeated. Must outlive the nodes. nullptr: each node has its own.
  SignatureCache* shared_signature_cache = nullptr;
  // Identity proof: a node signs "id at address until T" once and shows it to
  // every challenger; re-signed when half its lifetime is gone. A certificate
  // expiring more than two lifetimes ahead is refused.
  TimeMs addr_cert_lifetime_ms = 30 * 60 * 1000;
};

struct Contact {
  NodeId id;
  Endpoint endpoint;
  TimeMs rtt_ms = -1;      // smoothed; -1 if never measured
  TimeMs last_seen = 0;
  int level = 0;           // innermost cluster level shared with us (0, 1 or 2)
};

// `status` says whether the put succeeded and, if not, why (code
// routing::Errc::kRecordInvalid, kPayloadTooLarge or kNotStored; the message
// is for people).
struct PutResult {
  Status status;
  int stored = 0;          // nodes that acknowledged the store, over all levels
  int nodes = 0;           // distinct nodes among them
  int hops = 0;            // lookup rounds of the widest level used
  bool ok() const { return status.ok(); }
};

// A get always completes with an ok status (the lookup ran); `values` may
// still be empty (nobody holds the key).
struct GetResult {
  Status status;
  std::vector<Record> values;  // valid, unexpired, one per owner (highest seq)
  int hops = 0;
  int level = -1;          // cluster level the values were found in; -1 if none
  bool ok() const { return status.ok(); }
};

struct WatchEvent {
  enum class Kind { kAdded, kExpired } kind;
  Record record;
};

struct DhtStatus {
  NodeId id;
  Endpoint endpoint;
  std::size_t contacts[3] = {0, 0, 0};  // routing table size per cluster level
  Hash256 cluster_ids[3];               // level 0 is all zeros (global)
  std::size_t stored_keys = 0;
  std::size_t stored_values = 0;
  std::size_t stored_bytes = 0;
  std::size_t watches = 0;              // subscriptions we hold for others
  std::size_t lookups_in_flight = 0;
  // Load and health counters of this node.
  std::uint64_t stores_received = 0;        // STORE requests served (any outcome)
  std::uint64_t find_values_received = 0;   // FIND_VALUE requests served
  std::uint64_t bad_records = 0;            // records from the network failing check_record
  std::size_t pending_requests = 0;         // our requests awaiting an answer
};

// Decides whether a well-signed record's payload is acceptable (e.g. the SAL
// checks that an endpoint record carries a valid delegation chain). Called for
// every record the node stores, returns from a get, receives in a watch
// notification or is asked to put; a refused record is dropped and counted as
// "rejected". Must be deterministic and must not call back into the node
// (it runs inside an input; a call into the node fails a BC_ASSERT).
// The verdict also says what kind of record it accepted (RecordKind); a
// plain bool is accepted as "kGeneric" / refused.
struct RecordVerdict {
  bool accepted = true;
  RecordKind kind = RecordKind::kGeneric;
  RecordVerdict(bool ok) : accepted(ok) {}  // NOLINT(google-explicit-constructor): bool validators
  RecordVerdict(RecordKind k) : kind(k) {}  // NOLINT(google-explicit-constructor)
  explicit operator bool() const { return accepted; }
};
using RecordValidator = std::function<RecordVerdict(const Record&, TimeMs now)>;

class DhtNode final : public DatagramProtocol {
 public:
  // `metrics` must outlive the node; counters are named bc_dht_*.
  DhtNode(KeyPair identity, Endpoint self, DhtConfig config, std::uint64_t rng_seed,
          metrics::Registry& metrics);
  ~DhtNode() override;

  void on_datagram(const Endpoint& from, ByteView data, TimeMs now, Outbox& out) override;
  void on_tick(TimeMs now, Outbox& out) override;
  TimeMs next_wakeup() const override;

  // Contacts the seeds and looks up our own ID to fill the routing table.
  void bootstrap(const std::vector<Endpoint>& seeds, TimeMs now, Outbox& out);

  using PutCallback = std::function<void(const PutResult&)>;
  using GetCallback = std::function<void(const GetResult&)>;
  using WatchCallback = std::function<void(const WatchEvent&)>;

  // Stores a record signed by someone else (it is checked first).
  void put(const Record& record, TimeMs now, Outbox& out, PutCallback done);
  // Signs payload with this node's key under `key` (seq increases on every
  // call), stores it, and republishes it before it expires until unpublish().
  void publish(const Key& key, Bytes payload, TimeMs ttl_ms, TimeMs now, Outbox& out,
               PutCallback done);
  void unpublish(const Key& key);
  // Finds the key's records. A plain get answers from our own store when we
  // hold the key, else stops at the first cluster level, and the first
  // nodes, that hold values (Coral: the nearest copy). A fresh get is for
  // when a copy may be stale (a record's owner just moved): it skips our own
  // store, walks every level to the key's closest nodes, and returns the
  // newest record of each owner among everything it saw (ours included).
  struct GetOptions {
    bool fresh = false;
  };
  void get(const Key& key, TimeMs now, Outbox& out, GetCallback done);
  void get(const Key& key, TimeMs now, Outbox& out, GetCallback done, GetOptions options);

  // Subscribes at the key's storage nodes; they push added and expired
  // records. Kept alive until unwatch().
  std::uint64_t watch(const Key& key, TimeMs now, Outbox& out, WatchCallback on_event);
  void unwatch(std::uint64_t watch_id);

  // Installs the validator (replacing any earlier one). Records already
  // stored are not re-checked.
  void set_record_validator(RecordValidator validator);

  // Our address changed (the driver already moved the socket): later
  // messages go out from `self`, the next identity proof certifies it, every
  // contact is pinged so it re-verifies us at the new address at once, and
  // our watches are renewed from the new address.
  void set_endpoint(const Endpoint& self, TimeMs now, Outbox& out);

  const NodeId& id() const;
  const Endpoint& endpoint() const;
  DhtStatus status() const;
  std::vector<Contact> contacts() const;  // all levels, level = innermost shared

 private:
  struct Impl;  // routing/detail/dht_impl.hpp
  friend class PutOp;
  friend class GetOp;
  friend class Watches;
  std::unique_ptr<Impl> impl_;
};

}  // namespace bc::routing
