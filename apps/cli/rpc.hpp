// How blockcloud-cli reaches its daemon: global options, the RPC call with
// errors that say what to do, and the failure every command may throw.
#pragma once
#include <chrono>
#include <string>

#include <boost/json.hpp>

#include "layers/runtime.hpp"

namespace bc::cli {

struct Options {
  std::string rpc;
  bool json = false;
  double timeout_s = 30;
};

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
