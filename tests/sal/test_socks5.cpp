// SOCKS5 server negotiator (sal/gateways/socks5.hpp): the sans-I/O core, fed bytes
// directly. The gateway on real sockets is tested in test_gateways.cpp.
#include <doctest/doctest.h>

#include <boost/asio/error.hpp>

#include "layers/crypto.hpp"
#include "layers/runtime.hpp"
#include "sal/records/service_id.hpp"
#include "sal/gateways/socks5.hpp"

using namespace bc;
using namespace bc::sal;
using socks5::Reject;
using socks5::Reply;
using socks5::ServerNegotiator;
using State = ServerNegotiator::State;

namespace {

ServiceId some_service(std::uint8_t seed) {
  ServiceId id;
  for (std::size_t i = 0; i < id.bytes.size(); ++i) id.bytes[i] = static_cast<std::uint8_t>(seed * 31 + i);
  return id;
}

Bytes greeting(std::initializer_list<std::uint8_t> methods) {
  Bytes g{0x05, static_cast<std::uint8_t>(methods.size())};
  g.insert(g.end(), methods);
  return g;
}

Bytes domain_request(std::string_view host, std::uint16_t port = 80, std::uint8_t cmd = 0x01) {
  Bytes r{0x05, cmd, 0x00, 0x03, static_cast<std::uint8_t>(host.size())};
  r.insert(r.end(), host.begin(), host.end());
  r.push_back(static_cast<std::uint8_t>(port >> 8));
  r.push_back(static_cast<std::uint8_t>(port));
  return r;
}

Bytes cat(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

Bytes reply(Reply code) {
  return {0x05, static_cast<std::uint8_t>(code), 0x00, 0x01, 0, 0, 0, 0, 0, 0};
}

// Feeds everything in one call; returns what the negotiator queued.
Bytes run(ServerNegotiator& n, const Bytes& in, std::size_t* used = nullptr) {
  auto u = n.feed(in);
  if (used) *used = u;
  Bytes out = std::move(n.output());
  n.output().clear();
  return out;
}

}  // namespace

TEST_CASE("socks5: greeting and CONNECT to <id>.bc, whole and byte at a time") {
  const auto id = some_service(1);
  const auto host = service_host_name(id);
  const Bytes all = cat(greeting({0x00}), domain_request(host, 443));

  SUBCASE("one chunk") {
    ServerNegotiator n;
    std::size_t used = 0;
    CHECK(run(n, all, &used) == Bytes{0x05, 0x00});
    CHECK(used == all.size());
    REQUIRE(n.state() == State::kConnecting);
    CHECK(n.service() == id);
    CHECK(n.host() == host);
    CHECK(n.port() == 443);
  }
  SUBCASE("one byte at a time") {
    ServerNegotiator n;
    Bytes out;
    for (auto b : all) {
      CHECK(n.feed(ByteView{&b, 1}) == 1);
      out = cat(out, n.output());
      n.output().clear();
    }
    CHECK(out == Bytes{0x05, 0x00});
    REQUIRE(n.state() == State::kConnecting);
    CHECK(n.service() == id);
  }
  SUBCASE("success reply, then application bytes are not consumed") {
    ServerNegotiator n;
    const Bytes data{'G', 'E', 'T'};
    std::size_t used = 0;
    run(n, cat(all, data), &used);
    CHECK(used == all.size());  // the rest is early application data
    n.connect_succeeded();
    CHECK(n.state() == State::kEstablished);
    CHECK(run(n, {}) == reply(Reply::kSucceeded));
    CHECK(n.feed(data) == 0);
  }
  SUBCASE("upper case, trailing dot, several methods") {
    std::string upper = host;
    for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    ServerNegotiator n;
    CHECK(run(n, cat(greeting({0x02, 0x01, 0x00}), domain_request(upper + "."))) ==
          Bytes{0x05, 0x00});
    REQUIRE(n.state() == State::kConnecting);
    CHECK(n.service() == id);
  }
}

TEST_CASE("socks5: connect outcome becomes the right reply code") {
  const auto host = service_host_name(some_service(2));
  ServerNegotiator n;
  run(n, cat(greeting({0x00}), domain_request(host)));
  REQUIRE(n.state() == State::kConnecting);
  n.connect_failed(Reply::kHostUnreachable);
  CHECK(n.failed());
  CHECK(run(n, {}) == reply(Reply::kHostUnreachable));
  // A second outcome is ignored.
  n.connect_succeeded();
  CHECK(n.failed());
  CHECK(n.output().empty());

  namespace errc = boost::system::errc;
  CHECK(ServerNegotiator::reply_for(make_error_code(errc::connection_refused)) ==
        Reply::kConnectionRefused);
  CHECK(ServerNegotiator::reply_for(make_error_code(errc::host_unreachable)) ==
        Reply::kHostUnreachable);
  CHECK(ServerNegotiator::reply_for(boost::asio::error::host_not_found) ==
        Reply::kHostUnreachable);
  CHECK(ServerNegotiator::reply_for(make_error_code(errc::network_unreachable)) ==
        Reply::kNetworkUnreachable);
  CHECK(ServerNegotiator::reply_for(make_error_code(errc::timed_out)) == Reply::kTtlExpired);
  CHECK(ServerNegotiator::reply_for(make_error_code(errc::permission_denied)) ==
        Reply::kNotAllowed);
  CHECK(ServerNegotiator::reply_for(make_error_code(errc::io_error)) == Reply::kGeneralFailure);
}

TEST_CASE("socks5: malformed greetings are refused at once") {
  SUBCASE("not SOCKS5 (HTTP, SOCKS4, TLS): first byte decides, no reply") {
    for (std::uint8_t first : {std::uint8_t{'G'}, std::uint8_t{0x04}, std::uint8_t{0x16}}) {
      ServerNegotiator n;
      const Bytes in{first, 0x01, 0x00, 0x41, 0x42};
      std::size_t used = 0;
      CHECK(run(n, in, &used).empty());
      CHECK(used == 1);
      CHECK(n.failed());
      CHECK(n.reject() == Reject::kBadVersion);
      CHECK(n.error().find("SOCKS5") != std::string::npos);
    }
  }
  SUBCASE("no methods") {
    ServerNegotiator n;
    CHECK(run(n, {0x05, 0x00}).empty());
    CHECK(n.reject() == Reject::kBadGreeting);
  }
  SUBCASE("no-auth not offered: 05 FF") {
    ServerNegotiator n;
    CHECK(run(n, greeting({0x02, 0x01})) == Bytes{0x05, 0xFF});
    CHECK(n.failed());
    CHECK(n.reject() == Reject::kNoAcceptableMethod);
  }
  SUBCASE("a full 255-method greeting is accepted (the largest)") {
    Bytes g{0x05, 0xFF};
    for (int i = 0; i < 255; ++i) g.push_back(static_cast<std::uint8_t>(i == 254 ? 0 : 0x80));
    CHECK(g.size() == socks5::kMaxGreetingBytes);
    ServerNegotiator n;
    CHECK(run(n, g) == Bytes{0x05, 0x00});
    CHECK(n.state() == State::kRequest);
  }
}

TEST_CASE("socks5: refused requests get the documented reply codes") {
  auto refuse = [](const Bytes& request, Reply code, Reject why) {
    ServerNegotiator n;
    run(n, greeting({0x00}));
    REQUIRE(n.state() == State::kRequest);
    CHECK(run(n, request) == reply(code));
    CHECK(n.failed());
    CHECK(n.reject() == why);
    CHECK_FALSE(n.error().empty());
  };
  const auto host = service_host_name(some_service(3));
  SUBCASE("IPv4 target: 0x08") {
    refuse({0x05, 0x01, 0x00, 0x01, 127, 0, 0, 1, 0, 80}, Reply::kAddressTypeNotSupported,
           Reject::kIpTarget);
  }
  SUBCASE("IPv6 target: 0x08") {
    Bytes r{0x05, 0x01, 0x00, 0x04};
    r.resize(4 + 16, 0);
    r.back() = 1;
    r.insert(r.end(), {0, 80});
    refuse(r, Reply::kAddressTypeNotSupported, Reject::kIpTarget);
  }
  SUBCASE("unknown address type: 0x08 at its first byte") {
    refuse({0x05, 0x01, 0x00, 0x07}, Reply::kAddressTypeNotSupported,
           Reject::kUnknownAddressType);
  }
  SUBCASE("BIND and UDP ASSOCIATE: 0x07") {
    refuse(domain_request(host, 80, 0x02), Reply::kCommandNotSupported,
           Reject::kUnsupportedCommand);
    refuse(domain_request(host, 80, 0x03), Reply::kCommandNotSupported,
           Reject::kUnsupportedCommand);
  }
  SUBCASE("not a .bc name: 0x04") {
    refuse(domain_request("example.com"), Reply::kHostUnreachable, Reject::kNotServiceName);
    refuse(domain_request(""), Reply::kHostUnreachable, Reject::kNotServiceName);
    refuse(domain_request(host.substr(0, host.size() - 3)), Reply::kHostUnreachable,
           Reject::kNotServiceName);  // bare ID without ".bc"
  }
  SUBCASE("malformed service ID: 0x04") {
    std::string typo = host;
    typo[10] = typo[10] == 'a' ? 'b' : 'a';  // checksum no longer matches
    refuse(domain_request(typo), Reply::kHostUnreachable, Reject::kBadServiceId);
    refuse(domain_request("nope.bc"), Reply::kHostUnreachable, Reject::kBadServiceId);
    refuse(domain_request(std::string(250, 'a') + ".bc"), Reply::kHostUnreachable,
           Reject::kBadServiceId);
    refuse(domain_request(std::string("s\0\x01.bc", 6)), Reply::kHostUnreachable,
           Reject::kBadServiceId);
  }
  SUBCASE("request version and reserved byte: 0x01") {
    refuse({0x04, 0x01, 0x00, 0x03}, Reply::kGeneralFailure, Reject::kBadRequestVersion);
    Bytes r = domain_request(host);
    r[2] = 0x01;
    refuse(r, Reply::kGeneralFailure, Reject::kBadReserved);
  }
}

TEST_CASE("socks5: random input never consumes more than two bounded messages") {
  Rng rng(42);
  for (int round = 0; round < 20000; ++round) {
    Bytes in(rng.uniform(700));
    rng.fill(in);
    if (rng.uniform(2)) {
      in.insert(in.begin(), {0x05, 0x01, 0x00});  // past the greeting, into the request
      in.insert(in.begin() + 3, {0x05, static_cast<std::uint8_t>(rng.uniform(5)), 0x00,
                                 static_cast<std::uint8_t>(rng.uniform(5))});
    }
    ServerNegotiator n;
    std::size_t used = 0;
    // Random chunking: the result must not depend on how bytes arrive.
    while (used < in.size()) {
      const auto chunk = 1 + rng.uniform(in.size() - used);
      const auto took = n.feed(ByteView{in.data() + used, chunk});
      used += took;
      if (took < chunk) break;
    }
    CHECK(used <= socks5::kMaxGreetingBytes + socks5::kMaxRequestBytes);
    CHECK(n.output().size() <= 2 + 10);
    if (n.failed()) CHECK_FALSE(n.error().empty());
    ServerNegotiator whole;
    const auto took_whole = whole.feed(in);
    CHECK(took_whole == used);
    CHECK(whole.state() == n.state());
    CHECK(whole.output() == n.output());
  }
}

namespace {

Bytes user_pass(std::string_view user, std::string_view pass, std::uint8_t ver = 0x01) {
  Bytes m{ver, static_cast<std::uint8_t>(user.size())};
  m.insert(m.end(), user.begin(), user.end());
  m.push_back(static_cast<std::uint8_t>(pass.size()));
  m.insert(m.end(), pass.begin(), pass.end());
  return m;
}

}  // namespace

TEST_CASE("socks5: with credentials, method 2 and the right username/password are required") {
  const socks5::UserPass creds("alice", "correct horse");
  const auto name = service_host_name(some_service(7));
  SUBCASE("right credentials, whole and byte at a time") {
    const Bytes all = cat(cat(greeting({0x00, 0x02}), user_pass("alice", "correct horse")),
                          domain_request(name));
    ServerNegotiator whole(&creds);
    CHECK(run(whole, all) == Bytes{0x05, 0x02, 0x01, 0x00});
    CHECK(whole.state() == State::kConnecting);
    ServerNegotiator bytes(&creds);
    Bytes out;
    for (auto b : all) {
      bytes.feed(ByteView(&b, 1));
      out.insert(out.end(), bytes.output().begin(), bytes.output().end());
      bytes.output().clear();
    }
    CHECK(out == Bytes{0x05, 0x02, 0x01, 0x00});
    CHECK(bytes.state() == State::kConnecting);
    CHECK(bytes.service() == some_service(7));
  }
  SUBCASE("no-auth only: 05 FF") {
    ServerNegotiator n(&creds);
    CHECK(run(n, greeting({0x00})) == Bytes{0x05, 0xFF});
    CHECK(n.reject() == Reject::kNoAcceptableMethod);
    CHECK(n.error().find("requires credentials") != std::string::npos);
  }
  SUBCASE("wrong password, wrong user, prefix, empty: 01 01 and failed") {
    for (const auto& [u, p] : std::vector<std::pair<std::string, std::string>>{
             {"alice", "wrong"}, {"bob", "correct horse"}, {"alice", "correct hors"},
             {"alice", "correct horse!"}, {"", ""}, {"alice", ""}}) {
      ServerNegotiator n(&creds);
      run(n, greeting({0x02}));
      std::size_t used = 0;
      CHECK(run(n, cat(user_pass(u, p), domain_request(name)), &used) == Bytes{0x01, 0x01});
      CHECK(n.failed());
      CHECK(n.reject() == Reject::kBadCredentials);
      CHECK(used == user_pass(u, p).size());
      CHECK(socks5::reject_label(n.reject()) == "bad_credentials");
    }
  }
  SUBCASE("wrong sub-negotiation version") {
    ServerNegotiator n(&creds);
    run(n, greeting({0x02}));
    CHECK(run(n, user_pass("alice", "correct horse", 0x05)) == Bytes{0x01, 0x01});
    CHECK(n.reject() == Reject::kBadAuthVersion);
  }
  SUBCASE("without credentials configured, a client offering only method 2 gets 05 FF") {
    ServerNegotiator n;
    CHECK(run(n, greeting({0x02})) == Bytes{0x05, 0xFF});
  }
  CHECK_THROWS_AS(socks5::UserPass("", "x"), std::invalid_argument);
  CHECK_THROWS_AS(socks5::UserPass("x", std::string(256, 'p')), std::invalid_argument);
}
