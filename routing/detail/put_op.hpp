// One put of a record (DhtNode::put, publish and republish) as an explicit
// state machine. For each cluster level the put walks (innermost first):
//
//   kLookingUp      a FIND_VALUE lookup toward the key asks responders
//                   whether they are full and loaded (Coral)
//     -> kProbingOutward  Coral stopped at a full+loaded node before
//                   finding `replicas` nodes with room: ask the nodes we
//                   know next-nearest to the key, without expanding
//     -> kStoring   STORE to the chosen nodes (each with its write token)
//   kStoring        every STORE answered or timed out -> next level
//   after the last level: kDone, the callback gets the PutResult.
//
// enter() is the only place the state changes; each step is one member.
// The op is owned by the callbacks it has in flight (a lookup's on_done, a
// STORE's done): it is freed when the last of them is gone.
#pragma once
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "routing/detail/dht_impl.hpp"

namespace bc::routing {

// A node a STORE goes to, with the write token it gave us.
struct StoreTarget {
  NodeId id;
  Endpoint endpoint;
  Bytes token;
};

class PutOp : public std::enable_shared_from_this<PutOp> {
 public:
  enum class State { kIdle, kLookingUp, kProbingOutward, kStoring, kDone };

  // REQUIRES: `record` passed node.checked(); `levels` is not empty.
  PutOp(DhtNode::Impl& node, Record record, std::vector<int> levels, DhtNode::PutCallback done);
  void start();
  State state() const { return state_; }

 private:
  void enter(State next);
  void start_level();                      // kIdle/kStoring -> kLookingUp, or finish()
  void on_lookup_done(LookupOp& op);       // -> kProbingOutward or kStoring
  void on_probe_done(LookupOp& more);      // -> kStoring
  void send_stores();                      // -> kStoring, or the next level
  void on_store_answer(const NodeId& from, const Envelope* e);  // the last answer -> the next level
  void finish();                           // -> kDone
  // Every responder of `op`, shuffled, appended to fallback_ (at most
  // `replicas`): where copies go when the key is hot everywhere we looked.
  void spread(LookupOp& op);

  DhtNode::Impl& node_;
  Record record_;
  std::vector<int> levels_;
  DhtNode::PutCallback done_;
  State state_ = State::kIdle;
  std::size_t next_level_ = 0;
  int level_ = 0;
  TimeMs ttl_ms_ = 0;
  std::vector<StoreTarget> targets_;
  std::vector<StoreTarget> fallback_;
  int stored_ = 0;
  std::set<NodeId> stored_at_;
  int hops_ = 0;
  int acks_outstanding_ = 0;
  std::vector<std::string> problems_;
};

}  // namespace bc::routing
