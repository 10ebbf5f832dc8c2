#include "layers/config.hpp"

#include <charconv>
#include <fstream>
#include <sstream>

#include <toml++/toml.h>

namespace bc {
namespace {

const char* kEndpointForm = "IP:PORT such as \"127.0.0.2:9000\" or \"[::1]:9000\"";
const std::vector<std::string> kLogLevels = {"trace", "debug", "info", "warn", "error", "off"};

std::string where(const std::string& source_name, const toml::source_region& r) {
  return source_name + ":" + std::to_string(r.begin.line) + ":" + std::to_string(r.begin.column);
}

std::string type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a number";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::array: return "an array";
    case toml::node_type::table: return "a table";
    default: return "a date/time";
  }
}

[[noreturn]] void fail(const std::string& key, const std::string& loc, const std::string& expected,
                       const std::string& got) {
  throw ConfigError(key + " (" + loc + "): expected " + expected + ", got " + got);
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

std::string need_string(const toml::node& n, const std::string& key, const std::string& loc,
                        const std::string& expected) {
  if (!n.is_string()) fail(key, loc, expected, type_name(n));
  return *n.value<std::string>();
}

std::int64_t need_int(const toml::node& n, const std::string& key, const std::string& loc,
                      std::int64_t min, std::int64_t max) {
  const std::string expected =
      "an integer from " + std::to_string(min) + " to " + std::to_string(max);
  if (!n.is_integer()) fail(key, loc, expected, type_name(n));
  const auto v = *n.value<std::int64_t>();
  if (v < min || v > max) fail(key, loc, expected, std::to_string(v));
  return v;
}

void check_log_level(const std::string& level, const std::string& key, const std::string& loc) {
  for (const auto& l : kLogLevels)
    if (l == level) return;
  fail(key, loc, "one of " + join(kLogLevels), "\"" + level + "\"");
}

void parse_rpc_limits(const toml::table& t, RpcLimits& lim, const std::string& src) {
  for (auto&& [k, v] : t) {
    const std::string key = "rpc_limits." + std::string(k.str());
    const std::string loc = where(src, v.source());
    if (k == "max_body_bytes")
      lim.max_body_bytes = static_cast<std::size_t>(need_int(v, key, loc, 1024, 64 << 20));
    else if (k == "max_connections")
      lim.max_connections = static_cast<int>(need_int(v, key, loc, 1, 10000));
    else if (k == "reserved_connections")
      lim.reserved_connections = static_cast<int>(need_int(v, key, loc, 1, 1000));
    else if (k == "header_timeout_ms")
      lim.header_timeout_ms = need_int(v, key, loc, 100, 600'000);
    else if (k == "body_timeout_ms")
      lim.body_timeout_ms = need_int(v, key, loc, 100, 600'000);
    else if (k == "max_pending_per_client")
      lim.max_pending_per_client = static_cast<int>(need_int(v, key, loc, 1, 10000));
    else if (k == "max_watch_timeout_ms")
      lim.max_watch_timeout_ms = need_int(v, key, loc, 0, 3'600'000);
    else
      throw ConfigError(key + " (" + loc + "): unknown key; known keys in [rpc_limits]: "
                        "max_body_bytes, max_connections, reserved_connections, header_timeout_ms, body_timeout_ms, "
                        "max_pending_per_client, max_watch_timeout_ms");
  }
}

// "42" -> int, "0.5" -> double, "true"/"false" -> bool, anything else -> string.
ConfigValue value_from_flag_text(std::string_view text) {
  ConfigValue cv;
  cv.source = "--dht";
  std::int64_t i = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), i);
  if (ec == std::errc() && p == text.data() + text.size() && !text.empty()) {
    cv.value = i;
    return cv;
  }
  double d = 0;
  auto [p2, ec2] = std::from_chars(text.data(), text.data() + text.size(), d);
  if (ec2 == std::errc() && p2 == text.data() + text.size() && !text.empty()) {
    cv.value = d;
    return cv;
  }
  if (text == "true" || text == "false") {
    cv.value = text == "true";
    return cv;
  }
  cv.value = std::string(text);
  return cv;
}

std::string describe(const ConfigValue& v) {
  return std::visit(
      [](const auto& x) -> std::string {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::string>) return "\"" + x + "\"";
        else if constexpr (std::is_same_v<T, std::vector<std::string>>) return "a list of " + std::to_string(x.size()) + " strings";
        else if constexpr (std::is_same_v<T, bool>) return x ? "true" : "false";
        else {
          std::ostringstream os;
          os << x;
          return os.str();
        }
      },
      v.value);
}


