// libFuzzer target: hostile bytes -> SyncCore message decoding and handling.
//
// The input is a script of events for one fresh SyncCore over a real ledger
// (LevelDB on an in-memory Env, shared by all inputs): peers connect and
// disconnect, send arbitrary messages, the clock ticks. Whatever the bytes,
// the core must not crash, must only talk to connected peers, must keep its
// answers within the configured size bounds, and must leave the ledger valid.
//
// Script: repeated {op u8, peer u8, len u16 BE, len bytes}. op % 5:
//   0 connect, 1 disconnect, 2 message as is, 3 message with bytes 1..32
//   overwritten by the genesis hash (so the Hello gate can be passed),
//   4 tick (clock advances by len ms). The whole input is also sent once
//   as a single message from peer 0. All peers share one address, so Hellos
//   of 80 bytes that name one node nonce make them one peer node for gossip.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <set>

#include "ledger/genesis.hpp"
#include "ledger/invariants.hpp"
#include "ledger/ledger.hpp"
#include "ledger/mempool.hpp"
#include "ledger/sync.hpp"
#include "tests/fuzz/fuzz_ledger.hpp"

using namespace bc;
using namespace bc::ledger;
using namespace bc::ledger::fuzzing;

namespace {

constexpr SyncOptions kOpt{.batch_blocks = 8, .max_response_bytes = 1u << 20, .seen_tx_ids = 64, .node_nonce = 0x5eed};

// Every output goes to a connected peer and stays within the size bounds.
void check_out(const Outbox& out, const std::set<PeerId>& connected, const Ledger& l) {
  for (const auto& f : out.frames) {
    require(connected.count(f.to) == 1);
    require(!f.payload.empty());
    require(f.payload.size() <= kOpt.max_response_bytes + 5 + 4 + l.params().max_block_bytes);
  }
  require(out.writes.empty() && out.datagrams.empty());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Ledger& l = fuzz_ledger("/fuzz-ledger-sync");
  const Head before = l.head();
  Mempool mempool;
  std::uint64_t commits = 0;
  LedgerBlocks blocks(l);
  SyncCore core(l.params(), l.genesis_hash(), ChainTip{l.head().height, l.head().hash}, blocks, kOpt);
  std::set<PeerId> connected;
  TimeMs now = 1'700'000'000'000;

  // One input, its requests served at once, its outputs checked.
  auto run = [&](auto&& step) {
    Outbox out;
    step(out);
    serve_sync_requests(core, l, mempool, now, out, [&](const BlockHeader&) { ++commits; });
    check_out(out, connected, l);
    for (PeerId p : out.disconnects) {
      connected.erase(p);
      Outbox ignored;
      core.on_peer_down(p, now, ignored);
    }
  };

  // The whole input as one message.
  connected.insert(0);
  run([&](Outbox& o) { core.on_peer_up(0, Endpoint{}, false, now, o); });
  run([&](Outbox& o) { core.on_frame(0, ByteView(data, size), now, o); });

  std::size_t off = 0;
  while (size - off >= 4) {
    const std::uint8_t op = data[off] % 5;
    const PeerId peer = data[off + 1] % 8;
    const std::size_t len = std::min<std::size_t>((std::size_t(data[off + 2]) << 8) | data[off + 3], size - off - 4);
    const ByteView body(data + off + 4, len);
    off += 4 + len;
    switch (op) {
      case 0:
        if (connected.insert(peer).second) run([&](Outbox& o) { core.on_peer_up(peer, Endpoint{}, true, now, o); });
        break;
      case 1:
        if (connected.erase(peer) == 1) run([&](Outbox& o) { core.on_peer_down(peer, now, o); });
        break;
      case 2:
        run([&](Outbox& o) { core.on_frame(peer, body, now, o); });
        break;
      case 3: {
        Bytes m(body.begin(), body.end());
        const auto& g = l.genesis_hash().bytes;
        for (std::size_t i = 0; i < g.size() && 1 + i < m.size(); ++i) m[1 + i] = g[i];
        run([&](Outbox& o) { core.on_frame(peer, m, now, o); });
        break;
      }
      case 4:
        now += static_cast<TimeMs>(len) * 37;
        run([&](Outbox& o) { core.on_tick(now, o); });
        break;
    }
    // The core knows only peers the driver told it about.
    for (const auto& v : core.peers()) require(connected.count(v.id) == 1);
  }

  // The ledger moved only by blocks the core applied, and is still consistent.
  require(l.head().height == before.height + core.stats().blocks_applied);
  require(core.head().height == l.head().height && core.head().hash == l.head().hash);
  require(!core.applying());
  require(commits == core.stats().blocks_applied);
  require(l.computed_root() == l.head().state_root);
  require(check_supply(l.state()).empty());
  return 0;
}
