#include "apps/cli/validator_cmds.hpp"

#include <iostream>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "apps/cli/format.hpp"
#include "apps/cli/rpc.hpp"

namespace bc::cli {
namespace {
namespace json = boost::json;

// "3.2 s ago" from a Unix ms time (0: never).
std::string ago(const json::value& unix_ms) {
  const auto ms_at = unix_ms.to_number<std::int64_t>();
  if (ms_at <= 0) return "never (since this node started)";
  const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch()).count();
  return fmt::format("{:.1f} s ago", static_cast<double>(now - ms_at) / 1000.0);
}

std::string drops_text(const json::object& s) {
  std::string out = str(s.at("dropped_total"));
  std::string reasons;
  for (const auto& [why, n] : s.at("dropped").as_object())
    reasons += fmt::format("{}{} {}", reasons.empty() ? "" : ", ", str(n), std::string(why));
  return reasons.empty() ? out : out + " (" + reasons + ")";
}

int cmd_validator_status(const Options& o, const Endpoint& ep) {
  const auto r = call(o, ep, "validator_status", {}, ms(o.timeout_s));
  if (o.json) return print_json(r), 0;
  const auto& s = r.as_object();
  if (!s.at("validator").as_bool()) {
    std::cout << fmt::format("not validating: {}; following by block sync at height {}\n", str(s.at("why")),
                             str(s.at("head")));
    return 0;
  }
  if (!s.at("running").as_bool() || !s.contains("height")) {
    std::cout << "validator " << str(s.at("consensus_key")) << " is not running: see the daemon's log\n";
    return 1;
  }
  std::cout << table({{"consensus key", str(s.at("consensus_key"))},
                      {"listen", "tcp " + str(s.at("listen"))},
                      {"height", str(s.at("height"))},
                      {"round", str(s.at("round"))},
                      {"step", str(s.at("step"))},
                      {"last commit", ago(s.at("last_commit_ms"))},
                      {"peers", str(s.at("peers"))},
                      {"votes seen", str(s.at("votes_seen"))},
                      {"decisions", str(s.at("decisions"))},
                      {"dropped", drops_text(s)}});
  return 0;
}
}  // namespace

void add_validator_commands(CLI::App& app, CommandTable& commands) {
  auto* group = add_command_group(app, "validator", "this node as a member of the committee");
  commands.add(group, "status", "height, round, step, last commit, votes seen and dropped messages of the committee core",
               cmd_validator_status);
}

}  // namespace bc::cli
