// Unit tests of RPC credentials (apps/common/rpc_auth.hpp) and the RPC's
// access checks (apps/daemon/rpc_access.hpp).
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <boost/beast/http.hpp>
#include <doctest/doctest.h>

#include "apps/common/rpc_auth.hpp"
#include "apps/daemon/rpc_access.hpp"

namespace fs = std::filesystem;
namespace http = boost::beast::http;
using namespace bc::apps;

namespace {
fs::path scratch_dir(const char* name) {
  const fs::path d = fs::temp_directory_path() / (std::string("bc-test-rpc-auth-") + name + "-" +
                                                  std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

HttpRequest post(const std::string& host, const std::string& content_type) {
  HttpRequest r{http::verb::post, "/rpc", 11};
  if (!host.empty()) r.set(http::field::host, host);
  if (!content_type.empty()) r.set(http::field::content_type, content_type);
  return r;
}
}  // namespace

TEST_CASE("rpcauth HMAC is HMAC-SHA256(key = salt, message = password) (RFC 4231 case 2)") {
  CHECK(bc::to_hex(rpcauth_hmac("Jefe", "what do ya want for nothing?").bytes) ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST_CASE("an rpcauth line round-trips and malformed lines are refused") {
  const std::string line = make_rpcauth_line("alice", "secret");
  auto u = parse_rpcauth_line(line);
  REQUIRE(u.ok());
  CHECK(u->name == "alice");
  CHECK(u->hmac == rpcauth_hmac(u->salt, "secret"));
  CHECK(!parse_rpcauth_line("alice").ok());
  CHECK(!parse_rpcauth_line("alice:salt$abcd").ok());
  CHECK(!parse_rpcauth_line(":salt$" + std::string(64, 'a')).ok());
  CHECK(!parse_rpcauth_line("__cookie__:salt$" + std::string(64, 'a')).ok());
}

TEST_CASE("the authenticator takes the cookie and configured users, and nothing else") {
  const RpcCredentials cookie{kCookieUser, random_password()};
  RpcAuthenticator auth(cookie, {*parse_rpcauth_line(make_rpcauth_line("alice", "pw1"))});
  CHECK(auth.allows(basic_authorization(cookie)));
  CHECK(auth.allows(basic_authorization({"alice", "pw1"})));
  CHECK_FALSE(auth.allows(basic_authorization({"alice", "pw2"})));
  CHECK_FALSE(auth.allows(basic_authorization({kCookieUser, cookie.password + "0"})));
  CHECK_FALSE(auth.allows(basic_authorization({"bob", "pw1"})));
  CHECK_FALSE(auth.allows(""));
  CHECK_FALSE(auth.allows("Bearer x"));
  CHECK_FALSE(auth.allows("Basic !!!"));
}

TEST_CASE("the cookie file is 0600, readable back, and removed only if it is still ours") {
  const fs::path d = scratch_dir("cookie");
  ::umask(0);
  auto c = write_cookie_file(d);
  ::umask(022);
  REQUIRE(c.ok());
  struct stat st{};
  REQUIRE(::stat((d / kCookieFileName).c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  CHECK(c->password.size() == 64);
  auto back = read_cookie_file(d);
  REQUIRE(back.ok());
  CHECK(back->password == c->password);
  auto newer = write_cookie_file(d);  // another daemon started on the directory
  REQUIRE(newer.ok());
  remove_cookie_file(d, *c);
  CHECK(fs::exists(d / kCookieFileName));
  remove_cookie_file(d, *newer);
  CHECK_FALSE(fs::exists(d / kCookieFileName));
  CHECK(!read_cookie_file(d).ok());
  fs::remove_all(d);
}

TEST_CASE("Host, Origin and Content-Type checks") {
  const RpcCredentials cookie{kCookieUser, random_password()};
  RpcAccess loop(*bc::Endpoint::parse("127.0.0.2:10000"), RpcAuthenticator(cookie, {}));
  CHECK(loop.host_problem("127.0.0.2:10000").empty());
  CHECK(loop.host_problem("127.0.0.2:2222").empty());  // a tunnel's port
  CHECK(loop.host_problem("localhost:10000").empty());
  CHECK_FALSE(loop.host_problem("127.0.0.3:10000").empty());
  CHECK_FALSE(loop.host_problem("evil.example:10000").empty());
  CHECK(loop.origin_problem("http://127.0.0.2:10000", "127.0.0.2:10000").empty());
  CHECK_FALSE(loop.origin_problem("http://evil.example", "127.0.0.2:10000").empty());
  CHECK_FALSE(loop.origin_problem("null", "127.0.0.2:10000").empty());
  RpcAccess any(*bc::Endpoint::parse("0.0.0.0:10000"), RpcAuthenticator(cookie, {}));
  CHECK(any.host_problem("10.1.2.3:10000").empty());
  CHECK(any.host_problem("[::1]:10000").empty());
  CHECK_FALSE(any.host_problem("localhost").empty());
  CHECK_FALSE(any.host_problem("node.example").empty());
  CHECK(is_json_content_type("application/json"));
  CHECK(is_json_content_type("Application/JSON; charset=utf-8"));
  CHECK_FALSE(is_json_content_type("text/plain"));
  CHECK_FALSE(is_json_content_type("application/jsonx"));

  auto req = post("127.0.0.2:10000", "application/json");
  auto r = loop.refuse(req, "/rpc");
  REQUIRE(r);
  CHECK(r->result_int() == 401);
  req.set(http::field::authorization, basic_authorization(cookie));
  CHECK_FALSE(loop.refuse(req, "/rpc"));
  req.set(http::field::content_type, "text/plain");
  CHECK(loop.refuse(req, "/rpc")->result_int() == 415);
  req.set(http::field::origin, "http://evil.example");
  CHECK(loop.refuse(req, "/rpc")->result_int() == 403);
  HttpRequest health{http::verb::get, "/health", 11};
  CHECK_FALSE(loop.refuse(health, "/health"));
  CHECK_FALSE(loop.refuse(health, "/metrics"));
  CHECK(any.refuse(health, "/metrics")->result_int() == 401);  // off loopback, metrics need credentials
}