// A table kept generic for the application: numbers, booleans, strings and
// arrays of strings.
void parse_generic_table(const toml::table& t, const std::string& name, const std::string& src, ConfigTable& out) {
  for (auto&& [k, v] : t) {
    const std::string key = name + "." + std::string(k.str());
    const std::string loc = where(src, v.source());
    ConfigValue cv;
    cv.source = loc;
    if (v.is_integer()) cv.value = *v.value<std::int64_t>();
    else if (v.is_floating_point()) cv.value = *v.value<double>();
    else if (v.is_boolean()) cv.value = *v.value<bool>();
    else if (v.is_string()) cv.value = *v.value<std::string>();
    else if (const auto* a = v.as_array()) {
      std::vector<std::string> items;
      for (auto&& e : *a) {
        if (!e.is_string()) fail(key, loc, "an array of strings", "an array holding " + std::string(type_name(e)));
        items.push_back(*e.value<std::string>());
      }
      cv.value = std::move(items);
    } else fail(key, loc, "a number, boolean, string or array of strings", type_name(v));
    out[std::string(k.str())] = std::move(cv);
  }
}

ConfigTable& generic_table(NodeConfig& cfg, const std::string& name) {
  if (name == "dht") return cfg.dht;
  if (name == "sal") return cfg.sal;
  if (name == "ledger") return cfg.ledger;
  return cfg.storage;
}

}  // namespace

bool is_loopback(const Endpoint& e) {
  if (e.is_v4()) return (e.v4_addr() >> 24) == 127;
  static const std::array<std::uint8_t, 16> v6_loopback{0, 0, 0, 0, 0, 0, 0, 0,
                                                        0, 0, 0, 0, 0, 0, 0, 1};
  return e.ip == v6_loopback;
}

Endpoint default_rpc_endpoint(const Endpoint& listen) {
  Endpoint rpc = is_loopback(listen) ? listen : *Endpoint::parse("127.0.0.1:0");
  if (listen.port == 0) {
    rpc.port = 0;
  } else if (listen.port > 65535 - 1000) {
    throw ConfigError("rpc: no default for listen port " + std::to_string(listen.port) +
                      " (listen port + 1000 exceeds 65535); set rpc = \"IP:PORT\" or --rpc");
  } else {
    rpc.port = static_cast<std::uint16_t>(listen.port + 1000);
  }
  return rpc;
}

Endpoint parse_endpoint_or_throw(std::string_view text, const std::string& what) {
  auto e = Endpoint::parse(text);
  if (!e) throw ConfigError(what + ": expected " + kEndpointForm + ", got \"" + std::string(text) + "\"");
  return *e;
}

