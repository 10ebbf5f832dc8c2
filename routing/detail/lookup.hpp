// Iterative Kademlia lookup state (FIND_NODE or FIND_VALUE toward a target),
// without I/O: the DHT node sends what next_to_query() hands out, and reports
// responses and failures back by candidate (found by node id).
//
// The lookup tracks the `width` closest candidates it has heard of, keeps at
// most `alpha` requests in flight among them, and converges when the `k`
// closest that did not fail have all answered (or when nothing is left to
// ask; stalled candidates, slower than their expected RTT, are not waited
// for). stop() ends it early (values found, or Coral's full+loaded stop):
// no new requests, done once the in-flight ones settle.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "layers/bytes.hpp"
#include "layers/ids.hpp"
#include "layers/runtime.hpp"
#include "routing/messages.hpp"

namespace bc::routing {

struct Candidate {
  // kStalled: asked, slower than its expected RTT; no longer counts against
  // alpha or convergence, but a late answer is still taken.
  enum class State { kNew, kInFlight, kStalled, kDone, kFailed };
  NodeId id;
  Endpoint endpoint;
  Hash256 distance;
  State state = State::kNew;
  int depth = 1;          // hops from us: seeds are 1, their contacts 2, ...
  int tries = 0;
  // Filled from a VALUES response.
  Bytes token;
  bool full = false;
  bool loaded = false;
  bool had_values = false;
  bool sent_token = false;  // asked again with its token after a cut answer
};

class Lookup {
 public:
  Lookup(const Hash256& target, std::size_t width, std::size_t k, int alpha);

  // Adds a candidate unless known or beyond the tracked set; true if added.
  bool add(const NodeId& id, const Endpoint& ep, int depth);
  // Candidates to query now (state set to kInFlight; the caller sends the
  // requests, retries and timeouts are the transport's job). Empty once
  // stopped. The pointers are valid until the next add()/on_response().
  std::vector<Candidate*> next_to_query();

  // A response arrived for c: contacts become new candidates at depth+1.
  // Invalidates references to candidates (the vector may grow).
  void on_response(Candidate& c, const std::vector<WireContact>& contacts, const NodeId& self);
  void on_failure(Candidate& c);
  // c's request is slower than expected (likely a departed node): ask the
  // next candidate instead of waiting; an answer from c still counts.
  void on_stall(Candidate& c);

  void stop() { stopped_ = true; }
  bool stopped() const { return stopped_; }
  bool finished() const;
  int in_flight() const { return in_flight_; }
  // Deepest responder so far: the number of rounds the lookup needed.
  int hops() const { return hops_; }

  std::vector<Candidate>& candidates() { return cands_; }
  const std::vector<Candidate>& candidates() const { return cands_; }
  // Up to n responders (kDone), closest first.
  std::vector<const Candidate*> closest_done(std::size_t n) const;
  const Hash256& target() const { return target_; }

 private:
  Hash256 target_;
  std::size_t width_, k_;
  int alpha_;
  int in_flight_ = 0;
  int hops_ = 0;
  bool stopped_ = false;
  std::vector<Candidate> cands_;  // sorted by distance
};

}  // namespace bc::routing
