#include "apps/common/rpc_auth.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "layers/assert.hpp"
#include "layers/crypto.hpp"
#include "layers/encoding.hpp"

namespace bc::apps {
namespace fs = std::filesystem;

namespace {
Status io_error(const std::string& what, const fs::path& file, int err) {
  return fail(Errc::kIo, "cannot " + what + " " + file.string() + ": " + std::strerror(err));
}

// Writes all of `text` to a new 0600 file (O_EXCL: never through a link
// left by someone else) and syncs it.
Status write_private_file(const fs::path& file, const std::string& text) {
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return io_error("create", file, errno);
  // The mode given to open() is masked by the umask only towards narrower.
  bool ok = ::fchmod(fd, 0600) == 0;
  std::size_t done = 0;
  while (ok && done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) done += static_cast<std::size_t>(n);
  }
  ok = ok && ::fsync(fd) == 0;
  const int err = errno;
  ::close(fd);
  if (!ok) {
    ::unlink(file.c_str());
    return io_error("write", file, err);
  }
  return {};
}

std::optional<RpcCredentials> split_user_password(std::string_view text) {
  const auto colon = text.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  return RpcCredentials{std::string(text.substr(0, colon)), std::string(text.substr(colon + 1))};
}
}  // namespace

Result<RpcCredentials> write_cookie_file(const fs::path& datadir) {
  RpcCredentials c{kCookieUser, random_password()};
  const fs::path file = datadir / kCookieFileName;
  const fs::path tmp = datadir / (std::string(kCookieFileName) + ".tmp");
  ::unlink(tmp.c_str());  // left by a crash between create and rename
  if (auto s = write_private_file(tmp, c.user + ":" + c.password); !s.ok()) return s;
  if (::rename(tmp.c_str(), file.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return io_error("rename the new cookie over", file, err);
  }
  return c;
}

void remove_cookie_file(const fs::path& datadir, const RpcCredentials& cookie) {
  auto current = read_cookie_file(datadir);
  if (current.ok() && constant_time_equal(current->password, cookie.password))
    ::unlink((datadir / kCookieFileName).c_str());
}

Result<RpcCredentials> read_cookie_file(const fs::path& datadir) {
  const fs::path file = datadir / kCookieFileName;
  std::ifstream in(file);
  std::string line;
  if (!in)
    return fail(Errc::kNotFound, "cannot read the RPC cookie " + file.string() + ": " + std::strerror(errno) +
                                     " (is blockcloudd running with this --datadir, and may this user read it?)");
  std::getline(in, line);
  auto c = split_user_password(line);
  if (!c || c->user != kCookieUser || c->password.empty())
    return fail(Errc::kMalformed, file.string() + " is not a blockcloudd RPC cookie (\"__cookie__:HEX\")");
  return *c;
}

std::string basic_authorization(const RpcCredentials& c) {
  return "Basic " + base64_encode(as_bytes(c.user + ":" + c.password));
}

std::optional<RpcCredentials> parse_basic_authorization(std::string_view header) {
  constexpr std::string_view kScheme = "Basic ";
  if (header.size() <= kScheme.size() || header.substr(0, kScheme.size()) != kScheme) return std::nullopt;
  auto raw = base64_decode(header.substr(kScheme.size()));
  if (!raw) return std::nullopt;
  return split_user_password(std::string_view(reinterpret_cast<const char*>(raw->data()), raw->size()));
}

Result<RpcUser> parse_rpcauth_line(std::string_view line) {
  const auto colon = line.find(':');
  const auto dollar = line.rfind('$');
  constexpr const char* kForm = "expected NAME:SALT$HMAC as printed by `blockcloud-cli rpcauth NAME`";
  if (colon == std::string_view::npos || colon == 0 || dollar == std::string_view::npos || dollar < colon + 2)
    return fail(Errc::kMalformed, kForm);
  RpcUser u;
  u.name = std::string(line.substr(0, colon));
  u.salt = std::string(line.substr(colon + 1, dollar - colon - 1));
  auto mac = from_hex(line.substr(dollar + 1));
  if (!mac || mac->size() != u.hmac.bytes.size())
    return fail(Errc::kMalformed, std::string(kForm) + "; the part after $ must be 64 hex digits");
  if (u.name == kCookieUser) return fail(Errc::kInvalidArgument, "the user name __cookie__ is reserved for the cookie");
  std::copy(mac->begin(), mac->end(), u.hmac.bytes.begin());
  return u;
}

Hash256 rpcauth_hmac(std::string_view salt, std::string_view password) {
  Hash256 out;
  unsigned len = 0;
  const auto* r = HMAC(EVP_sha256(), salt.data(), static_cast<int>(salt.size()),
                       reinterpret_cast<const unsigned char*>(password.data()), password.size(),
                       out.bytes.data(), &len);
  BC_ASSERT(r != nullptr && len == out.bytes.size());
  return out;
}

std::string make_rpcauth_line(const std::string& name, const std::string& password) {
  Bytes salt(16);
  random_bytes(salt);
  const std::string salt_hex = to_hex(salt);
  return name + ":" + salt_hex + "$" + to_hex(rpcauth_hmac(salt_hex, password).bytes);
}

std::string random_password() {
  Bytes b(32);
  random_bytes(b);
  return to_hex(b);
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

RpcAuthenticator::RpcAuthenticator(RpcCredentials cookie, std::vector<RpcUser> users)
    : cookie_(std::move(cookie)), users_(std::move(users)) {
  BC_ASSERT(!cookie_.password.empty());
}

bool RpcAuthenticator::allows(std::string_view authorization) const {
  const auto c = parse_basic_authorization(authorization);
  if (!c) return false;
  if (c->user == cookie_.user) return constant_time_equal(c->password, cookie_.password);
  for (const auto& u : users_) {
    if (u.name != c->user) continue;
    const Hash256 mac = rpcauth_hmac(u.salt, c->password);
    const std::string_view got(reinterpret_cast<const char*>(mac.bytes.data()), mac.bytes.size());
    const std::string_view want(reinterpret_cast<const char*>(u.hmac.bytes.data()), u.hmac.bytes.size());
    if (constant_time_equal(got, want)) return true;
  }
  return false;
}

}  // namespace bc::apps
