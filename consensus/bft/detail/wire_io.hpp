// Shared by the codecs of consensus/bft: Message <-> its Cap'n Proto builder
// and reader. read_message throws Reject for a field it refuses (and lets
// kj::Exception through); callers run it inside bc::wire::decode and catch
// Reject there.
#pragma once
#include "consensus/bft/codec.hpp"
#include "consensus/bft/errors.hpp"
#include "consensus/bft/wire/bft.capnp.h"

namespace bc::bft::detail {

struct Reject {
  Error error;
};

void write_message(const Message& m, wire::Message::Builder b);
Message read_message(wire::Message::Reader r, const CodecLimits& limits);

}  // namespace bc::bft::detail
