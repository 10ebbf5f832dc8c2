#include "apps/daemon/rpc_service.hpp"

#include <fstream>
#include <array>
#include <map>
#include <utility>
#include <unistd.h>

#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include "layers/asio_driver.hpp"
#include "layers/assert.hpp"

namespace bc::apps {
namespace {
namespace http = boost::beast::http;
namespace json = boost::json;

// Prometheus: resident memory from /proc/self/statm (pages).
double resident_bytes() {
  std::ifstream f("/proc/self/statm");
  long size = 0, resident = 0;
  f >> size >> resident;
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE));
}

// One JSON-RPC call in progress: answers exactly once, and gives back its
// client's pending slot (`release`) when answered, abandoned or dropped.
struct Call {
  json::value id;
  Respond respond;
  std::function<void()> release;
  bool done = false;
  ~Call() { finish(); }
  void finish() {
    done = true;
    if (auto r = std::exchange(release, nullptr)) r();
  }
  void ok(json::value result) {
    if (done) return;
    finish();
    json::object o{{"jsonrpc", "2.0"}, {"id", id}, {"result", std::move(result)}};
    respond(make_json_response(200, json::serialize(o)));
  }
  void fail(int code, const std::string& message) {
    if (done) return;
    finish();
    json::object o{{"jsonrpc", "2.0"}, {"id", id}, {"error", json::object{{"code", code}, {"message", message}}}};
    respond(make_json_response(200, json::serialize(o)));
  }
};

// A request that passed the JSON-RPC envelope checks.
struct Request {
  std::string method;
  json::object params;
};
}  // namespace

struct RpcService::Impl : std::enable_shared_from_this<Impl> {
  Impl(const node::RpcRegistry& registry, metrics::Registry& metrics, RpcServiceInfo info, RpcAccess access)
      : registry(registry), metrics(metrics), info(std::move(info)), access(std::move(access)),
        m_uptime(metrics.gauge("bc_process_uptime_seconds", "Seconds since blockcloudd started")),
        m_start(metrics.gauge("bc_process_start_time_seconds", "Unix time blockcloudd started")),
        m_rss(metrics.gauge("bc_process_resident_memory_bytes", "Resident memory of blockcloudd")),
        m_errors(metrics.counter("bc_rpc_errors_total", "JSON-RPC requests answered with an error")),
        m_refused(metrics.counter("bc_rpc_refused_total",
                                  "HTTP requests refused before any method ran: host, origin, credentials or "
                                  "content type")),
        m_client_limited(metrics.counter("bc_rpc_client_limited_total",
                                         "JSON-RPC calls refused: the client IP had max_pending_per_client in progress")) {
    m_start.set(static_cast<double>(this->info.started_at_ms) / 1000.0);
    for (const auto& m : registry.names()) m_requests[m] = &request_counter(m);
    m_invalid = &request_counter("invalid");
  }

  const node::RpcRegistry& registry;
  metrics::Registry& metrics;
  RpcServiceInfo info;
  RpcAccess access;
  std::map<std::array<std::uint8_t, 16>, int> pending;  // calls in progress by client IP
  metrics::Gauge& m_uptime;
  metrics::Gauge& m_start;
  metrics::Gauge& m_rss;
  metrics::Counter& m_errors;
  metrics::Counter& m_refused;
  metrics::Counter& m_client_limited;
  std::map<std::string, metrics::Counter*> m_requests;
  metrics::Counter* m_invalid = nullptr;

  metrics::Counter& request_counter(const std::string& method) {
    return metrics.counter("bc_rpc_requests_total", "JSON-RPC requests by method", {{"method", method}});
  }

  void handle(const HttpRequest& req, const HttpRequestContext& ctx, Respond respond) {
    std::string path(req.target());
    if (auto q = path.find('?'); q != std::string::npos) path.resize(q);
    if (auto refusal = access.refuse(req, path)) {
      m_refused.inc();
      return respond(std::move(*refusal));
    }
    if (path == "/health") return health(req, std::move(respond));
    if (path == "/metrics") return prometheus(req, std::move(respond));
    if (path == "/rpc") {
      if (req.method() != http::verb::post)
        return respond(make_json_response(405, R"({"error":"use POST /rpc with a JSON-RPC 2.0 request body"})"));
      return rpc(req.body(), ctx, std::move(respond));
    }
    respond(make_json_response(404, R"({"error":"unknown path; endpoints: POST /rpc, GET /metrics, GET /health"})"));
  }

  void health(const HttpRequest& req, const Respond& respond) const {
    if (req.method() != http::verb::get && req.method() != http::verb::head)
      return respond(make_json_response(405, R"({"error":"use GET /health"})"));
    json::object o{{"status", "ok"},
                   {"node_id", info.node_id},
                   {"uptime_s", (AsioUdpDriver::now_ms() - info.started_at_ms) / 1000}};
    respond(make_json_response(200, json::serialize(o)));
  }

