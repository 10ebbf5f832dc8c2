// The host's own IP addresses, and which one a node should move to when the
// address it is bound to disappears (docs/sal-host.md, "Address changes").
#pragma once
#include <optional>
#include <vector>

#include "layers/runtime.hpp"

namespace bc {

// Every IP address configured on an interface that is up (getifaddrs), port
// 0. Empty if the system cannot tell; callers must then assume nothing changed.
std::vector<Endpoint> local_ip_addresses();

// True if `ip` (port ignored) is among `present`.
bool address_present(const Endpoint& ip, const std::vector<Endpoint>& present);

// True if a socket can be bound to `ip` (port ignored): the address is this
// host's. Exact where an interface list is not: every 127.x address is local
// while lo lists only 127.0.0.1/8.
bool is_local_address(const Endpoint& ip);

// The address to move to after `current` disappeared: the first of
// `preferred` that is present, else the lowest present address of the same
// family and scope (loopback for loopback, otherwise non-loopback, never
// link-local IPv6). nullopt if there is none. Ports are 0.
std::optional<Endpoint> replacement_address(const Endpoint& current, const std::vector<Endpoint>& present,
                                            const std::vector<Endpoint>& preferred);

}  // namespace bc