NodeConfig parse_config_toml(std::string_view text, const std::string& src) {
  toml::table root;
  try {
    root = toml::parse(text, src);
  } catch (const toml::parse_error& e) {
    throw ConfigError(where(src, e.source()) + ": not valid TOML: " + std::string(e.description()) +
                      "; fix the syntax (see docs/operator-guide.md for an example file)");
  }
  NodeConfig cfg;
  for (auto&& [k, v] : root) {
    const std::string key(k.str());
    const std::string loc = where(src, v.source());
    if (key == "datadir") {
      cfg.datadir = need_string(v, key, loc, "a directory path string");
    } else if (key == "listen" || key == "rpc") {
      const auto s = need_string(v, key, loc, kEndpointForm);
      auto e = Endpoint::parse(s);
      if (!e) fail(key, loc, kEndpointForm, "\"" + s + "\"");
      if (key == "listen") cfg.listen = *e;
      else cfg.rpc = *e;
    } else if (key == "rpc_allow_remote") {
      if (!v.is_boolean()) fail(key, loc, "true or false", type_name(v));
      cfg.rpc_allow_remote = *v.value<bool>();
    } else if (key == "rpc_auth") {
      const auto* arr = v.as_array();
      if (!arr) fail(key, loc, "an array of \"name:salt$hmac\" strings", type_name(v));
      for (auto&& item : *arr)
        cfg.rpc_auth.push_back(need_string(item, key, where(src, item.source()), "a \"name:salt$hmac\" string"));
    } else if (key == "bootstrap") {
      const auto* arr = v.as_array();
      if (!arr) fail(key, loc, "an array of IP:PORT strings", type_name(v));
      for (auto&& item : *arr) {
        const std::string iloc = where(src, item.source());
        const auto s = need_string(item, key, iloc, kEndpointForm);
        auto e = Endpoint::parse(s);
        if (!e) fail(key, iloc, kEndpointForm, "\"" + s + "\"");
        cfg.bootstrap.push_back(*e);
      }
    } else if (key == "log_level") {
      cfg.log_level = need_string(v, key, loc, "one of " + join(kLogLevels));
      check_log_level(cfg.log_level, key, loc);
    } else if (key == "log_file") {
      cfg.log_file = need_string(v, key, loc, "a file path string (relative to datadir)");
    } else if (key == "rpc_limits") {
      const auto* t = v.as_table();
      if (!t) fail(key, loc, "a table [rpc_limits]", type_name(v));
      parse_rpc_limits(*t, cfg.rpc_limits, src);
    } else if (key == "dht" || key == "sal" || key == "ledger" || key == "storage") {
      const auto* t = v.as_table();
      if (!t) fail(key, loc, "a table [" + key + "]", type_name(v));
      parse_generic_table(*t, key, src, generic_table(cfg, key));
    } else {
      throw ConfigError(key + " (" + loc + "): unknown key; known keys: datadir, listen, rpc, "
                        "rpc_allow_remote, rpc_auth, bootstrap, log_level, log_file, [rpc_limits], [dht], [sal], [ledger], "
                        "[storage]");
    }
  }
  return cfg;
}

NodeConfig load_config_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in)
    throw ConfigError("cannot read config file " + file.string() +
                      ": check that it exists and is readable, or drop --config");
  std::ostringstream ss;
  ss << in.rdbuf();
  return parse_config_toml(ss.str(), file.string());
}

void apply_overrides(NodeConfig& cfg, const ConfigOverrides& f) {
  if (f.datadir) {
    if (f.datadir->empty()) throw ConfigError("--datadir: expected a directory path, got \"\"");
    cfg.datadir = *f.datadir;
  }
  if (f.listen) cfg.listen = parse_endpoint_or_throw(*f.listen, "--listen");
  if (f.rpc) cfg.rpc = parse_endpoint_or_throw(*f.rpc, "--rpc");
  if (f.rpc_allow_remote) cfg.rpc_allow_remote = *f.rpc_allow_remote;
  cfg.rpc_auth.insert(cfg.rpc_auth.end(), f.rpc_auth.begin(), f.rpc_auth.end());
  if (!f.bootstrap.empty()) {
    cfg.bootstrap.clear();
    for (const auto& b : f.bootstrap) cfg.bootstrap.push_back(parse_endpoint_or_throw(b, "--bootstrap"));
  }
  if (f.log_level) {
    check_log_level(*f.log_level, "--log-level", "command line");
    cfg.log_level = *f.log_level;
  }
  if (f.log_file) cfg.log_file = *f.log_file;
  for (const auto& kv : f.dht) {
    const auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0)
      throw ConfigError("--dht: expected KEY=VALUE such as \"k=8\", got \"" + kv + "\"");
    cfg.dht[kv.substr(0, eq)] = value_from_flag_text(std::string_view(kv).substr(eq + 1));
  }
}

