// blockcloud-sim: Blockcloud protocol cores at scale: the DHT (routing::DhtNode)
// at 10k-100k nodes on SimGrid, Proof-of-Service (pos) and the BFT committee
// (bft). See docs/simulation.md.
#include <cstdio>
#include <exception>
#include <stdexcept>
#include <string>

#include <CLI/CLI.hpp>

#include "simulations/bft_scenario.hpp"
#include "simulations/pingpong.hpp"
#include "simulations/dht_scenario.hpp"
#include "simulations/pos_scenario.hpp"

int main(int argc, char** argv) {
  CLI::App app{"blockcloud-sim: runs Blockcloud protocol cores at scale on SimGrid"};
  app.require_subcommand(1);

  bc::sim::PingPongOptions pp;
  auto* ping = app.add_subcommand("pingpong", "measure the simulation engine with a ping-pong protocol (no DHT)");
  ping->add_option("--nodes", pp.nodes, "number of nodes")->check(CLI::Range(2u, 5'000'000u));
  ping->add_option("--seed", pp.seed, "run seed");
  ping->add_option("--duration", pp.duration_s, "simulated seconds")->check(CLI::PositiveNumber);
  ping->add_option("--interval", pp.interval_s, "seconds between a node's pings")->check(CLI::PositiveNumber);
  ping->add_option("--engine", pp.engine, "queue (one network actor, the default) or actors (one actor per node)")
      ->check(CLI::IsMember({"queue", "actors"}));

  bc::sim::DhtOptions dht;
  auto* dcmd = app.add_subcommand("dht", "run the DHT with churn and workloads; JSON summary on stdout");
  bc::sim::add_dht_options(*dcmd, dht);

  bc::sim::PosSimOptions pos;
  auto* pcmd = app.add_subcommand("pos", "run Proof-of-Service (ledger/pos, consensus/pos) with honest and cheating providers");
  bc::sim::add_pos_options(*pcmd, pos);

  bc::sim::BftSimOptions bft;
  auto* bcmd = app.add_subcommand("bft", "run the BFT committee (consensus/bft BftCore) over the latency model: finality beside its floor");
  bc::sim::add_bft_options(*bcmd, bft);

  CLI11_PARSE(app, argc, argv);
  try {
    if (ping->parsed()) return bc::sim::run_pingpong(pp, argv[0]);
    if (dcmd->parsed()) return bc::sim::run_dht(dht, argv[0]);
    if (pcmd->parsed()) {
      if (pos.continents > pos.regions) throw std::invalid_argument("--continents must not exceed --regions");
      return bc::sim::run_pos(pos);
    }
    if (bcmd->parsed()) return bc::sim::run_bft(bft);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "blockcloud-sim: %s\n", e.what());
    return 1;
  }
  return 0;
}
