// The watches this node holds (DhtNode::watch): for each, the key's storage
// nodes we subscribed at, when to subscribe again, and which events were
// already delivered (several replicas report the same record). Its state is
// its own; it reaches the network through the node (lookups, requests) and
// hands events to the node's completion queue.
#pragma once
#include <cstdint>
#include <map>
#include <vector>

#include "routing/dht.hpp"
#include "routing/messages.hpp"

namespace bc::routing {

struct LookupOp;

class Watches {
 public:
  explicit Watches(DhtNode::Impl& node) : node_(node) {}

  // A new watch; the first subscription goes out at once.
  std::uint64_t add(const Key& key, DhtNode::WatchCallback on_event);
  void remove(std::uint64_t watch_id) { held_.erase(watch_id); }
  // A NOTIFY from a storage node (checked here: unsolicited, bad record).
  void on_notify(const msg::Notify& n);
  // A record we store ourselves was added or expired: no replica tells us.
  void on_local(const Record& r, NotifyKind kind);
  // Subscribes again where due (from on_tick).
  void refresh_due();
  // Our address changed: subscribe again from the new one no later than `at`.
  void resubscribe_by(TimeMs at);
  TimeMs next_refresh() const;  // kNever-like max when none is due

 private:
  struct Held {
    Key key;
    DhtNode::WatchCallback cb;
    std::vector<WireContact> targets;
    TimeMs refresh_at = 0;
    bool refreshing = false;
    // Highest seq reported per owner, for added and for expired events.
    std::map<XOnlyPubKey, std::uint64_t> seen_added, seen_expired;
  };
  void refresh(std::uint64_t watch_id);
  void subscribe_at(std::uint64_t watch_id, LookupOp& op);
  void deliver(Held& w, NotifyKind kind, const Record& r);

  DhtNode::Impl& node_;
  std::map<std::uint64_t, Held> held_;
};

}  // namespace bc::routing
