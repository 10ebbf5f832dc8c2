// node::Params and node::RpcRegistry: typed parameter reading with the one
// error format, and method dispatch that answers exactly once.
#include <doctest/doctest.h>

#include <boost/json.hpp>

#include "layers/node/params.hpp"
#include "layers/node/rpc_registry.hpp"

using namespace bc::node;
namespace json = boost::json;

namespace {
Params params(const char* text) { return Params(json::parse(text).as_object()); }

// The RpcError a call throws, or "" if it throws none.
template <typename Fn>
std::string error_of(Fn fn, int* code = nullptr) {
  try {
    fn();
  } catch (const RpcError& e) {
    if (code) *code = e.code;
    return e.what();
  }
  return "";
}

struct Answer {
  int calls = 0;
  int code = 0;
  std::string message;
  json::value result;
  Reply reply() {
    return Reply{[this](json::value v) { ++calls, result = std::move(v); },
                 [this](int c, const std::string& m) { ++calls, code = c, message = m; }};
  }
};
}  // namespace

TEST_CASE("params: typed getters read present values") {
  const auto p = params(R"({"s":"text","h":"00ff","n":42,"b":true,"d":1.5,"z":null})");
  CHECK(p.string("s", "give s") == "text");
  CHECK(p.hex("h", "give h") == bc::Bytes{0x00, 0xff});
  CHECK(p.u64("n", "give n") == 42);
  CHECK(p.opt_bool("b", "give b") == true);
  CHECK(p.opt_number("d", "give d") == doctest::Approx(1.5));
  CHECK(p.opt_number("n", "give n") == doctest::Approx(42));
  // Absent and null are the same for optional getters.
  CHECK_FALSE(p.opt_string("absent", "x"));
  CHECK_FALSE(p.opt_u64("z", "x"));
  CHECK_FALSE(p.has("z"));
  CHECK(p.has("s"));
}

TEST_CASE("params: every failure has the one format and code") {
  const auto p = params(R"({"s":"text","h":"0g","n":-3,"big":70000,"b":"yes","f":2.5})");
  int code = 0;
  CHECK(error_of([&] { (void)p.string("missing", "give the key as text"); }, &code) ==
        "invalid params: missing: missing; give the key as text");
  CHECK(code == kInvalidParams);
  CHECK(error_of([&] { (void)p.string("n", "give text"); }) ==
        "invalid params: n: expected a string, got a number; give text");
  CHECK(error_of([&] { (void)p.hex("h", "give the tx as hex"); }) ==
        "invalid params: h: not hex (an even number of 0-9 a-f); give the tx as hex");
  CHECK(error_of([&] { (void)p.u64("n", "give a count"); }) == "invalid params: n: -3 is negative; give a count");
  CHECK(error_of([&] { (void)p.u64("f", "give a count"); }) ==
        "invalid params: f: expected an integer, got a number; give a count");
  CHECK(error_of([&] { (void)p.opt_u64("big", "give a weight", 0, 65535); }) ==
        "invalid params: big: 70000 is outside [0, 65535]; give a weight");
  CHECK(error_of([&] { (void)p.opt_bool("b", "give proof=true"); }) ==
        "invalid params: b: expected true or false, got a string; give proof=true");
  CHECK(error_of([&] { (void)p.opt_number("s", "give seconds"); }) ==
        "invalid params: s: expected a number, got a string; give seconds");
  CHECK(error_of([&] { p.fail("value", "none given", "give exactly one of value or value_hex"); }) ==
        "invalid params: value: none given; give exactly one of value or value_hex");
  CHECK(invalid_params_text("x", "bad", "") == "invalid params: x: bad");
}

TEST_CASE("registry: dispatch, errors and unknown methods answer exactly once") {
  RpcRegistry r;
  r.add("echo", [](const Params& p) -> json::value { return json::value(p.string("v", "give v")); });
  r.add("boom", [](const Params&) -> json::value { throw std::runtime_error("disk on fire"); });
  r.add_async("later", [](const Params&, Reply reply) { reply.ok(json::value(7)); });
  CHECK(r.names() == std::vector<std::string>{"boom", "echo", "later"});
  CHECK(r.contains("echo"));
  CHECK_FALSE(r.contains("nope"));

  Answer a;
  r.call("echo", params(R"({"v":"hi"})"), a.reply());
  CHECK(a.calls == 1);
  CHECK(a.result == json::value("hi"));

  Answer b;
  r.call("echo", params("{}"), b.reply());
  CHECK(b.calls == 1);
  CHECK(b.code == kInvalidParams);
  CHECK(b.message == "invalid params: v: missing; give v");

  Answer c;
  r.call("boom", params("{}"), c.reply());
  CHECK(c.calls == 1);
  CHECK(c.code == kInternalError);
  CHECK(c.message == "internal error: disk on fire");

  Answer d;
  r.call("nope", params("{}"), d.reply());
  CHECK(d.calls == 1);
  CHECK(d.code == kMethodNotFound);
  CHECK(d.message == "unknown method \"nope\"; methods: boom, echo, later");

  Answer e;
  r.call("later", params("{}"), e.reply());
  CHECK(e.calls == 1);
  CHECK(e.result == json::value(7));
}
