// Publisher: endpoint records of the services this node serves, and owner
// statements kept alive for the owner.
#include "sal/records/publisher.hpp"

#include <algorithm>
#include <limits>
#include <stdexcept>

#include "layers/assert.hpp"
#include "layers/ids.hpp"
#include "sal/records/record_validator.hpp"

namespace bc::sal {
namespace {

constexpr TimeMs kNoWakeup = std::numeric_limits<TimeMs>::max() / 2;

// Refuses a call before anything is sent: the caller's argument
// (kInvalidArgument) or the publisher's state (kFailedPrecondition).
void fail(const Publisher::Done& done, Status status) {
  if (!done) return;
  routing::PutResult r;
  r.status = std::move(status);
  done(r);
}

void fail(const Publisher::Done& done, bc::Errc code, std::string detail) {
  fail(done, bc::fail(code, std::move(detail)));
}

}  // namespace

Publisher::Publisher(routing::DhtNode& node, const XOnlyPubKey& node_key, metrics::Registry& metrics,
                     PublisherConfig config)
    : node_(node),
      node_key_(node_key),
      cfg_(config),
      endpoint_publishes_(metrics.counter("bc_sal_publishes_total", "SAL records published, by kind",
                                          {{"kind", "endpoint"}})),
      withdrawals_(metrics.counter("bc_sal_publishes_total", "SAL records published, by kind",
                                   {{"kind", "withdrawal"}})),
      statement_publishes_(metrics.counter("bc_sal_publishes_total", "SAL records published, by kind",
                                           {{"kind", "statement"}})),
      errors_(metrics.counter("bc_sal_publish_errors_total",
                              "SAL publish requests refused before sending (bad delegation or addresses)")),
      delegation_ended_(metrics.counter("bc_sal_delegations_ended_total",
                                        "Served services stopped because their delegation ran out")) {
  if (node_id_of(node_key) != node.id()) {
    throw std::invalid_argument("Publisher: node_key is not the key of this DHT node (its id differs)");
  }
}

Status Publisher::publish_endpoint(const ServiceId& id, Served& s, TimeMs now, Outbox& out,
                                        Done done) {
  const Delegation& d = s.delegation;
  if (DelegationError e = check_delegation_for(d, id, node_key_, now); e != DelegationError::kNone) {
    return bc::fail(bc::Errc::kPermissionDenied,
                    std::string("delegation for ") + service_id_to_text(id) + " cannot be used: " + to_string(e) +
                        (e == DelegationError::kExpired ? " (ask the owner for a renewed delegation)" : ""));
  }
  const TimeMs remaining = d.expires_at - now;
  if (remaining < cfg_.min_ttl_ms) {
    return bc::fail(bc::Errc::kFailedPrecondition,
                    "delegation for " + service_id_to_text(id) + " expires in " + std::to_string(remaining) +
                        " ms, under the " + std::to_string(cfg_.min_ttl_ms) + " ms minimum; ask the owner to renew it");
  }
  EndpointInfo info;
  info.addresses = s.addresses;
  info.weight = s.weight;
  info.cluster_hints = cluster_hints_of(node_.status());
  info.delegation = d;
  Result<Bytes> p = build_endpoint_payload(info);
  if (!p) return std::move(p).take_status();
  const TimeMs ttl = std::min(s.ttl_ms, remaining);
  // Ahead of DhtNode's own republish (ttl/2), so every record's TTL is
  // clamped to the delegation's remaining life.
  s.refresh_at = now + std::max<TimeMs>(ttl / 3, 1);
  endpoint_publishes_.inc();
  node_.publish(id, std::move(p).value(), ttl, now, out, std::move(done));
  return Status::success();
}

void Publisher::serve(const Delegation& d, std::vector<Endpoint> addresses, std::uint16_t weight,
                      TimeMs ttl_ms, TimeMs now, Outbox& out, Done done) {
  if (addresses.empty()) {
    errors_.inc();
    fail(done, bc::Errc::kInvalidArgument, "serve() needs at least one address; use stop() to withdraw");
    return;
  }
  const ServiceId id = d.service();
  Served s;
  s.delegation = d;
  s.addresses = std::move(addresses);
  s.weight = weight;
  s.ttl_ms = ttl_ms > 0 ? ttl_ms : cfg_.default_ttl_ms;
  if (Status st = publish_endpoint(id, s, now, out, done); !st.ok()) {
    errors_.inc();
    fail(done, std::move(st));
    return;
  }
  served_[id] = std::move(s);
}

void Publisher::set_addresses(const ServiceId& service, std::vector<Endpoint> addresses, TimeMs now,
                              Outbox& out, Done done) {
  auto it = served_.find(service);
  if (it == served_.end()) {
    errors_.inc();
    fail(done, bc::Errc::kFailedPrecondition, "not serving " + service_id_to_text(service) + "; call serve() first");
    return;
  }
  if (addresses.empty()) {
    errors_.inc();
    fail(done, bc::Errc::kInvalidArgument, "set_addresses() needs at least one address; use stop() to withdraw");
    return;
  }
  Served next = it->second;
  next.addresses = std::move(addresses);
  if (Status st = publish_endpoint(service, next, now, out, done); !st.ok()) {
    errors_.inc();
    fail(done, std::move(st));
    return;
  }
  it->second = std::move(next);
}

void Publisher::set_all_addresses(std::vector<Endpoint> addresses, TimeMs now, Outbox& out) {
  std::vector<ServiceId> ids = services();
  for (const ServiceId& id : ids) set_addresses(id, addresses, now, out, nullptr);
}

void Publisher::stop(const ServiceId& service, TimeMs now, Outbox& out, Done done) {
  auto it = served_.find(service);
  if (it == served_.end()) {
    fail(done, bc::Errc::kFailedPrecondition, "not serving " + service_id_to_text(service));
    return;
  }
  const Delegation d = it->second.delegation;
  served_.erase(it);
  // A withdrawal (no addresses) replaces our record at the storage nodes and
  // is pushed to watchers; it needs a delegation still valid.
  if (check_delegation(d, now) != DelegationError::kNone) {
    node_.unpublish(service);
    fail(done, bc::Errc::kFailedPrecondition, "delegation no longer valid: the last record simply expires");
    return;
  }
  const TimeMs ttl = std::min(cfg_.withdrawal_ttl_ms, d.expires_at - now);  // > 0: checked above
  EndpointInfo info;
  info.delegation = d;
  Result<Bytes> p = build_endpoint_payload(info);
  BC_ASSERT_MSG(p.ok(), "a withdrawal (no addresses, no hints) always encodes: %s", p.status().text().c_str());
  withdrawals_.inc();
  node_.publish(service, std::move(p).value(), ttl, now, out, std::move(done));
  node_.unpublish(service);  // no republish; the put already under way goes on
}

void Publisher::put_statement(Statement& st, TimeMs now, Outbox& out, Done done) {
  // Higher on every call, and never below the clock, as DhtNode::publish does.
  st.last_seq = std::max<std::uint64_t>(st.last_seq + 1, static_cast<std::uint64_t>(std::max<TimeMs>(now, 0)));
  st.refresh_at = now + std::max<TimeMs>(st.ttl_ms / 2, 1);
  routing::Record r = make_statement_record(st.owner, st.statement, st.last_seq, now + st.ttl_ms);
  statement_publishes_.inc();
  node_.put(r, now, out, std::move(done));
}

void Publisher::publish_statement(const KeyPair& owner, const OwnerStatement& statement, TimeMs ttl_ms,
                                  TimeMs now, Outbox& out, Done done) {
  if (owner.public_key() != statement.owner || !verify_owner_statement(statement)) {
    errors_.inc();
    fail(done, bc::Errc::kInvalidArgument, "owner statement is not signed by this owner key; create it with make_owner_statement()");
    return;
  }
  if (!build_statement_payload(statement).ok()) {
    errors_.inc();
    fail(done, bc::Errc::kInvalidArgument, "owner statement does not fit a DHT record (at most 16 revoked keys)");
    return;
  }
  const ServiceId id = statement.service();
  auto [it, fresh] = statements_.try_emplace(id, Statement{owner, statement, 0, 0, 0});
  if (!fresh) {
    it->second.owner = owner;
    it->second.statement = statement;
  }
  it->second.ttl_ms = ttl_ms > 0 ? ttl_ms : cfg_.statement_ttl_ms;
  put_statement(it->second, now, out, std::move(done));
}

void Publisher::withdraw_statement(const ServiceId& service) { statements_.erase(service); }

Status Publisher::keep_signed_statement(const routing::Record& record, TimeMs now, Outbox& out, Done done) {
  // 24 h: DhtConfig's default max_ttl_ms; storage nodes refuse longer.
  if (routing::RecordError e = routing::check_record(record, now, 24 * 3600 * 1000); e != routing::RecordError::kNone)
    return bc::fail(bc::Errc::kInvalidArgument, std::string("the record is not valid (") + routing::to_string(e) + "); sign it again");
  SalPayload parsed;
  if (RecordReason r = validate_service_record(record, now, nullptr, &parsed); r != RecordReason::kOk)
    return bc::fail(bc::Errc::kInvalidArgument, explain(r));
  if (!std::holds_alternative<OwnerStatement>(parsed))
    return bc::fail(bc::Errc::kInvalidArgument, "not an owner statement record");
  auto& k = kept_[record.key];
  if (k.record.seq > record.seq)
    return bc::fail(bc::Errc::kFailedPrecondition, "a newer statement for this service is already kept");
  k.record = record;
  k.reput_at = now + cfg_.statement_reput_ms;
  statement_publishes_.inc();
  node_.put(record, now, out, std::move(done));
  return Status::success();
}

void Publisher::on_tick(TimeMs now, Outbox& out) {
  for (auto it = served_.begin(); it != served_.end();) {
    if (it->second.refresh_at > now) {
      ++it;
      continue;
    }
    if (!publish_endpoint(it->first, it->second, now, out, nullptr).ok()) {
      // The delegation ran out (or is about to): stop; the last record
      // expires no later than the delegation.
      delegation_ended_.inc();
      node_.unpublish(it->first);
      it = served_.erase(it);
      continue;
    }
    ++it;
  }
  for (auto& [id, st] : statements_) {
    if (st.refresh_at <= now) put_statement(st, now, out, nullptr);
  }
  for (auto it = kept_.begin(); it != kept_.end();) {
    if (it->second.record.expires_at <= now) {
      it = kept_.erase(it);
      continue;
    }
    if (it->second.reput_at <= now) {
      it->second.reput_at = now + cfg_.statement_reput_ms;
      statement_publishes_.inc();
      node_.put(it->second.record, now, out, nullptr);
    }
    ++it;
  }
}

TimeMs Publisher::next_wakeup() const {
  TimeMs t = kNoWakeup;
  for (const auto& [id, s] : served_) t = std::min(t, s.refresh_at);
  for (const auto& [id, s] : statements_) t = std::min(t, s.refresh_at);
  for (const auto& [id, k] : kept_) t = std::min({t, k.reput_at, k.record.expires_at});
  return t;
}

bool Publisher::serving(const ServiceId& service) const { return served_.count(service) != 0; }

std::vector<ServiceId> Publisher::services() const {
  std::vector<ServiceId> out;
  for (const auto& [id, s] : served_) out.push_back(id);
  return out;
}

std::optional<TimeMs> Publisher::delegation_expires_at(const ServiceId& service) const {
  auto it = served_.find(service);
  if (it == served_.end()) return std::nullopt;
  return it->second.delegation.expires_at;
}

}  // namespace bc::sal
