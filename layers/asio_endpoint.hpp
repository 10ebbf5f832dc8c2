// Conversions between bc::Endpoint and Boost.Asio addresses, and the advice
// every driver gives when a bind fails. Shared by the UDP driver, StreamNet,
// the SAL host and its gateways.
#pragma once
#include <string>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/system/error_code.hpp>

#include "layers/runtime.hpp"

namespace bc {

boost::asio::ip::address to_asio_address(const Endpoint& e);
inline boost::asio::ip::udp::endpoint to_udp(const Endpoint& e) { return {to_asio_address(e), e.port}; }
inline boost::asio::ip::tcp::endpoint to_tcp(const Endpoint& e) { return {to_asio_address(e), e.port}; }

// IPv4-mapped IPv6 addresses come back as IPv4, as Endpoint holds them.
Endpoint from_asio(const boost::asio::ip::address& addr, std::uint16_t port);
inline Endpoint from_asio(const boost::asio::ip::udp::endpoint& e) { return from_asio(e.address(), e.port()); }
inline Endpoint from_asio(const boost::asio::ip::tcp::endpoint& e) { return from_asio(e.address(), e.port()); }

// What the operator should do about a failed bind (in use, not local, ...).
std::string bind_advice(const boost::system::error_code& ec);

}  // namespace bc
