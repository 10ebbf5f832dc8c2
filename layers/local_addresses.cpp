#include "layers/local_addresses.hpp"

#include <algorithm>
#include <iterator>

#include <ifaddrs.h>
#include <net/if.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <netinet/in.h>

#include "layers/asio_endpoint.hpp"

namespace bc {

namespace {
Endpoint without_port(Endpoint e) {
  e.port = 0;
  return e;
}

bool same_ip(const Endpoint& a, const Endpoint& b) { return without_port(a) == without_port(b); }

bool is_loopback(const Endpoint& e) { return to_asio_address(e).is_loopback(); }

bool is_link_local(const Endpoint& e) {
  const auto a = to_asio_address(e);
  return a.is_v6() && a.to_v6().is_link_local();
}
}  // namespace

std::vector<Endpoint> local_ip_addresses() {
  std::vector<Endpoint> out;
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return out;
  for (ifaddrs* i = list; i; i = i->ifa_next) {
    if (!i->ifa_addr || !(i->ifa_flags & IFF_UP)) continue;
    if (i->ifa_addr->sa_family == AF_INET) {
      const auto* sa = reinterpret_cast<const sockaddr_in*>(i->ifa_addr);
      out.push_back(Endpoint::v4(ntohl(sa->sin_addr.s_addr), 0));
    } else if (i->ifa_addr->sa_family == AF_INET6) {
      const auto* sa = reinterpret_cast<const sockaddr_in6*>(i->ifa_addr);
      boost::asio::ip::address_v6::bytes_type b{};
      std::copy(std::begin(sa->sin6_addr.s6_addr), std::end(sa->sin6_addr.s6_addr), b.begin());
      out.push_back(from_asio(boost::asio::ip::address_v6(b), 0));
    }
  }
  ::freeifaddrs(list);
  return out;
}

bool address_present(const Endpoint& ip, const std::vector<Endpoint>& present) {
  return std::any_of(present.begin(), present.end(), [&](const Endpoint& p) { return same_ip(p, ip); });
}

bool is_local_address(const Endpoint& ip) {
  boost::asio::io_context io;
  boost::asio::ip::udp::socket probe(io);
  boost::system::error_code ec;
  const auto at = to_udp(without_port(ip));
  probe.open(at.protocol(), ec);
  if (!ec) probe.bind(at, ec);
  // Only "not an address of ours" counts; any other failure (no sockets
  // left, say) must not move the node.
  return ec != boost::system::errc::address_not_available;
}

std::optional<Endpoint> replacement_address(const Endpoint& current, const std::vector<Endpoint>& present,
                                            const std::vector<Endpoint>& preferred) {
  for (const auto& p : preferred)
    if (!same_ip(p, current) && address_present(p, present)) return without_port(p);
  std::vector<Endpoint> same_kind;
  for (const auto& p : present) {
    if (same_ip(p, current) || p.is_v4() != current.is_v4()) continue;
    if (is_loopback(p) != is_loopback(current) || is_link_local(p)) continue;
    same_kind.push_back(without_port(p));
  }
  if (same_kind.empty()) return std::nullopt;
  return *std::min_element(same_kind.begin(), same_kind.end(),
                           [](const Endpoint& a, const Endpoint& b) { return a.to_string() < b.to_string(); });
}

}  // namespace bc
