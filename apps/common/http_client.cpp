#include "apps/common/http_client.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

namespace bc::apps {
namespace {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;

asio::ip::tcp::endpoint to_tcp(const Endpoint& e) {
  if (e.is_v4()) return {asio::ip::address_v4(e.v4_addr()), e.port};
  asio::ip::address_v6::bytes_type b;
  std::copy(e.ip.begin(), e.ip.end(), b.begin());
  return {asio::ip::address_v6(b), e.port};
}

std::string describe(const beast::error_code& ec) {
  if (ec == beast::error::timeout) return "timed out";
  return ec.message();
}

// An HTTP-level refusal (401, 403, 415, 503...) with the daemon's reason.
std::string refusal_text(const Endpoint& to, const HttpResponse& resp, const json::value& body) {
  std::string reason = resp.body.substr(0, 200);
  if (const auto* o = body.if_object())
    if (const auto* e = o->if_contains("error"); e && e->is_string()) reason = std::string(e->as_string());
  std::string text = "blockcloudd at " + to.to_string() + " answered HTTP " + std::to_string(resp.status) + ": " + reason;
  if (resp.status == 401)
    text += " — give --datadir DIR (the daemon's, to read DIR/.cookie) or --rpc-user and --rpc-password-file";
  return text;
}
}  // namespace

HttpResponse http_request(const Endpoint& to, const std::string& method, const std::string& target,
                          const std::string& body, std::chrono::milliseconds timeout,
                          const std::optional<RpcCredentials>& auth) {
  asio::io_context io;
  beast::tcp_stream stream(io);
  http::request<http::string_body> req{http::string_to_verb(method), target, 11};
  req.set(http::field::host, to.to_string());
  req.set(http::field::user_agent, "blockcloud-cli");
  req.set(http::field::connection, "close");
  if (!body.empty()) req.set(http::field::content_type, "application/json");
  if (auth) req.set(http::field::authorization, basic_authorization(*auth));
  req.body() = body;
  req.prepare_payload();

  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(16 << 20);
  beast::error_code result;
  const char* stage = "connect to";
  stream.expires_after(timeout);  // one deadline for the whole exchange
  stream.async_connect(to_tcp(to), [&](beast::error_code ec) {
    if (ec) { result = ec; return; }
    stage = "send the request to";
    http::async_write(stream, req, [&](beast::error_code ec2, std::size_t) {
      if (ec2) { result = ec2; return; }
      stage = "read the answer of";
      http::async_read(stream, buffer, parser, [&](beast::error_code ec3, std::size_t) {
        result = ec3;
      });
    });
  });
  io.run();
  if (result)
    throw TransportError(std::string("cannot ") + stage + " blockcloudd at " + to.to_string() +
                         ": " + describe(result));
  HttpResponse out;
  out.status = static_cast<int>(parser.get().result_int());
  out.body = std::move(parser.get().body());
  return out;
}

json::value rpc_result(const Endpoint& to, const HttpResponse& resp) {
  json::error_code ec;
  auto v = json::parse(resp.body, ec);
  if (resp.status != 200) throw TransportError(refusal_text(to, resp, v));
  if (ec || !v.is_object())
    throw TransportError("blockcloudd at " + to.to_string() + " answered HTTP " +
                         std::to_string(resp.status) + " with a body that is not JSON-RPC: " +
                         resp.body.substr(0, 200) + " — is --rpc pointing at a blockcloudd RPC port?");
  auto& obj = v.as_object();
  if (auto* err = obj.if_contains("error")) {
    std::int64_t code = -32603;
    std::string msg = "unknown error";
    if (err->is_object()) {
      if (auto* c = err->as_object().if_contains("code"); c && c->is_int64()) code = c->as_int64();
      if (auto* m = err->as_object().if_contains("message"); m && m->is_string())
        msg = std::string(m->as_string());
    }
    throw RpcError(code, msg);
  }
  if (auto* r = obj.if_contains("result")) return *r;
  throw TransportError("blockcloudd at " + to.to_string() +
                       " answered without \"result\" or \"error\"; is it a blockcloudd RPC port?");
}

std::string rpc_request_body(const std::string& method, const json::value& params) {
  return json::serialize(json::object{{"jsonrpc", "2.0"}, {"id", 1}, {"method", method}, {"params", params}});
}

json::value rpc_call(const Endpoint& to, const std::string& method, const json::value& params,
                     std::chrono::milliseconds timeout, const std::optional<RpcCredentials>& auth) {
  return rpc_result(to, http_request(to, "POST", "/rpc", rpc_request_body(method, params), timeout, auth));
}

struct RpcSession::Conn {
  asio::io_context io;
  beast::tcp_stream stream{io};
  beast::flat_buffer buffer;
};

RpcSession::RpcSession(Endpoint to, std::optional<RpcCredentials> auth, std::chrono::milliseconds timeout)
    : to_(to), auth_(std::move(auth)), timeout_(timeout) {}
RpcSession::~RpcSession() = default;

HttpResponse RpcSession::exchange(const std::string& body) {
  http::request<http::string_body> req{http::verb::post, "/rpc", 11};
  req.set(http::field::host, to_.to_string());
  req.set(http::field::content_type, "application/json");
  if (auth_) req.set(http::field::authorization, basic_authorization(*auth_));
  req.keep_alive(true);
  req.body() = body;
  req.prepare_payload();
  // A fresh connection is tried once more; a reused one may have been
  // closed by the daemon's idle limit since the last call.
  for (int attempt = 0; attempt < 2; ++attempt) {
    const bool fresh = !conn_;
    if (fresh) conn_ = std::make_unique<Conn>();
    Conn& c = *conn_;
    http::response_parser<http::string_body> parser;
    parser.body_limit(16 << 20);
    beast::error_code result;
    c.io.restart();
    c.stream.expires_after(timeout_);
    auto send = [&] {
      http::async_write(c.stream, req, [&](beast::error_code ec, std::size_t) {
        if (ec) { result = ec; return; }
        http::async_read(c.stream, c.buffer, parser, [&](beast::error_code ec2, std::size_t) { result = ec2; });
      });
    };
    if (fresh)
      c.stream.async_connect(to_tcp(to_), [&](beast::error_code ec) { ec ? void(result = ec) : send(); });
    else
      send();
    c.io.run();
    if (!result) {
      HttpResponse out{static_cast<int>(parser.get().result_int()), std::move(parser.get().body())};
      if (!parser.get().keep_alive()) conn_.reset();
      return out;
    }
    conn_.reset();
    if (fresh || result == beast::error::timeout)
      throw TransportError("cannot reach blockcloudd at " + to_.to_string() + ": " + describe(result));
  }
  throw TransportError("blockcloudd at " + to_.to_string() + " closed the connection twice");
}

json::value RpcSession::call_raw(const std::string& body) { return rpc_result(to_, exchange(body)); }

json::value RpcSession::call(const std::string& method, const json::value& params) {
  return call_raw(rpc_request_body(method, params));
}

}  // namespace bc::apps
