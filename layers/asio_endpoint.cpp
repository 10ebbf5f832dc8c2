#include "layers/asio_endpoint.hpp"

#include <algorithm>

#include <boost/asio/error.hpp>

namespace bc {
namespace asio = boost::asio;

asio::ip::address to_asio_address(const Endpoint& e) {
  if (e.is_v4()) return asio::ip::address_v4(e.v4_addr());
  asio::ip::address_v6::bytes_type b;
  std::copy(e.ip.begin(), e.ip.end(), b.begin());
  return asio::ip::address_v6(b);
}

Endpoint from_asio(const asio::ip::address& addr, std::uint16_t port) {
  if (addr.is_v4()) return Endpoint::v4(addr.to_v4().to_uint(), port);
  const auto v6 = addr.to_v6();
  if (v6.is_v4_mapped()) return Endpoint::v4(asio::ip::make_address_v4(asio::ip::v4_mapped, v6).to_uint(), port);
  Endpoint out;
  const auto b = v6.to_bytes();
  std::copy(b.begin(), b.end(), out.ip.begin());
  out.port = port;
  return out;
}

std::string bind_advice(const boost::system::error_code& ec) {
  if (ec == asio::error::address_in_use)
    return "another process (maybe another blockcloudd) already uses it; stop that process or "
           "choose another address or port";
  if (ec == boost::system::errc::address_not_available)
    return "the address is not assigned to any local interface (or no longer is); use a local "
           "address such as 127.0.0.1 or one shown by `ip addr`";
  if (ec == boost::system::errc::permission_denied || ec == asio::error::access_denied)
    return "ports below 1024 need privileges; choose a port >= 1024";
  return "check the address and port";
}

}  // namespace bc