  void prometheus(const HttpRequest& req, const Respond& respond) {
    if (req.method() != http::verb::get) return respond(make_json_response(405, R"({"error":"use GET /metrics"})"));
    m_uptime.set(static_cast<double>(AsioUdpDriver::now_ms() - info.started_at_ms) / 1000.0);
    m_rss.set(resident_bytes());
    HttpResponseMsg res{http::status::ok, 11};
    res.set(http::field::server, "blockcloudd");
    res.set(http::field::content_type, "text/plain; version=0.0.4");
    res.body() = metrics.render_prometheus();
    res.prepare_payload();
    respond(std::move(res));
  }

  // The envelope of a JSON-RPC 2.0 request, or nullopt after answering why not.
  std::optional<Request> parse(const std::string& body, Call& call) {
    json::error_code ec;
    json::value v = json::parse(body, ec);
    if (ec)
      return refuse(call, node::kParseError, "request body is not valid JSON (" + ec.message() +
                                                 "); send {\"jsonrpc\":\"2.0\",\"id\":1,\"method\":...}");
    if (v.is_array()) return refuse(call, node::kInvalidRequest, "batch requests are not supported; send one request per POST");
    if (!v.is_object()) return refuse(call, node::kInvalidRequest, "request must be a JSON object");
    auto& o = v.as_object();
    if (auto* id = o.if_contains("id")) call.id = *id;
    const auto* ver = o.if_contains("jsonrpc");
    const auto* method = o.if_contains("method");
    if (!ver || !ver->is_string() || ver->as_string() != "2.0" || !method || !method->is_string())
      return refuse(call, node::kInvalidRequest,
                    "expected {\"jsonrpc\":\"2.0\",\"id\":...,\"method\":\"<name>\",\"params\":{...}}");
    Request r{std::string(method->as_string()), {}};
    if (auto* p = o.if_contains("params"); p && !p->is_null()) {
      if (!p->is_object()) {
        m_errors.inc();
        call.fail(node::kInvalidParams, "invalid params: params: not an object; give named fields");
        return std::nullopt;
      }
      r.params = std::move(p->as_object());
    }
    return r;
  }

  std::nullopt_t refuse(Call& call, int code, const std::string& message) {
    m_invalid->inc();
    m_errors.inc();
    call.fail(code, message);
    return std::nullopt;
  }

  // Counts the call against its client's pending limit; false (after
  // answering) if the client is at the limit.
  bool admit(Call& call, const HttpRequestContext& ctx) {
    int& n = pending[ctx.client.ip];
    if (n >= info.max_pending_per_client) {
      m_client_limited.inc();
      m_errors.inc();
      call.fail(node::kLimitReached, "this client (" + ctx.client.ip_string() + ") already has " + std::to_string(n) +
                                         " calls in progress (rpc_limits.max_pending_per_client); wait for them");
      return false;
    }
    ++n;
    call.release = [weak = weak_from_this(), ip = ctx.client.ip] {
      auto self = weak.lock();
      if (!self) return;
      auto it = self->pending.find(ip);
      BC_ASSERT(it != self->pending.end() && it->second > 0);
      if (--it->second == 0) self->pending.erase(it);
    };
    return true;
  }

  void rpc(const std::string& body, const HttpRequestContext& ctx, Respond respond) {
    auto call = std::make_shared<Call>();
    call->respond = std::move(respond);
    auto req = parse(body, *call);
    if (!req || !admit(*call, ctx)) return;
    // A client that goes away gives its slot back at once; a long-poll also
    // drops what it holds (Reply::on_cancel).
    ctx.on_disconnect([weak = std::weak_ptr<Call>(call)] {
      if (auto c = weak.lock()) c->finish();
    });
    auto counter = m_requests.find(req->method);
    (counter == m_requests.end() ? m_invalid : counter->second)->inc();
    metrics::Counter* errors = &m_errors;
    registry.call(req->method, node::Params(std::move(req->params)),
                  node::Reply{[call](json::value v) { call->ok(std::move(v)); },
                              [call, errors, method = req->method](int code, const std::string& message) {
                                if (call->done) return;
                                errors->inc();
                                if (code == node::kInternalError) spdlog::error("rpc {} failed: {}", method, message);
                                call->fail(code, message);
                              },
                              ctx.on_disconnect});
  }
};

RpcService::RpcService(const node::RpcRegistry& registry, metrics::Registry& metrics, RpcServiceInfo info,
                       RpcAccess access)
    : impl_(std::make_shared<Impl>(registry, metrics, std::move(info), std::move(access))) {}

RpcService::~RpcService() = default;

void RpcService::handle(const HttpRequest& req, const HttpRequestContext& ctx, Respond respond) {
  impl_->handle(req, ctx, std::move(respond));
}

}  // namespace bc::apps
