#include "apps/daemon/rpc_access.hpp"

#include <algorithm>
#include <cctype>

#include <boost/beast/http.hpp>

#include "layers/config.hpp"

namespace bc::apps {
namespace {
namespace http = boost::beast::http;

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The host part of a Host header value: "[::1]:80" -> "::1", "a:80" -> "a".
std::string_view host_name(std::string_view host) {
  if (!host.empty() && host.front() == '[') {
    const auto close = host.find(']');
    return close == std::string_view::npos ? host : host.substr(1, close - 1);
  }
  const auto colon = host.find(':');
  if (colon != std::string_view::npos && host.find(':', colon + 1) == std::string_view::npos)
    return host.substr(0, colon);
  return host;
}

bool is_wildcard(const Endpoint& e) {
  if (e.is_v4()) return e.v4_addr() == 0;
  return std::all_of(e.ip.begin(), e.ip.end(), [](std::uint8_t b) { return b == 0; });
}

HttpResponseMsg refusal(unsigned status, const std::string& message) {
  auto res = make_json_response(status, error_json(message));
  if (status == 401) res.set(http::field::www_authenticate, "Basic realm=\"blockcloudd\"");
  return res;
}
}  // namespace

bool is_json_content_type(std::string_view content_type) {
  return lower(trim(content_type.substr(0, content_type.find(';')))) == "application/json";
}

RpcAccess::RpcAccess(Endpoint bind, RpcAuthenticator auth)
    : bind_(bind), loopback_(is_loopback(bind)), wildcard_(is_wildcard(bind)), auth_(std::move(auth)) {}

std::string RpcAccess::host_problem(std::string_view host) const {
  const std::string name = lower(host_name(trim(host)));
  if (name == "localhost" || name == "localhost.") {
    if (loopback_) return {};
    return "Host localhost does not name this RPC (it listens on " + bind_.ip_string() + ")";
  }
  const auto ip = Endpoint::parse_ip(name, 0);
  if (!ip)
    return "Host \"" + std::string(host) + "\" is a name, not this RPC's address; use http://" + bind_.to_string() +
           " (names are refused against DNS rebinding)";
  if (wildcard_ || ip->ip == bind_.ip) return {};
  return "Host \"" + std::string(host) + "\" is not this RPC's address " + bind_.ip_string();
}

std::string RpcAccess::origin_problem(std::string_view origin, std::string_view host) const {
  if (lower(trim(origin)) == "http://" + lower(trim(host)) && !trim(host).empty()) return {};
  return "cross-origin request from \"" + std::string(origin) +
         "\" refused; the RPC accepts no Origin, or its own (http://" + bind_.to_string() + ")";
}

std::optional<HttpResponseMsg> RpcAccess::refuse(const HttpRequest& req, const std::string& path) const {
  const auto host_it = req.find(http::field::host);
  const std::string_view host = host_it == req.end() ? std::string_view{} : std::string_view(host_it->value());
  if (host_it != req.end())
    if (auto why = host_problem(host); !why.empty()) return refusal(403, why);
  if (auto o = req.find(http::field::origin); o != req.end())
    if (auto why = origin_problem(std::string_view(o->value()), host); !why.empty()) return refusal(403, why);
  const bool open = path == "/health" || (path == "/metrics" && loopback_);
  if (!open) {
    const auto a = req.find(http::field::authorization);
    if (!auth_.allows(a == req.end() ? std::string_view{} : std::string_view(a->value())))
      return refusal(401, std::string(a == req.end() ? "authorization required" : "wrong user or password") +
                              ": send HTTP Basic credentials, the cookie in the daemon's DATADIR/.cookie "
                              "(blockcloud-cli --datadir DIR) or an rpc_auth user");
  }
  if (path == "/rpc" && req.method() == http::verb::post) {
    const auto ct = req.find(http::field::content_type);
    if (ct == req.end() || !is_json_content_type(std::string_view(ct->value())))
      return refusal(415, "Content-Type must be application/json");
  }
  return std::nullopt;
}

}  // namespace bc::apps
