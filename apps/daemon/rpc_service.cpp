#include "apps/daemon/rpc_service.hpp"

#include <fstream>
#include <map>
#include <unistd.h>

#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include "layers/asio_driver.hpp"

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

// One JSON-RPC call in progress: answers exactly once.
struct Call {
  json::value id;
  Respond respond;
  bool done = false;
  void ok(json::value result) {
    if (done) return;
    done = true;
    json::object o{{"jsonrpc", "2.0"}, {"id", id}, {"result", std::move(result)}};
    respond(make_json_response(200, json::serialize(o)));
  }
  void fail(int code, const std::string& message) {
    if (done) return;
    done = true;
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

struct RpcService::Impl {
  Impl(const node::RpcRegistry& registry, metrics::Registry& metrics, RpcServiceInfo info)
      : registry(registry), metrics(metrics), info(std::move(info)),
        m_uptime(metrics.gauge("bc_process_uptime_seconds", "Seconds since blockcloudd started")),
        m_start(metrics.gauge("bc_process_start_time_seconds", "Unix time blockcloudd started")),
        m_rss(metrics.gauge("bc_process_resident_memory_bytes", "Resident memory of blockcloudd")),
        m_errors(metrics.counter("bc_rpc_errors_total", "JSON-RPC requests answered with an error")) {
    m_start.set(static_cast<double>(this->info.started_at_ms) / 1000.0);
    for (const auto& m : registry.names()) m_requests[m] = &request_counter(m);
    m_invalid = &request_counter("invalid");
  }

  const node::RpcRegistry& registry;
  metrics::Registry& metrics;
  RpcServiceInfo info;
  metrics::Gauge& m_uptime;
  metrics::Gauge& m_start;
  metrics::Gauge& m_rss;
  metrics::Counter& m_errors;
  std::map<std::string, metrics::Counter*> m_requests;
  metrics::Counter* m_invalid = nullptr;

  metrics::Counter& request_counter(const std::string& method) {
    return metrics.counter("bc_rpc_requests_total", "JSON-RPC requests by method", {{"method", method}});
  }

  void handle(const HttpRequest& req, Respond respond) {
    std::string path(req.target());
    if (auto q = path.find('?'); q != std::string::npos) path.resize(q);
    if (path == "/health") return health(req, std::move(respond));
    if (path == "/metrics") return prometheus(req, std::move(respond));
    if (path == "/rpc") {
      if (req.method() != http::verb::post)
        return respond(make_json_response(405, R"({"error":"use POST /rpc with a JSON-RPC 2.0 request body"})"));
      return rpc(req.body(), std::move(respond));
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

  void rpc(const std::string& body, Respond respond) {
    auto call = std::make_shared<Call>();
    call->respond = std::move(respond);
    auto req = parse(body, *call);
    if (!req) return;
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
                              }});
  }
};

RpcService::RpcService(const node::RpcRegistry& registry, metrics::Registry& metrics, RpcServiceInfo info)
    : impl_(std::make_shared<Impl>(registry, metrics, std::move(info))) {}

RpcService::~RpcService() = default;

void RpcService::handle(const HttpRequest& req, Respond respond) { impl_->handle(req, std::move(respond)); }

}  // namespace bc::apps
