// Which address a node moves to when its own disappears.
#include <doctest/doctest.h>

#include "layers/local_addresses.hpp"

using namespace bc;

namespace {
Endpoint ip(const char* text) { return *Endpoint::parse_ip(text, 0); }
}  // namespace

TEST_CASE("local addresses: the host's own list includes loopback") {
  const auto all = local_ip_addresses();
  CHECK(address_present(ip("127.0.0.1"), all));
  CHECK(address_present(*Endpoint::parse("127.0.0.1:4000"), all));  // the port does not matter
}

TEST_CASE("local addresses: any loopback address can be bound; a foreign one cannot") {
  CHECK(is_local_address(*Endpoint::parse("127.0.0.1:9")));
  CHECK(is_local_address(*Endpoint::parse("127.0.1.2:0")));  // lo lists only 127.0.0.1/8
  CHECK_FALSE(is_local_address(*Endpoint::parse("192.0.2.77:0")));  // TEST-NET-1: never ours
}

TEST_CASE("local addresses: a replacement prefers the operator's list, then the same kind of address") {
  const std::vector<Endpoint> present = {ip("127.0.0.1"), ip("10.9.0.7"), ip("10.9.0.2"), ip("fe80::1"),
                                         ip("2001:db8::5")};
  // The preferred list wins when one of it is present; absent ones are skipped.
  CHECK(replacement_address(ip("10.9.0.1"), present, {ip("10.9.0.9"), ip("10.9.0.7")}) == ip("10.9.0.7"));
  // Otherwise the lowest address of the same family and scope: never loopback for a global address.
  CHECK(replacement_address(ip("10.9.0.1"), present, {}) == ip("10.9.0.2"));
  CHECK(replacement_address(ip("2001:db8::1"), present, {}) == ip("2001:db8::5"));  // not link-local
  CHECK_FALSE(replacement_address(ip("10.9.0.1"), {ip("127.0.0.1")}, {}).has_value());
  CHECK(replacement_address(*Endpoint::parse("127.0.0.9:9000"), present, {}) == ip("127.0.0.1"));
  // The address that disappeared is never its own replacement.
  CHECK_FALSE(replacement_address(ip("10.9.0.2"), {ip("10.9.0.2")}, {ip("10.9.0.2")}).has_value());
}
