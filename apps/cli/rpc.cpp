#include "apps/cli/rpc.hpp"

#include <iostream>

#include "apps/common/http_client.hpp"

namespace bc::cli {
namespace json = boost::json;

std::chrono::milliseconds ms(double s) { return std::chrono::milliseconds(static_cast<std::int64_t>(s * 1000)); }

json::value call(const Options& o, const Endpoint& ep, const std::string& method, json::object params,
                 std::chrono::milliseconds timeout) {
  try {
    return bc::apps::rpc_call(ep, method, params, timeout);
  } catch (const bc::apps::TransportError& e) {
    std::string msg = e.what();
    if (msg.find("refused") != std::string::npos)
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

}  // namespace bc::cli
