// blockcloud-cli's committee commands (docs/operator-guide.md, "Running a
// validator"):
//   validator status   the node's committee core: height, round, step, last
//                      commit, votes seen and dropped messages by reason, or
//                      why the node follows instead of validating
#pragma once
#include <CLI/CLI.hpp>

#include "apps/cli/commands.hpp"

namespace bc::cli {

void add_validator_commands(CLI::App& app, CommandTable& commands);

}  // namespace bc::cli
