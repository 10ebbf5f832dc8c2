// RPC credentials shared by blockcloudd and its clients, after Bitcoin
// Core: a random cookie the daemon writes into its data directory at
// start-up (whoever can read the directory may use the RPC), and optional
// configured users stored as `user:salt$hex(HMAC-SHA256(key=salt, password))`
// lines, so the config file never holds a password. Both travel as HTTP
// Basic authorization.
#pragma once
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "layers/bytes.hpp"
#include "layers/status.hpp"

namespace bc::apps {

inline constexpr const char* kCookieUser = "__cookie__";
inline constexpr const char* kCookieFileName = ".cookie";

struct RpcCredentials {
  std::string user;
  std::string password;
};

// Writes DATADIR/.cookie as "__cookie__:<64 hex digits>" (32 random bytes),
// mode 0600 from its creation: a 0600 temporary file is written, synced and
// renamed over the old cookie, so a reader never sees a partial or wider
// file. Returns the new credentials.
Result<RpcCredentials> write_cookie_file(const std::filesystem::path& datadir);
// Deletes DATADIR/.cookie if it still holds `cookie` (a daemon started later
// on the same directory may have replaced it). Errors are ignored.
void remove_cookie_file(const std::filesystem::path& datadir, const RpcCredentials& cookie);
// Reads DATADIR/.cookie; fails naming the file and what to do.
Result<RpcCredentials> read_cookie_file(const std::filesystem::path& datadir);

// The value of an Authorization header: "Basic base64(user:password)".
std::string basic_authorization(const RpcCredentials& c);
// Parses "Basic <base64(user:password)>"; nullopt if it is not that.
std::optional<RpcCredentials> parse_basic_authorization(std::string_view header);

// One configured user: the salt and HMAC-SHA256(key=salt, message=password).
struct RpcUser {
  std::string name;
  std::string salt;
  Hash256 hmac{};
};
// Parses "name:salt$64-hex-hmac"; the message names what is wrong.
Result<RpcUser> parse_rpcauth_line(std::string_view line);
// HMAC-SHA256(key=salt, message=password).
Hash256 rpcauth_hmac(std::string_view salt, std::string_view password);
// A new rpcauth line for `name` and `password` with a fresh random salt.
std::string make_rpcauth_line(const std::string& name, const std::string& password);
// 32 random bytes as hex: a password for make_rpcauth_line.
std::string random_password();

// Equal bytes, compared in time that does not depend on where they differ
// (OpenSSL's CRYPTO_memcmp). Different lengths compare unequal.
bool constant_time_equal(std::string_view a, std::string_view b);

// Checks Basic credentials against the cookie and the configured users.
class RpcAuthenticator {
 public:
  RpcAuthenticator(RpcCredentials cookie, std::vector<RpcUser> users);
  // True if `authorization` (the header value, may be empty) names the
  // cookie or a configured user with the right password.
  bool allows(std::string_view authorization) const;

 private:
  RpcCredentials cookie_;
  std::vector<RpcUser> users_;
};

}  // namespace bc::apps
