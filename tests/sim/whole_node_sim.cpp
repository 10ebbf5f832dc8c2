#include "tests/sim/whole_node_sim.hpp"

#include <map>
#include <unordered_map>
#include <memory>
#include <vector>

#include "layers/memnet.hpp"
#include "ledger/invariants.hpp"
#include "tests/sim/sim_node.hpp"
#include "tests/sim/transfers.hpp"

namespace bc::sim {
namespace {

constexpr std::size_t kAccounts = 16;

struct World {
  std::uint64_t seed;
  SimOptions opt;
  MemNet net;
  Rng rng;
  ledger::TestGenesis tg;
  KeyPair producer_key;
  std::vector<std::unique_ptr<FaultEnv>> envs;
  std::vector<std::unique_ptr<SimNode>> nodes;  // null while crashed
  std::vector<SimNodeConfig> configs;
  TransferWorkload workload{tg.keys};
  SimReport report;

  World(std::uint64_t s, SimOptions o)
      : seed(s), opt(o), net(s), rng(s ^ 0x5eed), tg(ledger::make_test_genesis(kAccounts, 1'000'000, 7)),
        producer_key(ledger::test_key(999, 0)) {
    tg.genesis.time = net.now();
    tg.genesis.params.producers = {producer_key.public_key()};
    net.set_jitter(3);
    for (std::uint32_t i = 0; i < opt.nodes; ++i) {
      SimNodeConfig c;
      c.index = i;
      c.endpoint = MemNet::endpoint(i);
      c.genesis = tg.genesis;
      if (i == 0) c.producer_key = producer_key;
      c.block_interval_ms = opt.block_interval_ms;
      c.seed = net.node_seed(c.endpoint);
      c.ledger_sync = opt.ledger_sync;
      configs.push_back(c);
      envs.push_back(std::make_unique<FaultEnv>());
      nodes.push_back(nullptr);
      start(i);
    }
  }

  void fail(const std::string& why) {
    if (report.failure.empty()) report.failure = why;
  }

  void start(std::uint32_t i) {
    nodes[i] = std::make_unique<SimNode>(configs[i], *envs[i], net.now());
    net.add_node(configs[i].endpoint, nodes[i].get(), nodes[i].get());
    if (i == 0) return;
    net.invoke(configs[i].endpoint, [&](TimeMs now, Outbox& out) {
      nodes[i]->dht().bootstrap({configs[0].endpoint}, now, out);
    });
  }

  // Keeps a full mesh of ledger connections, as blockcloudd's redial does.
  void redial() {
    for (std::size_t i = 0; i < nodes.size(); ++i)
      for (std::size_t j = i + 1; j < nodes.size(); ++j)
        if (nodes[i] && nodes[j] && !net.connected(configs[i].endpoint, configs[j].endpoint))
          net.connect(configs[i].endpoint, configs[j].endpoint);
  }

  void send_transfer() {
    const std::uint32_t target = static_cast<std::uint32_t>(rng.uniform(nodes.size()));
    if (!nodes[target] || net.is_down(configs[target].endpoint)) return;
    const ledger::Tx tx = workload.next(rng, nodes[target]->ledger());
    net.invoke(configs[target].endpoint, [&](TimeMs now, Outbox& out) { nodes[target]->submit_tx(tx, now, out); });
  }

