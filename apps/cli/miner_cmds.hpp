// blockcloud-cli's Proof-of-Service audit commands (docs/operator-guide.md,
// "Audits"):
//   miner status           this validator's audits: commitments, epochs,
//                          probes sent/passed/failed/contained, reports
//   miner reports          its recent reports with their probe outcomes
//   audit show OFFER_ID|PROVIDER   an offer's (or a provider's offers')
//                          reports on chain, scores, reputation and grades
#pragma once
#include <CLI/CLI.hpp>

#include "apps/cli/commands.hpp"

namespace bc::cli {

void add_miner_commands(CLI::App& app, CommandTable& commands);

}  // namespace bc::cli
