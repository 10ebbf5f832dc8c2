// libFuzzer: arbitrary Host, Origin, Authorization and Content-Type headers
// (and an rpc_auth line) into the RPC's access checks
// (apps/daemon/rpc_access.hpp). The first byte picks the path, the method
// and the bind address; the rest is split at '\n' into the four header
// values (absent when a field is missing) and a config line. Whatever the
// input: no crash; a request let through to /rpc carries exactly the cookie
// or the configured user's password; a request let through names this
// server (or no Host) and carries no foreign Origin.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include <boost/beast/http.hpp>

#include "apps/common/rpc_auth.hpp"
#include "apps/daemon/rpc_access.hpp"

namespace http = boost::beast::http;
using namespace bc::apps;

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

// Fields split at '\n'; CR and NUL dropped (the HTTP parser never yields them).
std::vector<std::string> fields(const std::uint8_t* data, std::size_t size) {
  std::vector<std::string> out(1);
  for (std::size_t i = 0; i < size; ++i) {
    const char c = static_cast<char>(data[i]);
    if (c == '\n') out.emplace_back();
    else if (c != '\r' && c != '\0') out.back() += c;
  }
  return out;
}

std::optional<std::string> field(const std::vector<std::string>& f, std::size_t i) {
  if (i >= f.size() || f[i] == "-") return std::nullopt;
  return f[i];
}

const RpcCredentials& cookie() {
  static const RpcCredentials c{kCookieUser, std::string(64, 'a')};
  return c;
}

RpcUser alice() {
  return RpcUser{"alice", "salt", rpcauth_hmac("salt", "pw")};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t mode = data[0];
  const auto f = fields(data + 1, size - 1);
  static const RpcAccess loopback(*bc::Endpoint::parse("127.0.0.2:10000"), RpcAuthenticator(cookie(), {alice()}));
  static const RpcAccess wildcard(*bc::Endpoint::parse("0.0.0.0:10000"), RpcAuthenticator(cookie(), {alice()}));
  const RpcAccess& access = (mode & 0x04) ? wildcard : loopback;
  static const char* const kPaths[] = {"/rpc", "/health", "/metrics", "/other"};
  const std::string path = kPaths[mode & 0x03];

  HttpRequest req{(mode & 0x08) ? http::verb::get : http::verb::post, path, 11};
  const auto host = field(f, 0), origin = field(f, 1), auth = field(f, 2), type = field(f, 3);
  if (host) req.set(http::field::host, *host);
  if (origin) req.set(http::field::origin, *origin);
  if (auth) req.set(http::field::authorization, *auth);
  if (type) req.set(http::field::content_type, *type);
  if (auto line = field(f, 4)) {
    auto u = parse_rpcauth_line(*line);
    if (u.ok()) check(!u->name.empty() && u->name != kCookieUser && u->name.find(':') == std::string::npos);
  }

  const auto refusal = access.refuse(req, path);
  if (refusal) {
    const auto status = refusal->result_int();
    check(status == 401 || status == 403 || status == 415);
    return 0;
  }
  check(!host || access.host_problem(*host).empty());
  check(!origin || access.origin_problem(*origin, host ? *host : "").empty());
  if (path == "/rpc") {
    check(auth.has_value());
    const auto c = parse_basic_authorization(*auth);
    check(c.has_value());
    check((c->user == cookie().user && c->password == cookie().password) || (c->user == "alice" && c->password == "pw"));
    if (!(mode & 0x08)) check(type && is_json_content_type(*type));
  }
  return 0;
}
