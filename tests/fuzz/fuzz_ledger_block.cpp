// libFuzzer target: hostile bytes -> Ledger::apply_block on a real ledger
// (LevelDB on an in-memory Env). Whatever the bytes, the ledger must reject
// them with a reason and keep its head and state root, or (for a valid block
// signed by the configured producer, e.g. from the seed corpus) advance by
// exactly one block with its invariants intact.
#include <cstddef>
#include <cstdint>
#include <memory>

#include "ledger/genesis.hpp"
#include "ledger/invariants.hpp"
#include "ledger/ledger.hpp"
#include "tests/fuzz/fuzz_ledger.hpp"

using namespace bc;
using namespace bc::ledger;
using namespace bc::ledger::fuzzing;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Ledger& l = fuzz_ledger("/fuzz-ledger");
  const Head before = l.head();
  // The pure decoder first: a decoded block re-encodes to an equal one.
  auto b = decode_block(ByteView(data, size), l.params());
  if (b.ok()) {
    auto again = decode_block(encode_block(*b), l.params());
    require(again.ok() && again->header == b->header && again->txs.size() == b->txs.size());
    for (std::size_t i = 0; i < b->txs.size(); ++i) require(again->txs[i].id == b->txs[i].id);
  }
  Status s = l.apply_block(ByteView(data, size));
  if (s.ok()) {
    require(l.head().height == before.height + 1);
    require(l.computed_root() == l.head().state_root);
    require(check_supply(l.state()).empty());
    return 0;
  }
  require(!s.message.empty());
  require(l.head().hash == before.hash);
  require(l.computed_root() == before.state_root);
  require(check_supply(l.state()).empty());
  return 0;
}
