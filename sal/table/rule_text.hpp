// One-line text form of a service-table rule, shared by the config file and
// `blockcloud-cli rules add ...`. format_rule() prints a rule so that
// parse_rule() gives the same rule back.
//
//   <service>[/<bits>] <action> [prio <n>] [weight <n>]      # comment
//   <service>  s<58 base32 chars>      a service id (bc::id_to_text('s', id)), prefix /256 unless /<bits>
//              <service id>.bc         the same, as the SOCKS host name
//              <1..64 hex digits>      a prefix of 4 bits per digit unless /<bits> (at most that many)
//              *                       every service (/0)
//   <action>   forward <ip:port>[*<weight>][,<ip:port>[*<weight>]...]
//              demux <listener>        [A-Za-z0-9._-], 1..64 characters
//              delay [<n>ms|<n>s]      default 2000ms, 1ms..60s
//              drop
//   prio       0..4294967295, default 0 (higher wins within a prefix)
//   weight     1..1000000, default 1 (share among rules of equal prefix and priority)
//
// Examples:
//   s3kq...x7a.bc forward 127.0.0.2:4000*3,[::1]:4000 prio 10
//   0a/8 demux web
//   * delay 5s
//   ffee/16 drop
#pragma once
#include <optional>
#include <string>
#include <string_view>

#include "sal/table/service_table.hpp"

namespace bc::sal {

// The whole syntax in a few lines, for usage and error messages.
extern const char* const kRuleSyntax;

// One rule (id 0); leading/trailing blanks and a trailing "# comment" are
// ignored. Refused with kInvalidArgument saying what was wrong and the
// expected form.
Result<Rule> parse_rule(std::string_view line);
// The <service>[/<bits>] part alone (also for `rules remove`/lookups by prefix).
Result<ServicePrefix> parse_prefix(std::string_view text);

std::string format_rule(const Rule& r);

// parse_rule() then table.add(): the new rule id, or the parse or add error
// (for the config loader and the CLI's `rules add`).
Result<RuleId> add_rule_text(ServiceTable& table, std::string_view line);
// "*" for /0, the service id text for /256, otherwise "<hex digits>/<bits>".
std::string format_prefix(const ServicePrefix& p);

}  // namespace bc::sal
