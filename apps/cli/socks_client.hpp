// A minimal blocking SOCKS5 client for `blockcloud-cli connect`: CONNECT to a
// domain name through the daemon's gateway, then pump stdin/stdout.
#pragma once
#include <string>

#include "layers/runtime.hpp"

namespace bc::cli {

// Connects to `gateway` and asks it for `host` (e.g. "<service-id>.bc").
// Returns the connected socket, or -1 with `error` saying what failed.
int socks5_connect(const Endpoint& gateway, const std::string& host, std::string& error);

// Copies stdin to fd and fd to stdout until both directions end (stdin EOF
// half-closes the socket). Returns 0, or 1 with `error` on a socket error.
int pump_stdio(int fd, std::string& error);

}  // namespace bc::cli
