// blockcloud-cli's command table: each leaf subcommand registered with CLI11
// is paired with the function that runs it, so main dispatches by lookup
// instead of testing every subcommand in turn.
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

#include "apps/cli/rpc.hpp"

namespace bc::cli {

// Runs one command; returns the process exit code (0 ok, 1 failure) or
// throws Failure.
using CommandFn = std::function<int(const Options&, const Endpoint& rpc)>;

class CommandTable {
 public:
  // Adds command `name` under `parent` (global flags may also follow it);
  // `command` runs when CLI11 has parsed it.
  CLI::App* add(CLI::App* parent, const std::string& name, const std::string& help, CommandFn command) {
    auto* sub = parent->add_subcommand(name, help);
    sub->fallthrough();
    commands_.emplace_back(sub, std::move(command));
    return sub;
  }

  // Runs the command that was parsed; nullopt if none was.
  std::optional<int> run_parsed(const Options& o, const Endpoint& rpc) const {
    for (const auto& [sub, command] : commands_)
      if (sub->parsed()) return command(o, rpc);
    return std::nullopt;
  }

 private:
  std::vector<std::pair<CLI::App*, CommandFn>> commands_;
};

// Adds a group such as `dht` or `wallet` under `parent`: it holds commands
// and needs one of them.
inline CLI::App* add_command_group(CLI::App& parent, const std::string& name, const std::string& help) {
  auto* group = parent.add_subcommand(name, help);
  group->require_subcommand(1);
  group->fallthrough();
  return group;
}

}  // namespace bc::cli
