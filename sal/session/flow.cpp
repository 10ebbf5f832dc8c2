// Flow lifecycle transitions (docs/sal-flows.md, "Opening" and "Resuming").
#include "sal/session/detail/flow.hpp"

namespace bc::sal {

namespace {

bool legal(Flow::State from, Flow::State to) {
  using S = Flow::State;
  switch (from) {
    case S::kOpenQueued: return to == S::kOpenSent;
    case S::kOpenSent: return to == S::kEstablished;
    case S::kAcceptPending: return to == S::kEstablished;
    case S::kEstablished: return to == S::kResuming;
    case S::kResuming: return to == S::kEstablished;
  }
  return false;
}

}  // namespace

void Flow::to(State next) {
  BC_ASSERT_MSG(legal(state_, next), "flow %d -> %d", static_cast<int>(state_), static_cast<int>(next));
  state_ = next;
}

}  // namespace bc::sal
