// How blockcloud-cli reaches its daemon: global options, the credentials
// (the daemon's cookie or a configured user), the RPC call with errors that
// say what to do, and the failure every command may throw.
#pragma once
#include <chrono>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>
#include <boost/json.hpp>

#include "apps/common/rpc_auth.hpp"
#include "layers/runtime.hpp"

namespace bc::cli {

using apps::RpcCredentials;

struct Options {
  std::string rpc;
  std::string datadir;  // the daemon's, for DATADIR/.cookie; empty: the defaults below
  std::string rpc_user, rpc_password, rpc_password_file;
  bool json = false;
  double timeout_s = 30;
};

// Adds --datadir, --rpc-user, --rpc-password and --rpc-password-file.
void add_credential_options(CLI::App& app, Options& o);
// What to authenticate with: --rpc-user with its password, else the cookie
// in --datadir ($BLOCKCLOUD_DATADIR, else ~/.blockcloud, else
// /var/lib/blockcloud, the first that holds one). nullopt when no cookie is
// found (the daemon then answers 401, and the error says what to give).
// Throws Failure for an unreadable password file or a cookie that --datadir
// names but that cannot be read.
std::optional<RpcCredentials> credentials(const Options& o);

// `blockcloud-cli rpcauth NAME`: prints an rpc_auth line and its password.
struct RpcAuthArgs {
  std::string name;
  std::string password_file;  // empty: a random password
};
class CommandTable;
void add_rpcauth_command(CLI::App& app, RpcAuthArgs& a, CommandTable& commands);

// A command failed; main prints the message and exits 1.
struct Failure {
  std::string message;
};

std::chrono::milliseconds ms(double seconds);

// Calls `method` on the daemon at ep; a transport or RPC error becomes a
// Failure saying what went wrong and what to try.
boost::json::value call(const Options& o, const Endpoint& ep, const std::string& method,
                        boost::json::object params, std::chrono::milliseconds timeout);
inline boost::json::value call(const Options& o, const Endpoint& ep, const std::string& method,
                               boost::json::object params = {}) {
  return call(o, ep, method, std::move(params), ms(o.timeout_s));
}

void print_json(const boost::json::value& v);

}  // namespace bc::cli