void finalize_config(NodeConfig& cfg) {
  if (cfg.datadir.empty())
    throw ConfigError("datadir: not set; pass --datadir DIR or set datadir = \"DIR\" in the config file");
  if (!cfg.rpc) cfg.rpc = default_rpc_endpoint(cfg.listen);
  if (!cfg.rpc_allow_remote && !is_loopback(*cfg.rpc))
    throw ConfigError("rpc: " + cfg.rpc->to_string() +
                      " is not a loopback address; bind it to 127.0.0.1 (or another 127.x address), "
                      "or pass --rpc-allow-remote if you really want it reachable from the network "
                      "(every request still needs the cookie or an rpc_auth user; use TLS in front)");
}

std::optional<std::int64_t> table_int(const ConfigTable& t, const std::string& prefix,
                                      const std::string& key, std::int64_t min, std::int64_t max) {
  auto it = t.find(key);
  if (it == t.end()) return std::nullopt;
  const auto* v = std::get_if<std::int64_t>(&it->second.value);
  const std::string expected =
      "an integer from " + std::to_string(min) + " to " + std::to_string(max);
  if (!v) fail(prefix + key, it->second.source, expected, describe(it->second));
  if (*v < min || *v > max) fail(prefix + key, it->second.source, expected, std::to_string(*v));
  return *v;
}

std::optional<double> table_double(const ConfigTable& t, const std::string& prefix,
                                   const std::string& key, double min, double max) {
  auto it = t.find(key);
  if (it == t.end()) return std::nullopt;
  std::ostringstream expected;
  expected << "a number from " << min << " to " << max;
  double v;
  if (const auto* d = std::get_if<double>(&it->second.value)) v = *d;
  else if (const auto* i = std::get_if<std::int64_t>(&it->second.value)) v = static_cast<double>(*i);
  else fail(prefix + key, it->second.source, expected.str(), describe(it->second));
  if (!(v >= min && v <= max)) fail(prefix + key, it->second.source, expected.str(), describe(it->second));
  return v;
}

std::optional<std::string> table_string(const ConfigTable& t, const std::string& prefix,
                                        const std::string& key,
                                        const std::vector<std::string>& allowed) {
  auto it = t.find(key);
  if (it == t.end()) return std::nullopt;
  const auto* s = std::get_if<std::string>(&it->second.value);
  const std::string expected = "one of " + join(allowed);
  if (!s) fail(prefix + key, it->second.source, expected, describe(it->second));
  for (const auto& a : allowed)
    if (a == *s) return *s;
  fail(prefix + key, it->second.source, expected, describe(it->second));
}

std::optional<std::string> table_text(const ConfigTable& t, const std::string& prefix, const std::string& key,
                                      const std::string& expected) {
  auto it = t.find(key);
  if (it == t.end()) return std::nullopt;
  const auto* s = std::get_if<std::string>(&it->second.value);
  if (!s) fail(prefix + key, it->second.source, expected, describe(it->second));
  return *s;
}

std::optional<bool> table_bool(const ConfigTable& t, const std::string& prefix, const std::string& key) {
  auto it = t.find(key);
  if (it == t.end()) return std::nullopt;
  const auto* b = std::get_if<bool>(&it->second.value);
  if (!b) fail(prefix + key, it->second.source, "true or false", describe(it->second));
  return *b;
}

std::optional<std::vector<std::string>> table_strings(const ConfigTable& t, const std::string& prefix,
                                                      const std::string& key, const std::string& expected) {
  auto it = t.find(key);
  if (it == t.end()) return std::nullopt;
  const auto* s = std::get_if<std::vector<std::string>>(&it->second.value);
  if (!s) fail(prefix + key, it->second.source, expected, describe(it->second));
  return *s;
}

void table_reject_unknown(const ConfigTable& t, const std::string& prefix,
                          const std::vector<std::string>& known) {
  for (const auto& [k, v] : t) {
    bool ok = false;
    for (const auto& n : known) ok = ok || n == k;
    if (!ok)
      throw ConfigError(prefix + k + " (" + v.source + "): unknown key; known keys: " + join(known));
  }
}

}  // namespace bc