  void crash_and_restart(std::uint32_t victim, TimeMs down_for);
  void check_restart(std::uint32_t victim, const std::vector<SimNode::Committed>& before);
  void schedule(TimeMs start);
  void check_end();
};

void World::crash_and_restart(std::uint32_t victim, TimeMs down_for) {
  report.crashed_node = victim;
  const std::vector<SimNode::Committed> before = nodes[victim]->committed();
  net.remove_node(configs[victim].endpoint);
  envs[victim]->crash();
  report.lost_unsynced_bytes = envs[victim]->unsynced_bytes();
  nodes[victim].reset();  // closes the database: nothing more reaches the store
  envs[victim]->drop_unsynced();
  net.at(net.now() + down_for, [this, victim, before] {
    start(victim);
    check_restart(victim, before);
  });
}

void World::check_restart(std::uint32_t victim, const std::vector<SimNode::Committed>& before) {
  ledger::Ledger& l = nodes[victim]->ledger();
  for (const auto& c : before) {
    auto bytes = l.block_at(c.height);
    auto shell = bytes ? ledger::decode_block_shell(*bytes, l.params())
                       : Result<ledger::BlockShell>(bc::fail(ledger::Error::kUnknownBlock, "missing"));
    if (!shell.ok() || ledger::header_hash(shell->header) != c.hash) {
      fail("node " + std::to_string(victim) + " lost block " + std::to_string(c.height) +
           " it had reported committed before the crash (head after restart: " + std::to_string(l.head().height) + ")");
      return;
    }
  }
}

void World::schedule(TimeMs start) {
  for (TimeMs t = start; t < start + opt.duration_ms; t += opt.tx_every_ms) net.at(t, [this] { send_transfer(); });
  for (TimeMs t = start; t < start + opt.duration_ms + 30'000; t += 500) net.at(t, [this] { redial(); });
  const auto victim = static_cast<std::uint32_t>(rng.uniform(nodes.size()));
  const TimeMs crash_at = start + 2000 + static_cast<TimeMs>(rng.uniform(static_cast<std::uint64_t>(opt.duration_ms - 4000)));
  const TimeMs down_for = 200 + static_cast<TimeMs>(rng.uniform(5000));
  net.at(crash_at, [this, victim, down_for] { crash_and_restart(victim, down_for); });
  // Half the seeds also cut one other node off for a while.
  if (rng.uniform(2) == 0) {
    const auto cut = static_cast<std::uint32_t>(rng.uniform(nodes.size()));
    const TimeMs at = start + static_cast<TimeMs>(rng.uniform(static_cast<std::uint64_t>(opt.duration_ms)));
    net.at(at, [this, cut] { net.partition({{configs[cut].endpoint}}); });
    net.at(at + 1000 + static_cast<TimeMs>(rng.uniform(5000)), [this] { net.heal(); });
  }
}
}  // namespace

namespace {

// Each account's nonce equals the count of its txs in the chain; no balance
// exceeds what was ever minted.
std::string check_accounts(ledger::Ledger& l) {
  std::unordered_map<ledger::Address, std::uint64_t, Hash256Hasher> sent;
  for (std::uint64_t h = 1; h <= l.head().height; ++h) {
    auto block = ledger::decode_block(*l.block_at(h), l.params());
    if (!block.ok()) return "block " + std::to_string(h) + " does not decode";
    for (const auto& tx : block->txs) ++sent[tx.sender];
  }
  for (const auto& [addr, acc] : l.state().accounts()) {
    const auto it = sent.find(addr);
    const std::uint64_t n = it == sent.end() ? 0 : it->second;
    if (acc.nonce != n) return "account nonce " + std::to_string(acc.nonce) + " but " + std::to_string(n) + " txs";
    if (acc.balance > l.state().supply().minted) return "a balance above the supply (wrapped below zero)";
  }
  if (auto s = ledger::check_supply(l.state()); !s.empty()) return s;
  return {};
}

}  // namespace

void World::check_end() {
  ledger::Ledger& ref = nodes[0]->ledger();
  report.height = ref.head().height;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    ledger::Ledger& l = nodes[i]->ledger();
    const std::string who = "node " + std::to_string(i) + ": ";
    if (auto s = check_accounts(l); !s.empty()) return fail(who + s);
    if (l.head().hash != ref.head().hash)
      return fail(who + "head " + std::to_string(l.head().height) + " differs from the producer's " +
                  std::to_string(ref.head().height));
    for (std::uint64_t h = 1; h <= ref.head().height; ++h)
      if (l.block_at(h) != ref.block_at(h)) return fail(who + "block at height " + std::to_string(h) + " differs");
    if (l.head().state_root != ref.head().state_root || l.computed_root() != l.head().state_root)
      return fail(who + "state root differs");
  }
  for (std::uint64_t h = 1; h <= ref.head().height; ++h)
    report.txs += ledger::decode_block(*ref.block_at(h), ref.params())->txs.size();
}

SimReport run_whole_node_sim(std::uint64_t seed, const SimOptions& options) {
  World w(seed, options);
  const TimeMs start = w.net.now();
  w.schedule(start);
  w.net.run_until(start + options.duration_ms);
  // Settle: faults over, every node should reach the producer's head.
  auto level = [&] {
    for (const auto& n : w.nodes)
      if (!n || n->ledger().head().hash != w.nodes[0]->ledger().head().hash) return false;
    return true;
  };
  w.net.run_until(w.net.now() + 8000);
  w.net.run_until(level, w.net.now() + 30'000);
  if (w.report.ok()) w.check_end();
  return w.report;
}

}  // namespace bc::sim
