// Publishing endpoint records and owner statements (docs/sal-records.md).
//
// Sans-I/O: wraps the node's routing::DhtNode and, like it, takes `now` and
// an Outbox on every call. The driver calls on_tick() when now >=
// next_wakeup().
//
// Provider side: serve() publishes this node's endpoint record for a service
// (signed by the node key, DhtNode::publish), set_addresses() republishes at
// once with a higher seq, stop() replaces the record by a withdrawal (no
// addresses, short TTL) so resolvers watching the service drop us within
// seconds. The record's expiry never passes the delegation's: the publisher
// republishes every ttl/3 with the TTL clamped to the delegation's remaining
// life (DhtNode's own republish at ttl/2 is the fallback), and stops when
// less than min_ttl_ms of the delegation is left.
//
// Owner side: publish_statement() signs an owner statement record with the
// owner key and keeps it alive (re-signed every ttl/2, higher record seq)
// until withdraw_statement().
#pragma once
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "layers/crypto.hpp"
#include "layers/metrics.hpp"
#include "layers/core.hpp"
#include "routing/dht.hpp"
#include "sal/records/delegation.hpp"
#include "sal/records/endpoint_record.hpp"
#include "sal/records/service_id.hpp"

namespace bc::sal {

struct PublisherConfig {
  TimeMs default_ttl_ms = 5 * 60 * 1000;  // endpoint record TTL when serve() gets ttl <= 0
  TimeMs withdrawal_ttl_ms = 60 * 1000;   // lifetime of the withdrawal record stop() publishes
  TimeMs min_ttl_ms = 5 * 1000;           // stop publishing when the delegation has less left
  TimeMs statement_ttl_ms = 6 * 3600 * 1000;
  TimeMs statement_reput_ms = 10 * 60 * 1000;  // a kept signed statement is stored again this often
};

class Publisher {
 public:
  using Done = routing::DhtNode::PutCallback;

  // node_key must be the node's public key (its ID is node_id_of(node_key));
  // throws std::invalid_argument otherwise. `node` and `metrics` must outlive
  // the publisher.
  Publisher(routing::DhtNode& node, const XOnlyPubKey& node_key, metrics::Registry& metrics,
            PublisherConfig config = {});

  // Starts (or replaces) serving d.service() at `addresses`. `done` gets an
  // error at once if the delegation is not for this node or not valid now,
  // or the record cannot be built (too many addresses, port 0, too big).
  void serve(const Delegation& d, std::vector<Endpoint> addresses, std::uint16_t weight,
             TimeMs ttl_ms, TimeMs now, Outbox& out, Done done);
  // Republishes at once with the new addresses (higher seq).
  void set_addresses(const ServiceId& service, std::vector<Endpoint> addresses, TimeMs now,
                     Outbox& out, Done done);
  // New addresses for every served service (the node's address changed).
  void set_all_addresses(std::vector<Endpoint> addresses, TimeMs now, Outbox& out);
  // Publishes a withdrawal and stops republishing.
  void stop(const ServiceId& service, TimeMs now, Outbox& out, Done done);

  // Owner side (the owner key may live on any node).
  void publish_statement(const KeyPair& owner, const OwnerStatement& statement, TimeMs ttl_ms,
                         TimeMs now, Outbox& out, Done done);
  void withdraw_statement(const ServiceId& service);
  // A statement record the owner signed elsewhere (the CLI signs with the
  // owner key, which never reaches the node): checked as every node checks
  // it, stored now, and stored again every statement_reput_ms until it
  // expires, so nodes that join meanwhile learn it. A later one for the same
  // service replaces it. Refuses an invalid or non-statement record
  // (kInvalidArgument) and one older than the kept one (kFailedPrecondition).
  Status keep_signed_statement(const routing::Record& record, TimeMs now, Outbox& out, Done done);

  void on_tick(TimeMs now, Outbox& out);
  TimeMs next_wakeup() const;

  bool serving(const ServiceId& service) const;
  std::vector<ServiceId> services() const;
  // Expiry of the delegation a served service runs on (renew before it).
  std::optional<TimeMs> delegation_expires_at(const ServiceId& service) const;

 private:
  struct Served {
    Delegation delegation;
    std::vector<Endpoint> addresses;
    std::uint16_t weight = 1;
    TimeMs ttl_ms = 0;
    TimeMs refresh_at = 0;
  };
  struct Statement {
    KeyPair owner;
    OwnerStatement statement;
    TimeMs ttl_ms = 0;
    std::uint64_t last_seq = 0;
    TimeMs refresh_at = 0;
  };
  // Builds and publishes s's record now, or says why it could not.
  Status publish_endpoint(const ServiceId& id, Served& s, TimeMs now, Outbox& out, Done done);
  void put_statement(Statement& st, TimeMs now, Outbox& out, Done done);

  routing::DhtNode& node_;
  XOnlyPubKey node_key_;
  PublisherConfig cfg_;
  std::map<ServiceId, Served> served_;
  std::map<ServiceId, Statement> statements_;
  struct Kept {
    routing::Record record;
    TimeMs reput_at = 0;
  };
  std::map<ServiceId, Kept> kept_;  // signed statements stored for their owner
  metrics::Counter& endpoint_publishes_;
  metrics::Counter& withdrawals_;
  metrics::Counter& statement_publishes_;
  metrics::Counter& errors_;
  metrics::Counter& delegation_ended_;
};

}  // namespace bc::sal
