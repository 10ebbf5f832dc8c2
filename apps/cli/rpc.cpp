#include "apps/cli/rpc.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "apps/cli/commands.hpp"
#include "apps/common/http_client.hpp"

namespace bc::cli {
namespace json = boost::json;
namespace fs = std::filesystem;

namespace {
// The first line of a file holding a secret (kept off the command line,
// where other local users can read it).
std::string read_secret(const std::string& path, const char* flag) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line) || line.empty())
    throw Failure{std::string(flag) + " " + path + ": cannot read a password from its first line"};
  return line;
}

// Where to look for the cookie when --datadir is not given.
std::vector<fs::path> default_datadirs() {
  std::vector<fs::path> dirs;
  if (const char* d = std::getenv("BLOCKCLOUD_DATADIR"); d && *d) return {fs::path(d)};
  if (const char* home = std::getenv("HOME"); home && *home) dirs.push_back(fs::path(home) / ".blockcloud");
  dirs.emplace_back("/var/lib/blockcloud");
  return dirs;
}
}  // namespace

std::chrono::milliseconds ms(double s) { return std::chrono::milliseconds(static_cast<std::int64_t>(s * 1000)); }

void add_credential_options(CLI::App& app, Options& o) {
  app.add_option("--datadir", o.datadir,
                 "the daemon's data directory, to read its RPC cookie DIR/.cookie (default $BLOCKCLOUD_DATADIR, "
                 "else ~/.blockcloud, else /var/lib/blockcloud)");
  app.add_option("--rpc-user", o.rpc_user, "an rpc_auth user of the daemon (instead of the cookie)");
  app.add_option("--rpc-password-file", o.rpc_password_file, "file whose first line is --rpc-user's password");
  app.add_option("--rpc-password", o.rpc_password,
                 "--rpc-user's password (visible to other local users in the process list; prefer the file)");
}

std::optional<RpcCredentials> credentials(const Options& o) {
  if (!o.rpc_user.empty()) {
    if (!o.rpc_password_file.empty()) return RpcCredentials{o.rpc_user, read_secret(o.rpc_password_file, "--rpc-password-file")};
    if (o.rpc_password.empty()) throw Failure{"--rpc-user needs --rpc-password-file (or --rpc-password)"};
    return RpcCredentials{o.rpc_user, o.rpc_password};
  }
  if (!o.rpc_password.empty() || !o.rpc_password_file.empty()) throw Failure{"a password needs --rpc-user NAME"};
  if (!o.datadir.empty()) {
    auto c = bc::apps::read_cookie_file(o.datadir);
    if (!c.ok()) throw Failure{c.status().message};
    return *c;
  }
  for (const auto& dir : default_datadirs())
    if (auto c = bc::apps::read_cookie_file(dir); c.ok()) return *c;
  return std::nullopt;
}

json::value call(const Options& o, const Endpoint& ep, const std::string& method, json::object params,
                 std::chrono::milliseconds timeout) {
  const auto auth = credentials(o);
  try {
    return bc::apps::rpc_call(ep, method, params, timeout, auth);
  } catch (const bc::apps::TransportError& e) {
    std::string msg = e.what();
    if (msg.find("refused") != std::string::npos && msg.find("HTTP") == std::string::npos)
      msg += " — is the daemon running? start it with `blockcloudd --datadir DIR --listen IP:PORT` "
             "(its RPC listens on the listen port + 1000 unless --rpc is given) or point --rpc at it";
    else if (msg.find("timed out") != std::string::npos)
      msg += " — the daemon is busy or --rpc points at a host that drops packets; retry or raise --rpc-timeout";
    throw Failure{msg};
  } catch (const bc::apps::RpcError& e) {
    throw Failure{"blockcloudd at " + o.rpc + " refused " + method + ": " + e.what()};
  }
}

void print_json(const json::value& v) { std::cout << json::serialize(v) << "\n"; }

void add_rpcauth_command(CLI::App& app, RpcAuthArgs& a, CommandTable& commands) {
  auto* c = commands.add(&app, "rpcauth",
                         "print an rpc_auth line for the daemon's config (rpc_auth = [\"...\"] or --rpc-auth) "
                         "and the password to use with --rpc-user",
                         [&a](const Options& o, const Endpoint&) {
                           const std::string password =
                               a.password_file.empty() ? bc::apps::random_password()
                                                       : read_secret(a.password_file, "--password-file");
                           const std::string line = bc::apps::make_rpcauth_line(a.name, password);
                           if (o.json) {
                             print_json(json::object{{"rpc_auth", line}, {"user", a.name}, {"password", password}});
                           } else {
                             std::cout << "rpc_auth = [\"" << line << "\"]   # in the daemon's config file\n";
                             if (a.password_file.empty()) std::cout << "password: " << password << "\n";
                           }
                           return 0;
                         });
  c->add_option("NAME", a.name, "the user name (not __cookie__, no ':')")
      ->required()
      ->check([](const std::string& n) -> std::string {
        if (n == bc::apps::kCookieUser || n.find(':') != std::string::npos || n.empty())
          return "a user name must be non-empty, without ':', and not __cookie__";
        return {};
      });
  c->add_option("--password-file", a.password_file, "use the password on this file's first line instead of a random one")
      ->check(CLI::ExistingFile);
}

}  // namespace bc::cli
