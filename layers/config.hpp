// Daemon configuration: a TOML file (toml++) overridden by command-line flags.
//
// The spine knows nothing of the layers above it, so protocol parameters stay
// generic here: the [dht] and [sal] tables are kept as typed key/value pairs
// and the application maps (and validates) them (routing::DhtConfig, the
// daemon's SAL settings).
//
// Every error is a ConfigError whose message names the key (or flag) and the
// expected form, e.g. `listen: expected IP:PORT such as "127.0.0.2:9000", got "foo"`.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "layers/runtime.hpp"

namespace bc {

struct ConfigError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// One value of a generic table such as [dht]. `source` says where it came
// from ("node.toml:12:5" or "--dht"), for error messages.
struct ConfigValue {
  std::variant<std::int64_t, double, bool, std::string, std::vector<std::string>> value;
  std::string source;
};
using ConfigTable = std::map<std::string, ConfigValue>;

struct RpcLimits {
  std::size_t max_body_bytes = 64 * 1024;  // request bodies above this get 413
  int max_connections = 64;                // requests in progress at once; further ones get 503
  int reserved_connections = 8;            // more connections, only for /health and /metrics
  std::int64_t header_timeout_ms = 5000;   // time to send a request's header (and keep-alive idle limit)
  std::int64_t body_timeout_ms = 10'000;   // time to send the body after the header
  int max_pending_per_client = 16;         // calls in progress (long-polls) from one client IP
  std::int64_t max_watch_timeout_ms = 60'000;  // cap on dht_watch long-polls
};

struct NodeConfig {
  std::filesystem::path datadir;           // required
  Endpoint listen = *Endpoint::parse("127.0.0.1:9000");
  std::optional<Endpoint> rpc;             // default: see default_rpc_endpoint()
  bool rpc_allow_remote = false;           // allow a non-loopback RPC bind
  // Users allowed besides the cookie: "name:salt$hmac" lines
  // (`blockcloud-cli rpcauth NAME` prints one); checked by the daemon.
  std::vector<std::string> rpc_auth;
  std::vector<Endpoint> bootstrap;
  std::string log_level = "info";
  std::string log_file;                    // empty: stderr only; relative: inside datadir
  RpcLimits rpc_limits;
  ConfigTable dht;                         // [dht] keys, mapped by the application
  ConfigTable sal;                         // [sal] keys, mapped by the application
  ConfigTable ledger;                      // [ledger] keys, mapped by the application
  ConfigTable storage;                     // [storage] keys, mapped by the application
};

// Command-line values; unset ones leave the file's (or the default) value.
struct ConfigOverrides {
  std::optional<std::string> datadir, listen, rpc, log_level, log_file;
  std::optional<bool> rpc_allow_remote;
  std::vector<std::string> rpc_auth;       // added to the file's list
  std::vector<std::string> bootstrap;      // replaces the file's list when non-empty
  std::vector<std::string> dht;            // "key=value" entries for [dht]
};

// Parses TOML text. `source_name` (a file name) prefixes error locations.
NodeConfig parse_config_toml(std::string_view text, const std::string& source_name = "config");
// Reads and parses a file; a missing or unreadable file is a ConfigError.
NodeConfig load_config_file(const std::filesystem::path& file);
// Applies flags on top of cfg; errors name the flag ("--listen: ...").
void apply_overrides(NodeConfig& cfg, const ConfigOverrides& flags);
// Checks the final result (datadir set; RPC bind loopback unless allowed)
// and fills the default RPC endpoint.
void finalize_config(NodeConfig& cfg);

// The listen IP if it is loopback, else 127.0.0.1; port = listen port + 1000.
Endpoint default_rpc_endpoint(const Endpoint& listen);
bool is_loopback(const Endpoint& e);

// "IP:PORT" with a helpful error naming `what` (a key or flag).
Endpoint parse_endpoint_or_throw(std::string_view text, const std::string& what);

// Reading typed values out of a generic table, with errors naming the key,
// its source and the expected form. Each returns nullopt if the key is absent.
std::optional<std::int64_t> table_int(const ConfigTable& t, const std::string& prefix,
                                      const std::string& key, std::int64_t min, std::int64_t max);
std::optional<double> table_double(const ConfigTable& t, const std::string& prefix,
                                   const std::string& key, double min, double max);
std::optional<std::string> table_string(const ConfigTable& t, const std::string& prefix,
                                        const std::string& key,
                                        const std::vector<std::string>& allowed);
// Any string; `expected` describes it in the error ("IP:PORT or off").
std::optional<std::string> table_text(const ConfigTable& t, const std::string& prefix, const std::string& key,
                                      const std::string& expected);
// true or false.
std::optional<bool> table_bool(const ConfigTable& t, const std::string& prefix, const std::string& key);
// A list of strings (a TOML array of strings).
std::optional<std::vector<std::string>> table_strings(const ConfigTable& t, const std::string& prefix,
                                                      const std::string& key, const std::string& expected);
// Throws naming the first key of t not in `known`, listing the known ones.
void table_reject_unknown(const ConfigTable& t, const std::string& prefix,
                          const std::vector<std::string>& known);

}  // namespace bc
